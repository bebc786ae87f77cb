"""Chains on real OVS across chassis, proven by payload: every function adds 1 to each payload byte, so
what reaches the server says how many functions the packet crossed (and unclassified traffic crosses none)."""

import pytest

from steerflow.lab.traffic import tcp_transfer, udp_transfer
from steerflow.model import schema
from tests.builders.chain_lab import PAYLOADS, chain_world, make_chain, shifted
from tests.builders.fabric import ADMIN, Fabric, after_grace
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]


@pytest.mark.parametrize(
    ("encap", "correlation"),
    [("mpls", None), ("mpls", "mpls"), ("nsh", None), ("nsh", "nsh")],
    ids=["mpls-unaware", "mpls-aware", "nsh-unaware", "nsh-aware"],
)
def test_one_function_on_another_chassis(fabric: Fabric, encap: str, correlation: str | None) -> None:
    net, client, server = chain_world(fabric)
    _fn, pair = fabric.plug_function("ch2", "fw", net, correlation=correlation)
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    assert udp_transfer(client, server, PAYLOADS, port=7) == PAYLOADS  # no chain yet
    make_chain(fabric, client, [[pair["id"]]], correlation=encap)
    assert udp_transfer(client, server, PAYLOADS, port=7) == shifted(1)
    assert udp_transfer(client, server, PAYLOADS, port=8) == PAYLOADS  # not classified: untouched


def test_three_groups_in_order_across_chassis(fabric: Fabric) -> None:
    net, client, server = chain_world(fabric)
    pairs = [
        fabric.plug_function(chassis, f"f{i}", net, correlation=corr)[1]["id"]
        for i, (chassis, corr) in enumerate([("ch2", None), ("ch1", "mpls"), ("ch3", None)])
    ]
    fabric.wait_applied()
    make_chain(fabric, client, [[p] for p in pairs])
    assert udp_transfer(client, server, PAYLOADS, port=7) == shifted(3)


def test_several_classifiers_on_one_chain_and_teardown_leaves_the_plain_fabric(fabric: Fabric) -> None:
    net, client, server = chain_world(fabric)
    _fn, pair = fabric.plug_function("ch2", "fw", net)
    fabric.wait_applied()
    fabric.assert_switches_hold_compiled_state()
    plain = _flows_without_stats(fabric)
    chain = make_chain(fabric, client, [[pair["id"]]])
    tcp = fabric.create(
        schema.FLOW_CLASSIFIER, name="tcp-80", protocol="tcp", destination_port_range_min=80,
        destination_port_range_max=80, logical_source_port=client.iface_id,
    )  # fmt: skip
    fabric.handlers[schema.PORT_CHAIN].update(
        ADMIN, chain["id"], {"flow_classifiers": [*chain["flow_classifiers"], tcp["id"]]}
    )
    fabric.wait_applied()
    assert udp_transfer(client, server, PAYLOADS, port=7) == shifted(1)
    assert tcp_transfer(client, server, b"GET /", port=80) == bytes((b + 1) % 256 for b in b"GET /")
    assert tcp_transfer(client, server, b"GET /", port=81) == b"GET /"  # other ports: not classified
    fabric.assert_switches_hold_compiled_state()
    fabric.delete(schema.PORT_CHAIN, chain["id"])
    fabric.wait_applied()
    assert udp_transfer(client, server, PAYLOADS, port=7) == PAYLOADS
    # what the deleted chain used lingers for its grace (`compiler.rollout`), then exactly the plain fabric
    assert after_grace(lambda: _flows_without_stats(fabric), plain) == plain


def _flows_without_stats(fabric: Fabric) -> dict[str, list[str]]:
    return {name: sorted(_no_stats(f) for f in ch.dump_flows()) for name, ch in fabric.chassis.items()}


def _no_stats(flow: str) -> str:
    """A dumped flow without its counters and age."""
    keep = (
        p for p in flow.split(", ") if not p.startswith(("duration=", "n_packets=", "n_bytes=", "idle_age="))
    )
    return ", ".join(keep)
