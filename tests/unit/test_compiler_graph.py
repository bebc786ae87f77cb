"""Service graphs through the simulated switches of three chassis: branches, joins, several start
chains, several levels, leaving the graph, the header of each chain, incremental compiles, rollout."""

from __future__ import annotations

import pytest

from steerflow.compiler.compile import ChassisCompiler, compile_nb
from steerflow.compiler.rollout import RolloutTimes
from steerflow.compiler.tables import SFC_BRANCH
from steerflow.model import schema
from steerflow.pipeline.cookies import CookieKind, cookie
from tests.builders.graph_docs import GRAPH, graph_world, udp_from_client, walk
from tests.builders.pipeline_scenarios import CHASSIS, TUNNEL, Docs

SERVER_PORT = 2  # the server's ofport on ch2
HEADERS = ("mpls", "nsh")  # NSH MD2 functions are tracked by conntrack, which a NAT defeats (docs/sfc.md)

# (UDP destination port sent, the functions crossed, the port the server gets): see graph_docs
PATHS = {
    "branch to B, then D": (7, ("fa", "fb", "fd"), 307),
    "branch to C, then the join D": (8, ("fa", "fc", "fd"), 308),
    "no branch matches: leaves the graph": (9, ("fa",), 109),
    "a second start chain into B; D takes nothing": (10, ("fe", "fb"), 210),
    "a destination chain classifies its own traffic": (107, ("fb", "fd"), 307),
}


@pytest.mark.parametrize("header", HEADERS)
@pytest.mark.parametrize("path", sorted(PATHS))
def test_each_branch_crosses_exactly_the_functions_of_its_path(header: str, path: str) -> None:
    sent, functions, received = PATHS[path]
    done = walk(graph_world(header).docs, udp_from_client(sent))
    assert done.functions == functions
    assert (done.chassis, done.port) == ("ch2", SERVER_PORT)
    assert done.packet["eth_type"] == 0x0800 and done.packet["udp_dst"] == received


@pytest.mark.parametrize("header", HEADERS)
def test_without_the_graph_each_chain_ends_at_its_last_function(header: str) -> None:
    docs = graph_world(header, graph=False).docs
    done = walk(docs, udp_from_client(7))
    assert done.functions == ("fa",) and done.packet["udp_dst"] == 107


def test_mpls_each_chain_of_the_path_labels_its_own_hop() -> None:
    done = walk(graph_world("mpls").docs, udp_from_client(7))
    assert [p["mpls_label"] for p in done.delivered] == [1000, 3000, 5000]  # chains A, B, D's first hops


def test_nsh_the_path_changes_spi_per_chain_and_keeps_the_origin() -> None:
    done = walk(graph_world("nsh").docs, udp_from_client(8))
    assert [(p["nsh_spi"], p["nsh_si"]) for p in done.delivered] == [(1, 255), (4, 255), (5, 255)]
    assert {p["nsh_c1"] for p in done.delivered} == {1}  # the client's port key, across the graph


def test_a_destination_port_of_a_destination_classifier_still_counts() -> None:
    docs = graph_world("mpls").docs
    other = docs[schema.PORT]["other"]
    elsewhere = udp_from_client(8).set(eth_dst=other["mac_address"])  # C's fc-c names the server as its
    # destination port, so the branch does not take what goes to another port
    done = walk(docs, elsewhere)
    assert done.functions == ("fa",) and done.packet["udp_dst"] == 108
    assert (done.chassis, done.port) == ("ch2", other[schema.TUNNEL_KEY])


def test_branch_flows_belong_to_the_graph() -> None:
    state = compile_nb(graph_world("mpls").docs, "ch3", TUNNEL)
    branching = [f for f in state.flows.values() if f.table == SFC_BRANCH]
    assert branching and {f.cookie for f in branching} == {cookie(CookieKind.GRAPH, GRAPH)}


def _with_graph(docs: Docs, graph: bool) -> Docs:
    copy = {kind: dict(objects) for kind, objects in docs.items()}
    if not graph:
        copy.pop(schema.SERVICE_GRAPH, None)
    return copy


@pytest.mark.parametrize("where", CHASSIS)
def test_graph_create_and_delete_compile_incrementally_as_from_scratch(where: str) -> None:
    linked = graph_world("mpls").docs
    compiler = ChassisCompiler(where, TUNNEL)
    compiler.compile(_with_graph(linked, False))
    changed = [(schema.SERVICE_GRAPH, GRAPH)]
    for docs in (_with_graph(linked, True), _with_graph(linked, False)):
        compiler.compile(docs, changed)
        assert dict(compiler.state.flows) == dict(compile_nb(docs, where, TUNNEL).flows)


def test_a_change_to_a_destination_chain_recompiles_its_sources() -> None:
    docs = graph_world("mpls").docs
    compiler = ChassisCompiler("ch3", TUNNEL)
    compiler.compile(docs)
    moved = {kind: dict(objects) for kind, objects in docs.items()}
    moved[schema.PORT_PAIR]["fb"] = {**docs[schema.PORT_PAIR]["fb"], "service_function_parameters": {
        "correlation": "mpls", "weight": 0}}  # fmt: skip
    compiler.compile(moved, [(schema.PORT_PAIR, "fb")])
    assert dict(compiler.state.flows) == dict(compile_nb(moved, "ch3", TUNNEL).flows)


def test_graph_create_is_hitless_until_its_destinations_are_installed_everywhere() -> None:
    linked = graph_world("mpls").docs
    unlinked = _with_graph(linked, False)
    times = RolloutTimes(ready_timeout=5.0, grace=2.0)
    compilers = {c: ChassisCompiler(c, TUNNEL, times=times) for c in CHASSIS}
    for compiler in compilers.values():
        compiler.compile(unlinked, revision=1, now=0.0)
        compiler.compile(linked, [(schema.SERVICE_GRAPH, GRAPH)], revision=2, now=1.0)
    assert compilers["ch3"].waiting  # fa's chassis waits for B's and C's first functions' chassis
    states = {c: compiler.state for c, compiler in compilers.items()}
    assert walk(linked, udp_from_client(7), states=states).functions == ("fa",)  # as before the graph
    reports = {c: {"id": c, "applied_revision": 2, "installed_revision": 2} for c in CHASSIS}
    reported = {**linked, schema.CHASSIS_STATUS: reports}
    for compiler in compilers.values():
        compiler.compile(reported, [(schema.CHASSIS_STATUS, c) for c in CHASSIS], revision=2, now=1.5)
    states = {c: compiler.state for c, compiler in compilers.items()}
    assert walk(linked, udp_from_client(7), states=states).functions == ("fa", "fb", "fd")


def test_renaming_a_graph_changes_no_flow() -> None:
    docs = graph_world("mpls").docs
    compiler = ChassisCompiler("ch3", TUNNEL)
    compiler.compile(docs)
    renamed = {**docs, schema.SERVICE_GRAPH: {GRAPH: {**docs[schema.SERVICE_GRAPH][GRAPH], "name": "new"}}}
    delta = compiler.compile(renamed, [(schema.SERVICE_GRAPH, GRAPH)])
    assert not delta.flows and not delta.groups and not delta.everything
