"""Service ports (a port pair's ingress and egress) get steered traffic only, and what a function emits
besides a steered return goes nowhere: functions that bridge everything cannot loop (ofsim, 3 chassis)."""

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import pytest

from steerflow.compiler.compile import ChassisCompiler, compile_nb
from steerflow.compiler.tables import CLASSIFY
from steerflow.model import schema
from steerflow.ofsim import Packet, Switch

TUNNEL = 100
NET, VNI = "net-a", 7
CHASSIS = {"ch1": "198.51.100.11", "ch2": "198.51.100.12", "ch3": "198.51.100.13"}
CLIENT, SERVER = "02:00:00:00:00:01", "02:00:00:00:00:02"
BROADCAST = "ff:ff:ff:ff:ff:ff"
MAX_EVENTS = 200  # far above what one frame legitimately causes here: more means a loop


@dataclass(frozen=True)
class Port:
    id: str
    key: int
    chassis: str


def _mac(key: int) -> str:
    return f"02:00:00:00:00:{key:02x}"


def _world(shape: tuple[int, ...], correlation: str | None) -> tuple[dict[str, Any], list[Port]]:
    """client (ch1) -> groups of `shape` instances, round-robin over ch1..ch3 -> server (ch3)."""
    ports = [Port("client", 1, "ch1"), Port("server", 2, "ch3")]
    pairs, groups, n = {}, {}, 0
    for g, size in enumerate(shape):
        members = []
        for _ in range(size):
            n += 1
            chassis = f"ch{1 + n % 3}"
            ports += [Port(f"f{n}-in", 2 + 2 * n - 1, chassis), Port(f"f{n}-out", 2 + 2 * n, chassis)]
            pairs[f"pp{n}"] = {
                "id": f"pp{n}", "ingress": f"f{n}-in", "egress": f"f{n}-out", schema.PAIR_KEY: n,
                "service_function_parameters": {"correlation": correlation, "weight": 1},
            }  # fmt: skip
            members.append(f"pp{n}")
        groups[f"g{g}"] = {"id": f"g{g}", "port_pairs": members}
    nb: dict[str, Any] = {
        schema.NETWORK: {NET: {"id": NET, schema.SEGMENTATION_ID: VNI}},
        schema.PORT: {p.id: _port_doc(p) for p in ports},
        schema.PORT_BINDING: {p.id: _binding(p) for p in ports},
        schema.CHASSIS: {name: {"name": name, "underlay_ip": ip} for name, ip in CHASSIS.items()},
        schema.PORT_PAIR: pairs,
        schema.PORT_PAIR_GROUP: groups,
        schema.FLOW_CLASSIFIER: {
            "fc1": {"id": "fc1", "ethertype": "IPv4", "protocol": "udp", "logical_source_port": "client"}
        },
        schema.PORT_CHAIN: {
            "pc1": {
                "id": "pc1", "chain_id": 1, "port_pair_groups": list(groups), "flow_classifiers": ["fc1"],
                "chain_parameters": {"correlation": correlation or "mpls"}, "project_id": "p1",
                schema.HOP_LABELS: {g: 100 + i for i, g in enumerate(groups)},
                schema.EXIT_LABEL: 100 + len(groups),
            }
        },
    }  # fmt: skip
    return nb, ports


def _binding(p: Port) -> dict[str, Any]:
    return {"port_id": p.id, schema.CHASSIS: p.chassis, "ofport": p.key}


def _port_doc(p: Port) -> dict[str, Any]:
    return {
        "id": p.id, "network_id": NET, schema.TUNNEL_KEY: p.key, "mac_address": _mac(p.key),
        "fixed_ips": [{"subnet_id": "s", "ip_address": f"203.0.113.{p.key}"}], "project_id": "p1",
        "port_security_enabled": False,  # whatever a port may send, floods never reach a function
    }  # fmt: skip


class Fabric:
    """Every chassis' switch, wired by Geneve, with functions that bridge every frame both ways."""

    def __init__(self, nb: dict[str, Any], ports: list[Port]) -> None:
        self.switches = {}
        for name in CHASSIS:
            state = compile_nb(nb, name, TUNNEL)
            self.switches[name] = Switch(state.flows.values(), state.groups.values(), reject_overlaps=True)
        self.by_chassis_ip = {ip: name for name, ip in CHASSIS.items()}
        self.port_at = {(p.chassis, p.key): p.id for p in ports}
        self.received: Counter[str] = Counter()  # port id -> frames output to it
        self.arrived: list[Packet] = []  # what reached the server

    def send(self, chassis: str, packet: Packet) -> int:
        """Inject `packet`; run every consequence (tunnels, functions bridging); the events it caused."""
        queue, events = [(chassis, packet)], 0
        while queue:
            events += 1
            assert events <= MAX_EVENTS, f"a loop: {self.received}"
            where, frame = queue.pop()
            for out in self.switches[where].run(frame).outputs:
                queue.extend(self._onward(where, out.port, out.packet))
        return events

    def _onward(self, chassis: str, port: int, packet: Packet) -> list[tuple[str, Packet]]:
        if port == TUNNEL:
            there = self.by_chassis_ip[str(packet["tun_ipv4_dst"])]
            return [(there, _wire(packet).set(in_port=TUNNEL, tunnel_id=packet["tunnel_id"]))]
        name = self.port_at[(chassis, port)]
        self.received[name] += 1
        if name == "server":
            self.arrived.append(packet)
        if name.startswith("f"):  # a bump in the wire: out of the other side, whatever it is
            fn, side = name.split("-")
            other = next(
                k for (c, k), n in self.port_at.items() if n == f"{fn}-{'out' if side == 'in' else 'in'}"
            )
            return [(chassis, _wire(packet).set(in_port=other))]
        return []


def _wire(packet: Packet) -> Packet:
    """The frame as it is on a wire: no pipeline metadata (registers, tunnel fields, in_port)."""
    return replace(packet, meta=())


def _udp(**extra: Any) -> Packet:
    fields: dict[str, Any] = {
        "in_port": 1, "eth_src": CLIENT, "eth_dst": SERVER, "eth_type": 0x0800, "ip_proto": 17,
        "ipv4_src": "203.0.113.1", "ipv4_dst": "203.0.113.2", "udp_src": 5000, "udp_dst": 7,
    }  # fmt: skip
    return Packet.of(**{**fields, **extra})


def _arp_request(in_port: int, mac: str, ip: str, target: str) -> Packet:
    return Packet.of(
        in_port=in_port, eth_src=mac, eth_dst=BROADCAST, eth_type=0x0806, arp_op=1,
        arp_spa=ip, arp_tpa=target, arp_sha=mac, arp_tha="00:00:00:00:00:00",
    )  # fmt: skip


def _neighbour_solicitation(in_port: int, mac: str) -> Packet:
    return Packet.of(
        in_port=in_port, eth_src=mac, eth_dst="33:33:ff:00:00:02", eth_type=0x86DD, ip_proto=58,
        ipv6_src="fe80::1", ipv6_dst="ff02::1:ff00:2", icmpv6_type=135, icmpv6_code=0,
        ipv6_nd_target="2001:db8::2",
    )  # fmt: skip


SHAPES = [(1,), (2,), (3,), (1, 1, 1), (1, 2)]
CORRELATIONS = [None, "mpls", "nsh"]


def _functions(fabric: Fabric) -> int:
    return sum(n for port, n in fabric.received.items() if port.endswith("-in"))


@pytest.mark.parametrize("correlation", CORRELATIONS, ids=lambda c: c or "unaware")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: ".".join(map(str, s)))
def test_a_steered_datagram_crosses_each_group_once_and_arrives_once(
    shape: tuple[int, ...], correlation: str | None
) -> None:
    fabric = Fabric(*_world(shape, correlation))
    for source in range(5000, 5020):  # spread over the instances
        fabric.send("ch1", _udp(udp_src=source))
    assert len(fabric.arrived) == 20
    assert _functions(fabric) == 20 * len(shape)  # one instance per group, per datagram
    assert sum(n for port, n in fabric.received.items() if port.endswith("-out")) == 0  # bridged one way


@pytest.mark.parametrize("correlation", CORRELATIONS, ids=lambda c: c or "unaware")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: ".".join(map(str, s)))
def test_floods_never_reach_a_function(shape: tuple[int, ...], correlation: str | None) -> None:
    fabric = Fabric(*_world(shape, correlation))
    fabric.send("ch1", _arp_request(1, CLIENT, "203.0.113.1", "203.0.113.99"))  # nobody's: flooded
    fabric.send("ch1", _neighbour_solicitation(1, CLIENT))
    tcp = _udp(eth_dst=BROADCAST, ip_proto=6, tcp_src=5000, tcp_dst=9).without("udp_src", "udp_dst")
    fabric.send("ch1", tcp)  # an unclassified broadcast
    assert dict(fabric.received) == {"server": 3}


@pytest.mark.parametrize("correlation", CORRELATIONS, ids=lambda c: c or "unaware")
def test_unicast_to_a_function_is_dropped_and_its_address_not_answered(correlation: str | None) -> None:
    fabric = Fabric(*_world((1, 1, 1), correlation))
    tcp = _udp(ip_proto=6, tcp_src=5000, tcp_dst=9).without("udp_src", "udp_dst")  # unclassified
    fabric.send("ch1", tcp.set(eth_dst=_mac(3)))  # f1-in, on ch2
    fabric.send("ch1", tcp.set(eth_dst=_mac(6)))  # f2-out, on ch3
    assert not fabric.received
    fabric.send("ch1", _udp(eth_dst=_mac(3)))  # steered: crosses the chain, then goes nowhere
    assert dict(fabric.received) == {"f1-in": 1, "f2-in": 1, "f3-in": 1}
    fabric.received.clear()
    fabric.send("ch1", _arp_request(1, CLIENT, "203.0.113.1", "203.0.113.3"))  # f1-in's address
    assert dict(fabric.received) == {"server": 1}  # flooded like an unknown one: no answer, no function


@pytest.mark.parametrize("correlation", CORRELATIONS, ids=lambda c: c or "unaware")
@pytest.mark.parametrize("side", ["in", "out"])
def test_what_a_function_emits_besides_a_steered_return_goes_nowhere(
    correlation: str | None, side: str
) -> None:
    fabric = Fabric(*_world((1, 1, 1), correlation))
    port = Port(f"f1-{side}", 3 if side == "in" else 4, "ch2")
    mac = _mac(port.key)
    own = [
        _arp_request(port.key, mac, f"203.0.113.{port.key}", "203.0.113.2"),
        _neighbour_solicitation(port.key, mac),
        _udp(in_port=port.key, eth_src=mac, eth_dst=BROADCAST, ipv4_src=f"203.0.113.{port.key}"),
        _udp(in_port=port.key, eth_src=mac, eth_dst=_mac(7), udp_dst=9),  # to another function
    ]
    for frame in own:
        fabric.send(port.chassis, frame)
    assert not fabric.received  # its own frames (its MAC): not even an unaware function's return
    # Plain IP from an unaware function's egress with another MAC cannot be told from a return: it
    # crosses the rest of the function's own chain (f2, f3) and leaves it like any steered packet
    # (here to nobody: addressed to a function). Anything else goes nowhere.
    fabric.send(port.chassis, _udp(in_port=port.key, eth_dst=_mac(7), udp_dst=9))
    returns = 1 if side == "out" and correlation is None else 0
    assert dict(fabric.received) == ({"f2-in": 1, "f3-in": 1} if returns else {})


def test_a_port_pair_without_a_chain_makes_service_ports_and_the_incremental_compile_agrees() -> None:
    nb, ports = _world((1,), None)
    nb[schema.PORT_CHAIN] = {}
    pair = nb[schema.PORT_PAIR].pop("pp1")
    nb[schema.PORT_PAIR_GROUP] = {}
    compiler = ChassisCompiler("ch2", TUNNEL)
    compiler.compile(nb)
    with pytest.raises(AssertionError, match="a loop"):  # ordinary ports: the bridging function loops
        Fabric(nb, ports).send("ch1", _arp_request(1, CLIENT, "203.0.113.1", "203.0.113.99"))
    nb[schema.PORT_PAIR]["pp1"] = pair
    compiler.compile(nb, {(schema.PORT_PAIR, "pp1")})
    assert dict(compiler.state.flows) == dict(compile_nb(nb, "ch2", TUNNEL).flows)
    fabric = Fabric(nb, ports)
    fabric.send("ch1", _arp_request(1, CLIENT, "203.0.113.1", "203.0.113.99"))
    assert dict(fabric.received) == {"server": 1}


def test_a_classifier_without_source_port_never_classifies_a_function_and_follows_pair_changes() -> None:
    nb, _ = _world((1,), None)
    nb[schema.FLOW_CLASSIFIER]["fc1"].pop("logical_source_port")  # every port of the project
    x = Port("x", 9, "ch2")  # a VM on f1's chassis, until a pair no chain uses names its port
    nb[schema.PORT]["x"], nb[schema.PORT_BINDING]["x"] = _port_doc(x), _binding(x)
    compiler = ChassisCompiler("ch2", TUNNEL)
    compiler.compile(nb)

    def classified() -> set[str]:  # the source port keys (reg6) classified here
        flows = compiler.state.flows.values()
        return {str(f.match.get("reg6")) for f in flows if f.table == CLASSIFY and f.priority == 100}

    assert classified() == {"reg6=9"}  # not f1's ports (3, 4)
    nb[schema.PORT_PAIR]["pp9"] = {"id": "pp9", "ingress": "x", "egress": "x", schema.PAIR_KEY: 9}
    compiler.compile(nb, {(schema.PORT_PAIR, "pp9")})
    assert classified() == set()
    assert dict(compiler.state.flows) == dict(compile_nb(nb, "ch2", TUNNEL).flows)
