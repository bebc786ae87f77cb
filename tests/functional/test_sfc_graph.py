"""Service graphs on real OVS across three chassis, proven by payload: each function adds its own
amount to every payload byte (1, 2, 4), so what reaches the server says exactly which functions the
packet crossed; the source chain's function moves the UDP destination port up by 100 like a NAT, and
the graph branches on the port it leaves with."""

from typing import Any

import pytest

from steerflow.lab import VmHandle
from steerflow.lab.traffic import udp_transfer
from steerflow.model import schema
from steerflow.ofsim import Packet
from tests.builders.chain_lab import PAYLOADS, chain_world, shifted
from tests.builders.fabric import Fabric
from tests.builders.graph_docs import nat
from tests.builders.lab_fixtures import requires_lab
from tests.builders.stream import stream_through
from tests.builders.trace_cli import traced_functions

pytestmark = [pytest.mark.root, requires_lab]

NAT = 100
A, B, C = 1, 2, 4  # what each function adds: every sum of a subset is distinct


def _chain(
    fabric: Fabric, client: VmHandle, name: str, pair: dict[str, Any], ports: list[int], correlation: str
) -> str:
    """A chain through the function of `pair` for the client's UDP to each of `ports`; its id."""
    group = fabric.create(schema.PORT_PAIR_GROUP, name=f"g-{name}", port_pairs=[pair["id"]])
    source = client.iface_id
    fcs = [
        fabric.create(
            schema.FLOW_CLASSIFIER, name=f"fc-{name}-{port}", protocol="udp", logical_source_port=source,
            destination_port_range_min=port, destination_port_range_max=port,
        )["id"]
        for port in ports
    ]  # fmt: skip
    return str(fabric.create(
        schema.PORT_CHAIN, name=name, port_pair_groups=[group["id"]], flow_classifiers=fcs,
        chain_parameters={"correlation": correlation},
    )["id"])  # fmt: skip


@pytest.mark.parametrize("correlation", ["mpls", "nsh"])
def test_a_graph_branches_on_what_the_source_chain_left_and_deleting_it_unlinks(
    fabric: Fabric, correlation: str
) -> None:
    net, client, server = chain_world(fabric)
    _fa, pa = fabric.plug_function("ch2", "fa", net, correlation=correlation, add=A, nat_udp_dst=NAT)
    _fb, pb = fabric.plug_function("ch3", "fb", net, correlation=correlation, add=B)
    _fc, pc = fabric.plug_function("ch1", "fc", net, correlation=correlation, add=C)
    chain_a = _chain(fabric, client, "a", pa, [7, 8, 9], correlation)
    chain_b = _chain(fabric, client, "b", pb, [107], correlation)
    chain_c = _chain(fabric, client, "c", pc, [108], correlation)
    fabric.wait_applied()
    client.wait_ping(server.ipv4)

    def crossed(port: int) -> list[bytes]:
        return udp_transfer(client, server, PAYLOADS, port=port, arrive_port=port + NAT)

    assert crossed(7) == shifted(A)  # separate chains: A's traffic ends after its function
    links = {chain_a: [chain_b, chain_c]}
    graph = fabric.create(schema.SERVICE_GRAPH, name="g", port_chains=links)
    fabric.wait_applied()
    assert crossed(7) == shifted(A + B)  # 107 after fa: into B
    assert crossed(8) == shifted(A + C)  # 108: into C
    assert crossed(9) == shifted(A)  # 109: no destination matches, it leaves the graph

    # steerflow trace's walker, told that fa is a NAT, takes the same branches
    def nat_at_fa(pair: str, packet: Packet) -> Packet:
        return nat(packet) if pair == pa["id"] else packet

    def traced(port: int) -> list[str]:
        return traced_functions(fabric.store, client.iface_id, server.ipv4, port, nat_at_fa)

    assert (traced(7), traced(8), traced(9)) == ([pa["id"], pb["id"]], [pa["id"], pc["id"]], [pa["id"]])
    # a destination chain still classifies its own traffic where its classifier says
    assert udp_transfer(client, server, PAYLOADS, port=107) == shifted(B)
    fabric.assert_switches_hold_compiled_state()
    fabric.delete(schema.SERVICE_GRAPH, graph["id"])
    fabric.wait_applied()
    assert crossed(7) == shifted(A)


@pytest.mark.parametrize("correlation", ["mpls", "nsh"])
def test_joins_several_start_chains_and_levels(fabric: Fabric, correlation: str) -> None:
    """{A: [B, C], E: [B], B: [D], C: [D]}: fa, fe, fb and fc move the port up by 100, fd does not;
    they add 1, 16, 2, 4 and 8."""
    net, client, server = chain_world(fabric)
    where = {"fa": ("ch2", A, NAT), "fe": ("ch3", 16, NAT), "fb": ("ch3", B, NAT), "fc": ("ch1", C, NAT),
             "fd": ("ch2", 8, 0)}  # fmt: skip
    pairs = {
        name: fabric.plug_function(chassis, name, net, correlation=correlation, add=add, nat_udp_dst=nat)[1]
        for name, (chassis, add, nat) in where.items()
    }
    ports = {"fa": [7, 8, 9], "fe": [10], "fb": [107, 110], "fc": [108], "fd": [207, 208]}
    chains = {name: _chain(fabric, client, name, pairs[name], ports[name], correlation) for name in pairs}
    links = {
        chains["fa"]: [chains["fb"], chains["fc"]],
        chains["fe"]: [chains["fb"]],
        chains["fb"]: [chains["fd"]],
        chains["fc"]: [chains["fd"]],
    }
    fabric.create(schema.SERVICE_GRAPH, name="g", port_chains=links)
    fabric.wait_applied()
    client.wait_ping(server.ipv4)

    def arrives(port: int, at: int) -> list[bytes]:
        return udp_transfer(client, server, PAYLOADS, port=port, arrive_port=at)

    assert arrives(7, 207) == shifted(A + B + 8)  # A, B, then D (two levels)
    assert arrives(8, 208) == shifted(A + C + 8)  # A, C, then D (the join)
    assert arrives(9, 109) == shifted(A)  # leaves the graph after A
    assert arrives(10, 210) == shifted(16 + B)  # the second start chain into B; D takes nothing


def test_graph_create_and_delete_lose_nothing_moved_or_not(fabric: Fabric) -> None:
    """A stream the graph moves (port 7: A, then A and B, then A again) and one it does not (B's own,
    port 107) cross a graph's creation and deletion without losing a datagram."""
    net, client, server = chain_world(fabric)
    _fa, pa = fabric.plug_function("ch2", "fa", net, correlation="mpls", add=A, nat_udp_dst=NAT)
    _fb, pb = fabric.plug_function("ch3", "fb", net, correlation="mpls", add=B)
    chain_a = _chain(fabric, client, "a", pa, [7], "mpls")
    chain_b = _chain(fabric, client, "b", pb, [107], "mpls")
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    graph: dict[str, Any] = {}

    def create() -> None:
        graph.update(fabric.create(schema.SERVICE_GRAPH, name="g", port_chains={chain_a: [chain_b]}))

    steps = [
        ("graph created", create),
        ("graph deleted", lambda: fabric.delete(schema.SERVICE_GRAPH, graph["id"])),
    ]
    moved = stream_through(fabric, client, server, 7, steps, arrive_port=7 + NAT)
    assert _shifts(moved) == {A, A + B}, moved
    graph.clear()
    untouched = stream_through(fabric, client, server, 7 + NAT, steps)
    assert _shifts(untouched) == {B}, untouched


def _shifts(report: str) -> set[int]:
    """What the datagrams of a stream report crossed: the amounts added to them."""
    return {int(part.split("x")[0]) for part in report.splitlines()[0].split()[1:]}
