"""Tap functions on real OVS across three chassis: the tap gets a copy of every datagram at its position
(with the header when it is aware), the datagram goes on unaltered, and what the tap sends back (its
emulator forwards like any function, +100 to every byte) is dropped. Proven by payload and counters: the
server receives each datagram exactly once, shifted by the inline functions alone; every inline
function and the tap forwarded each datagram exactly once."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from steerflow.lab import VmHandle
from steerflow.lab.traffic import udp_transfer
from steerflow.model import schema
from tests.builders.chain_lab import PAYLOADS, chain_world
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab
from tests.builders.stream import STREAM_PACKETS, stream_through, updated
from tests.builders.trace_cli import trace_json

pytestmark = [pytest.mark.root, requires_lab]

TAP_ADD = 100  # what the tap adds to what it sends back: a byte of it at the server shows


@dataclass(frozen=True)
class Case:
    """A chain: (chassis, add) per inline function and the tap's position and chassis."""

    encap: str
    tap_aware: bool
    tap_at: int  # its index among the hops
    tap_chassis: str
    inline: tuple[tuple[str, int], ...]


CASES = {
    "first-unaware-mpls": Case("mpls", False, 0, "ch2", (("ch1", 1), ("ch3", 10))),
    "middle-aware-mpls": Case("mpls", True, 1, "ch2", (("ch1", 1), ("ch3", 10))),
    "middle-aware-mpls-beside-the-previous": Case("mpls", True, 1, "ch1", (("ch1", 1), ("ch3", 10))),
    "last-aware-nsh": Case("nsh", True, 2, "ch2", (("ch3", 1), ("ch1", 10))),
    "middle-aware-vlan": Case("vlan", True, 1, "ch3", (("ch2", 1), ("ch1", 10))),  # a third party's
    "middle-unaware-nsh": Case("nsh", False, 1, "ch1", (("ch3", 1), ("ch2", 10))),
    "first-aware-nsh-alone-elsewhere": Case("nsh", True, 0, "ch2", ()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_server_gets_each_datagram_once_and_the_tap_saw_every_one(fabric: Fabric, name: str) -> None:
    case = CASES[name]
    net, client, server = chain_world(fabric)
    correlation = case.encap if case.tap_aware else None
    tap, tap_pair = fabric.plug_function(case.tap_chassis, "tap", net, correlation=correlation, add=TAP_ADD)
    inline = [
        fabric.plug_function(chassis, f"f{i}", net, correlation=None, add=add)
        for i, (chassis, add) in enumerate(case.inline)
    ]
    groups = [
        fabric.create(schema.PORT_PAIR_GROUP, name=f"g{i}", port_pairs=[pair["id"]])["id"]
        for i, (_fn, pair) in enumerate(inline)
    ]
    tap_group = fabric.create(
        schema.PORT_PAIR_GROUP, name="tap", port_pairs=[tap_pair["id"]], tap_enabled=True
    )
    groups.insert(case.tap_at, tap_group["id"])
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp-7", protocol="udp", destination_port_range_min=7,
        destination_port_range_max=7, logical_source_port=client.iface_id,
    )  # fmt: skip
    fabric.create(
        schema.PORT_CHAIN, name="c", port_pair_groups=groups, flow_classifiers=[fc["id"]],
        chain_parameters={"correlation": case.encap},
    )  # fmt: skip
    fabric.wait_applied()
    client.wait_ping(server.ipv4)

    before = _udp_datagrams(server)
    received = udp_transfer(client, server, PAYLOADS, port=7)
    total = sum(add for _, add in case.inline)
    assert received == [bytes((b + total) % 256 for b in p) for p in PAYLOADS]

    n = len(PAYLOADS)
    seen = tap.wait_counters(lambda c: c.forwarded >= n)  # an aware tap forwards only framed copies
    for fn, _pair in inline:
        fn.wait_counters(lambda c: c.forwarded >= n)
    time.sleep(0.5)  # what the tap sent back, had it gone anywhere, has arrived by now
    assert _udp_datagrams(server) - before == n, "the server got a datagram more than once"
    assert tap.counters().forwarded == n, tap.log_text()[-2000:]
    assert [fn.counters().forwarded for fn, _ in inline] == [n] * len(inline)  # none twice
    if case.tap_aware and case.encap == "nsh":
        assert sum(seen.metadata.values()) == n  # each copy came with its NSH header
    fabric.assert_switches_hold_compiled_state()
    # steerflow trace tells the same: the inline functions in order, one copy to the tap, one delivery
    path = trace_json(fabric.nb_url, "--from", client.iface_id, "--to", server.ipv4, "--dport", "7")
    assert path["functions"] == [pair["id"] for _, pair in inline]
    assert path["taps"] == [tap_pair["id"]]
    assert [d["to_port"] for d in path["deliveries"]] == [server.iface_id]


def _udp_datagrams(vm: VmHandle) -> int:
    """Every UDP datagram the VM's stack took in, delivered to a socket or not (/proc/net/snmp)."""
    lines = [line.split() for line in vm.exec(["cat", "/proc/net/snmp"]).stdout.splitlines()]
    head, values = (line for line in lines if line[0] == "Udp:")
    counts = dict(zip(head[1:], map(int, values[1:]), strict=True))
    return counts["InDatagrams"] + counts["NoPorts"] + counts["InErrors"]


@pytest.mark.parametrize("correlation", [None, "mpls"], ids=["unaware", "mpls"])
def test_a_tap_comes_moves_and_goes_under_a_steady_stream_without_loss(
    fabric: Fabric, correlation: str | None
) -> None:
    """Taps go into force like any hop (make-before-break): the stream loses nothing while a tap on a
    third chassis is inserted after the inline function, moved before it and removed, and no datagram
    ever arrives shifted by what the tap sent back."""
    net, client, server = fabric.client_and_server()
    _fn, pair = fabric.plug_function("ch2", "f1", net, correlation=correlation)
    tap, tap_pair = fabric.plug_function("ch3", "tap", net, correlation=correlation, add=TAP_ADD)
    fabric.lab.warm_underlay()
    g1 = fabric.create(schema.PORT_PAIR_GROUP, name="g1", port_pairs=[pair["id"]])["id"]
    t = fabric.create(schema.PORT_PAIR_GROUP, name="t", port_pairs=[tap_pair["id"]], tap_enabled=True)["id"]
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="u7", protocol="udp", destination_port_range_min=7,
        destination_port_range_max=7, logical_source_port=client.iface_id,
    )  # fmt: skip
    chain = fabric.create(
        schema.PORT_CHAIN, name="c", port_pair_groups=[g1], flow_classifiers=[fc["id"]],
        chain_parameters={"correlation": correlation or "mpls"},
    )  # fmt: skip
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    chains = fabric.handlers[schema.PORT_CHAIN]
    report = stream_through(fabric, client, server, 7, [
        ("tap (ch3) after g1", updated(chains, chain["id"], port_pair_groups=[g1, t])),
        ("tap before g1", updated(chains, chain["id"], port_pair_groups=[t, g1])),
        ("tap removed", updated(chains, chain["id"], port_pair_groups=[g1])),
    ])  # fmt: skip
    assert report.splitlines()[0] == f"hops: 1x{STREAM_PACKETS}", report  # f1 once each, never the tap
    assert 0 < tap.counters().forwarded < STREAM_PACKETS, report  # it saw the stream while it was there
    fabric.assert_switches_hold_compiled_state()
