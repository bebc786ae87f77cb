"""Service graphs: rules 5, 8 and 32-38, joins and branches."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.api import sfc_errors as err
from steerflow.api.errors import HTTPBadRequest
from steerflow.nbdb.api import JsonDict
from tests.builders.sfc_world import ADMIN, ALICE, BOB, NSH, UNKNOWN, World, rejects


@pytest.fixture
def w() -> World:
    return World()


def chains(w: World, n: int, **body: Any) -> list[JsonDict]:
    return [w.chain(fcs=[w.classifier()["id"]], **body) for _ in range(n)]


def ids(*objs: JsonDict) -> list[str]:
    return [o["id"] for o in objs]


def test_branch_join_and_representation(w: World) -> None:
    a, b, c, d = chains(w, 4)
    links = {a["id"]: ids(b, c), b["id"]: ids(d), c["id"]: ids(d)}  # a branches, d joins
    g = w.sg.create(ALICE, {"port_chains": links, "name": "g"})
    assert g == {
        "id": g["id"],
        "name": "g",
        "description": "",
        "tenant_id": "alice",
        "project_id": "alice",
        "port_chains": links,
    }
    assert w.sg.update(ALICE, g["id"], {"name": "h", "description": "x"})["name"] == "h"
    w.sg.delete(ALICE, g["id"])
    w.pc.delete(ALICE, a["id"])  # no longer frozen


def test_empty_graph_allowed(w: World) -> None:
    assert w.sg.create(ALICE, {"port_chains": {}})["port_chains"] == {}


def test_required_and_read_only(w: World) -> None:
    e = rejects(w, HTTPBadRequest, 400, w.sg.create, ALICE, {})
    assert e.message == "Failed to parse request. Required attribute 'port_chains' not specified"
    a, b = chains(w, 2)
    g = w.sg.create(ALICE, {"port_chains": {a["id"]: [b["id"]]}})
    e = rejects(w, HTTPBadRequest, 400, w.sg.update, ALICE, g["id"], {"port_chains": {}})
    assert e.message == (
        "Cannot update read-only attribute port_chains: it is set when the service graph is created "
        "(create a new service graph to change it)"
    )


@pytest.mark.parametrize(
    ("links", "detail"),
    [
        ({"abc": [UNKNOWN]}, "UUID of source Port-Chain is invalid: abc"),
        ({UNKNOWN: ["xyz"]}, "UUID of destination Port-Chain is invalid: xyz"),
        ({UNKNOWN: "x"}, "must be a list of UUIDs"),
        ({UNKNOWN: 5}, "must be a list of UUIDs"),
    ],
)
def test_rule5_invalid_uuid_message_is_filled_in(w: World, links: Any, detail: str) -> None:
    e = rejects(w, err.InvalidUUID, 400, w.sg.create, ALICE, {"port_chains": links})
    assert detail in e.message
    assert "%(" not in e.message  # upstream leaves a literal "%(error_message)s" here


def test_rule5_port_chains_not_a_dict(w: World) -> None:
    rejects(w, HTTPBadRequest, 400, w.sg.create, ALICE, {"port_chains": [UNKNOWN]})


def test_rule32_chain_in_another_graph(w: World) -> None:
    a, b, c = chains(w, 3)
    w.sg.create(ALICE, {"port_chains": {a["id"]: [b["id"]]}})
    for links in ({c["id"]: [b["id"]]}, {b["id"]: [c["id"]]}, {a["id"]: [c["id"]]}):
        rejects(w, err.ServiceGraphInvalidPortChains, 409, w.sg.create, ALICE, {"port_chains": links})


def test_rule33_unknown_chain(w: World) -> None:
    (a,) = chains(w, 1)
    for links in ({UNKNOWN: [a["id"]]}, {a["id"]: [UNKNOWN]}):
        e = rejects(w, err.PortChainNotFound, 404, w.sg.create, ALICE, {"port_chains": links})
        assert e.message == f"Port Chain {UNKNOWN} not found."
    rejects(w, err.PortChainNotFound, 404, w.sg.create, BOB, {"port_chains": {a["id"]: []}})


@pytest.mark.parametrize("end", ["source_last", "destination_first"])
def test_rule34_branching_groups_need_the_chains_correlation(w: World, end: str) -> None:
    unaware = w.group(pairs=[w.pair(sfp=None)["id"]])  # null correlation: cannot carry the chain label
    fine = w.group()
    groups = [fine["id"], unaware["id"]] if end == "source_last" else [unaware["id"], fine["id"]]
    odd = w.chain(groups=groups, fcs=[w.classifier()["id"]])
    (other,) = chains(w, 1)
    links = {odd["id"]: [other["id"]]} if end == "source_last" else {other["id"]: [odd["id"]]}
    rejects(w, err.ServiceGraphImpossibleBranching, 400, w.sg.create, ALICE, {"port_chains": links})
    inner = {odd["id"]: [other["id"]]} if end == "destination_first" else {other["id"]: [odd["id"]]}
    w.sg.create(ALICE, {"port_chains": inner})  # the other end of that chain does not branch: fine


def test_rule34_empty_group_passes(w: World) -> None:
    empty = w.ppg.create(ALICE, {})
    src = w.chain(groups=[empty["id"]], fcs=[w.classifier()["id"]])
    (dst,) = chains(w, 1)
    w.sg.create(ALICE, {"port_chains": {src["id"]: [dst["id"]]}})


def test_rule35_one_correlation_for_all_chains(w: World) -> None:
    (mpls_chain,) = chains(w, 1)
    nsh_group = w.group(pairs=[w.pair(sfp=NSH)["id"]])
    nsh_chain = w.chain(groups=[nsh_group["id"]], chain_parameters={"correlation": "nsh"})
    links = {mpls_chain["id"]: [nsh_chain["id"]]}
    rejects(w, err.ServiceGraphInconsistentEncapsulation, 400, w.sg.create, ALICE, {"port_chains": links})


def test_rule36_same_destination_twice(w: World) -> None:
    a, b = chains(w, 2)
    e = rejects(
        w, err.ServiceGraphPortChainInConflict, 400, w.sg.create, ALICE, {"port_chains": {a["id"]: ids(b, b)}}
    )
    assert b["id"] in e.message


def test_rule37_ambiguous_branching(w: World) -> None:
    (src,) = chains(w, 1)
    wide = w.classifier(source_ip_prefix="172.16.0.0/12", logical_source_port=w.port("vm-1"))
    narrow = w.classifier(source_ip_prefix="172.16.1.0/24", logical_source_port=w.port("vm-2"))
    g1, g2 = w.group(), w.group()
    d1 = w.chain(groups=[g1["id"]])
    d2 = w.chain(groups=[g2["id"]])
    w.pc.update(ALICE, d1["id"], {"flow_classifiers": [wide["id"]]})
    rejects(
        w,
        err.PortChainFlowClassifierInConflict,
        400,
        w.pc.update,
        ALICE,
        d2["id"],
        {"flow_classifiers": [narrow["id"]]},
    )
    # two overlapping classifiers in one destination chain are ambiguous too (observed upstream)
    w.pc.update(ALICE, d1["id"], {"flow_classifiers": [wide["id"], narrow["id"]]})
    e = rejects(
        w,
        err.ServiceGraphFlowClassifierInConflict,
        400,
        w.sg.create,
        ALICE,
        {"port_chains": {src["id"]: ids(d1, d2)}},
    )
    assert wide["id"] in e.message and narrow["id"] in e.message


def test_rule37_distinct_branches_ok(w: World) -> None:
    src, d1, d2 = chains(w, 3)
    assert w.sg.create(ALICE, {"port_chains": {src["id"]: ids(d1, d2)}})


@pytest.mark.parametrize(
    "shape",
    [
        [(0, 0)],  # self loop
        [(0, 1), (1, 0)],
        [(0, 1), (1, 2), (2, 0)],
        [(0, 1), (0, 2), (2, 3), (3, 2)],
    ],
)
def test_rule38_loops(w: World, shape: list[tuple[int, int]]) -> None:
    cs = chains(w, 4)
    links: dict[str, list[str]] = {}
    for src, dst in shape:
        links.setdefault(cs[src]["id"], []).append(cs[dst]["id"])
    e = rejects(w, err.ServiceGraphLoopDetected, 400, w.sg.create, ALICE, {"port_chains": links})
    assert e.message == "Service Graph defined contains at least one port chain loop."


def test_rule38_diamond_is_not_a_loop(w: World) -> None:
    a, b, c, d = chains(w, 4)
    w.sg.create(ALICE, {"port_chains": {a["id"]: ids(b, c), b["id"]: ids(d), c["id"]: ids(d)}})


def test_graph_isolation_and_admin(w: World) -> None:
    a, b = chains(w, 2)
    g = w.sg.create(ADMIN, {"port_chains": {a["id"]: [b["id"]]}, "tenant_id": "alice"})
    assert w.sg.list(ALICE, {}) == [g]
    assert w.sg.list(BOB, {}) == []
    rejects(w, err.ServiceGraphNotFound, 404, w.sg.delete, BOB, g["id"])
