"""Tap functions through the simulated switches of three chassis: a copy to the tap, the packet on unaltered.

Every packet is followed across the fabric (`steerflow.trace.fabric`): outputs to a tunnel arrive at the
chassis the tunnel names, an inline function adds its shift to every payload byte and sends the frame
back from its egress port (an aware one keeps the header it got), a tap counts what it gets and sends it
back too (+100), and the server records what reaches it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from steerflow.compiler.compile import compile_nb
from steerflow.flows.types import Clone
from steerflow.model import schema
from steerflow.ofsim import Packet
from steerflow.trace.fabric import Fabric as TraceFabric
from steerflow.trace.fabric import Leg

TUNNEL = 100
NET = "net-a"
CLIENT, SERVER = "02:00:00:00:00:01", "02:00:00:00:00:02"
CLIENT_PORT, SERVER_PORT = 1, 2
CHASSIS = {"ch1": "198.51.100.11", "ch2": "198.51.100.12", "ch3": "198.51.100.13"}
TAP_SHIFT = 100  # what a tap adds to what it sends back: any of it reaching the server shows
PAYLOAD = bytes(range(8))


@dataclass(frozen=True)
class Fn:
    """One hop's function: where it runs, whether it reads the header, a tap or inline (+shift)."""

    chassis: str
    aware: bool = False
    tap: bool = False
    shift: int = 0


def _port(pid: str, key: int, mac: str) -> dict[str, Any]:
    ips = [
        {"subnet_id": "s", "ip_address": f"203.0.113.{key}"},
        {"subnet_id": "s6", "ip_address": f"2001:db8::{key}"},
    ]
    return {"id": pid, "network_id": NET, schema.TUNNEL_KEY: key, "mac_address": mac, "project_id": "p1",
            "fixed_ips": ips, "port_security_enabled": True}  # fmt: skip


def _ofports(i: int) -> tuple[int, int]:
    return 10 + 2 * i, 11 + 2 * i


def tap_nb(
    fns: list[Fn], correlation: str = "mpls", symmetric: bool = False, ethertype: str = "IPv4"
) -> dict[str, Any]:
    """client (ch1) -> one group per function, in order -> server (ch2); UDP to port 7."""
    where = {"client": ("ch1", CLIENT_PORT), "server": ("ch2", SERVER_PORT)}
    for i, fn in enumerate(fns):
        ingress, egress = _ofports(i)
        where |= {f"f{i}-in": (fn.chassis, ingress), f"f{i}-out": (fn.chassis, egress)}
    macs = {"client": CLIENT, "server": SERVER}
    ports = [_port(pid, of, macs.get(pid, f"02:00:00:00:00:{of:02x}")) for pid, (_, of) in where.items()]
    groups = [f"ppg{i}" for i in range(len(fns))]
    chain: dict[str, Any] = {
        "id": "pc1", "chain_id": 1, "port_pair_groups": groups, "flow_classifiers": ["fc1"],
        "chain_parameters": {"correlation": correlation, "symmetric": symmetric}, "project_id": "p1",
        schema.HOP_LABELS: {g: 100 + i for i, g in enumerate(groups)}, schema.EXIT_LABEL: 199,
    }  # fmt: skip
    if symmetric:
        reverse = {g: 200 + i for i, g in enumerate(groups)}
        chain |= {schema.REVERSE_HOP_LABELS: reverse, schema.REVERSE_EXIT_LABEL: 299}
    return {
        schema.NETWORK: {NET: {"id": NET, schema.SEGMENTATION_ID: 7}},
        schema.PORT: {p["id"]: p for p in ports},
        schema.PORT_BINDING: {
            pid: {"port_id": pid, schema.CHASSIS: ch, "ofport": of} for pid, (ch, of) in where.items()
        },
        schema.CHASSIS: {ch: {"name": ch, "underlay_ip": ip} for ch, ip in CHASSIS.items()},
        schema.PORT_PAIR: {
            f"pp{i}": {
                "id": f"pp{i}",
                "ingress": f"f{i}-in",
                "egress": f"f{i}-out",
                schema.PAIR_KEY: i + 1,
                "service_function_parameters": {
                    "correlation": correlation if fn.aware else None,
                    "weight": 1,
                },
            }
            for i, fn in enumerate(fns)
        },
        schema.PORT_PAIR_GROUP: {
            g: {"id": g, "port_pairs": [f"pp{i}"], "tap_enabled": fn.tap}
            for i, (g, fn) in enumerate(zip(groups, fns, strict=True))
        },
        schema.FLOW_CLASSIFIER: {
            "fc1": {
                "id": "fc1",
                "ethertype": ethertype,
                "protocol": "udp",
                "logical_source_port": "client",
                "destination_port_range_min": 7,
                "destination_port_range_max": 7,
            }
        },
        schema.PORT_CHAIN: {"pc1": chain},
    }


@dataclass
class Fabric:
    """The chassis' simulated switches (steerflow trace's fabric walker) and what the functions and the
    server received."""

    fns: list[Fn]
    nb: dict[str, Any]
    seen: Counter[int] = field(default_factory=Counter)  # function index -> packets received
    headers: dict[int, list[Packet]] = field(default_factory=dict)  # function index -> what it got
    at_server: list[Packet] = field(default_factory=list)
    at_client: list[Packet] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fabric = TraceFabric(self.nb, TUNNEL, reject_overlaps=True)
        self.switches = self.fabric.switches

    def send(self, packet: Packet, chassis: str = "ch1") -> None:
        walk = self.fabric.walk(packet, chassis, self._function, tap=self._function)
        assert not walk.truncated, "a packet loop"
        for step in walk.steps():
            for leg in step.legs:
                self._receive(step.chassis, leg)

    def _receive(self, ch: str, leg: Leg) -> None:
        if leg.kind in ("function", "tap"):
            i = int(leg.target.removeprefix("pp"))
            self.seen[i] += 1
            self.headers.setdefault(i, []).append(leg.packet)
        elif (ch, leg.port) == ("ch2", SERVER_PORT):
            self.at_server.append(leg.packet)
        elif (ch, leg.port) == ("ch1", CLIENT_PORT):
            self.at_client.append(leg.packet)
        elif leg.kind != "tunnel":
            raise AssertionError(f"output to unknown port {leg.port} on {ch}")

    def _function(self, pair: str, packet: Packet) -> Packet:
        """An inline function adds its shift to every payload byte, a tap TAP_SHIFT (a symmetric chain
        enters at the egress port: it goes back out of the ingress)."""
        fn = self.fns[int(pair.removeprefix("pp"))]
        shift = TAP_SHIFT if fn.tap else fn.shift
        return packet.with_payload(bytes((b + shift) % 256 for b in packet.payload))


def _udp(**extra: Any) -> Packet:
    fields: dict[str, Any] = {
        "in_port": CLIENT_PORT, "eth_src": CLIENT, "eth_dst": SERVER, "eth_type": 0x0800, "ip_proto": 17,
        "ipv4_src": "203.0.113.1", "ipv4_dst": "203.0.113.2", "udp_src": 5000, "udp_dst": 7,
    }  # fmt: skip
    return Packet.of(**{**fields, **extra}).with_payload(PAYLOAD)


def _shifted(n: int) -> bytes:
    return bytes((b + n) % 256 for b in PAYLOAD)


LAYOUTS = {
    "tap first": [Fn("ch3", tap=True), Fn("ch1", shift=1), Fn("ch2", shift=2)],
    "tap middle": [Fn("ch1", shift=1), Fn("ch3", tap=True), Fn("ch2", shift=2)],
    "tap last": [Fn("ch1", shift=1), Fn("ch3", shift=2), Fn("ch3", tap=True)],
    "tap alone": [Fn("ch3", tap=True)],
    "tap local to the classifier": [Fn("ch1", tap=True), Fn("ch2", shift=2)],
    "tap beside the server": [Fn("ch1", shift=1), Fn("ch2", tap=True)],
    "two taps apart": [Fn("ch2", tap=True), Fn("ch3", shift=1), Fn("ch1", tap=True), Fn("ch3", shift=2)],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize(("correlation", "aware"), [("mpls", False), ("mpls", True), ("nsh", True)])
def test_the_server_gets_each_packet_once_shifted_by_the_inline_functions_only(
    layout: str, correlation: str, aware: bool
) -> None:
    fns = [Fn(f.chassis, aware, f.tap, f.shift) for f in LAYOUTS[layout]]
    fabric = Fabric(fns, tap_nb(fns, correlation))
    for sport in range(5000, 5010):
        fabric.send(_udp(udp_src=sport))
    inline = sum(f.shift for f in fns if not f.tap)
    assert [p.payload for p in fabric.at_server] == [_shifted(inline)] * 10
    assert sorted(p["udp_src"] for p in fabric.at_server) == list(range(5000, 5010))
    assert all(p["eth_type"] == 0x0800 and p["eth_dst"] == SERVER for p in fabric.at_server)
    assert fabric.seen == Counter(dict.fromkeys(range(len(fns)), 10))  # every function, taps too
    assert not fabric.at_client


@pytest.mark.parametrize(("correlation", "ethertype"), [("mpls", 0x8847), ("nsh", 0x894F)])
def test_an_aware_tap_gets_the_header_of_its_hop_and_the_packet_as_it_was_there(
    correlation: str, ethertype: int
) -> None:
    fns = [Fn("ch1", True, shift=1), Fn("ch3", True, tap=True), Fn("ch2", True, shift=2)]
    fabric = Fabric(fns, tap_nb(fns, correlation))
    fabric.send(_udp())
    (copy,) = fabric.headers[1]
    assert copy["eth_type"] == ethertype and copy.payload == _shifted(1)  # after the first function only
    if correlation == "mpls":
        assert copy["mpls_label"] == 101
    else:
        assert (copy["nsh_spi"], copy["nsh_si"], copy["nsh_c1"]) == (1, 254, 1)
    assert fabric.headers[2][0]["eth_type"] == ethertype  # the next function gets its own header


def test_an_unaware_tap_gets_the_plain_packet() -> None:
    fns = [Fn("ch1", shift=1), Fn("ch3", tap=True)]
    fabric = Fabric(fns, tap_nb(fns, "nsh"))
    fabric.send(_udp())
    (copy,) = fabric.headers[1]
    assert copy["eth_type"] == 0x0800 and copy["eth_dst"] == SERVER and copy.payload == _shifted(1)


def test_what_a_tap_sends_is_dropped_whatever_it_is() -> None:
    fns = [Fn("ch3", tap=True), Fn("ch3", shift=1)]
    fabric = Fabric(fns, tap_nb(fns))
    ingress, egress = _ofports(0)
    ch3 = fabric.switches["ch3"]
    for stray in (
        _udp(in_port=ingress),  # from its ingress too: a service port, never ordinary traffic
        _udp(in_port=ingress, eth_dst="ff:ff:ff:ff:ff:ff"),
        _udp(in_port=egress),  # a copy sent back as it came
        _udp(in_port=egress, eth_type=0x8847, mpls_label=100, mpls_tc=0),  # with its hop's header
        _udp(in_port=egress, eth_type=0x8847, mpls_label=101, mpls_tc=0),  # with the next hop's
        _udp(in_port=egress, eth_dst="ff:ff:ff:ff:ff:ff"),
    ):
        assert ch3.run(stray).dropped


def test_a_tap_in_a_symmetric_chain_gets_both_directions() -> None:
    fns = [Fn("ch1", shift=1), Fn("ch3", tap=True), Fn("ch2", shift=2)]
    fabric = Fabric(fns, tap_nb(fns, symmetric=True))
    fabric.send(_udp())
    (forward,) = fabric.at_server
    reply = forward.set(
        in_port=SERVER_PORT,
        eth_src=SERVER,
        eth_dst=CLIENT,
        ipv4_src="203.0.113.2",
        ipv4_dst="203.0.113.1",
        udp_src=7,
        udp_dst=5000,
    )
    fabric.send(reply, "ch2")
    (back,) = fabric.at_client
    assert back.payload == _shifted(6) and fabric.seen == Counter({0: 2, 1: 2, 2: 2})


def test_a_tap_hop_clones_per_ethertype_and_its_instance_is_never_tracked() -> None:
    fns = [Fn("ch3", tap=True), Fn("ch3", shift=1)]
    nb = tap_nb(fns, "nsh")  # NSH tracks unaware functions that are not last: never a tap
    flows = list(compile_nb(nb, "ch3", TUNNEL).flows.values())
    clones = [f for f in flows if any(isinstance(a, Clone) for a in f.actions)]
    assert len(clones) == 2  # one per inner ethertype (IPv4, IPv6)
    assert not [f for f in flows if "ct(" in str(f) and "reg4=0x1" in str(f)]
    assert not [f for f in flows if "ct_mark=0x64" in str(f)]  # nothing recalls the tap's hop (100)


@pytest.mark.parametrize(("correlation", "aware"), [("mpls", True), ("mpls", False), ("nsh", True)])
def test_ipv6_is_tapped_alike(correlation: str, aware: bool) -> None:
    fns = [Fn("ch1", aware, shift=1), Fn("ch3", aware, tap=True), Fn("ch2", aware, shift=2)]
    fabric = Fabric(fns, tap_nb(fns, correlation, ethertype="IPv6"))
    v6: dict[str, int | str] = {"eth_type": 0x86DD, "ipv6_src": "2001:db8::1", "ipv6_dst": "2001:db8::2"}
    fabric.send(_udp().without("ipv4_src", "ipv4_dst").set(**v6).with_payload(PAYLOAD))
    (delivered,) = fabric.at_server
    assert delivered["eth_type"] == 0x86DD and delivered.payload == _shifted(3)
    (copy,) = fabric.headers[1]
    assert copy.payload == _shifted(1)
    assert fabric.seen == Counter({0: 1, 1: 1, 2: 1})
