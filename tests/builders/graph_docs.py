"""A service graph across three simulated chassis, and a walker that carries a packet through it.

The graph (every function adds 100 to the UDP destination port, like a NAT; all are aware of the
chains' header): chains A (UDP to 7-9) and E (to 10) start at the client on ch1; A branches to B
(107, 110) or C (108), E to B; B and C join into D (207-208); what no branch takes leaves the graph to
the server on ch2. So 7 crosses fa fb fd, 8 fa fc fd, 9 only fa (no branch matches 109), 10 fe fb
(210: D takes nothing), and the client's own 107 enters B where B classifies: fb fd.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from steerflow.compiler.compile import DesiredState
from steerflow.model import schema
from steerflow.ofsim import Packet
from steerflow.ofsim.packet import Frame
from steerflow.trace.fabric import Fabric
from tests.builders.classification import stored_terms
from tests.builders.pipeline_scenarios import TUNNEL, Docs, Scenario, World

FUNCTIONS = {"fa": "ch3", "fb": "ch1", "fc": "ch2", "fd": "ch3", "fe": "ch2"}
NAT_STEP = 100
GRAPH = "graph"


def _aware(header: str) -> str:
    return "nsh" if header.startswith("nsh") else header


def graph_world(header: str, *, graph: bool = True) -> World:
    """The graph's documents (`graph` False: the same chains, unlinked)."""
    world = World()
    client, server = world.ends()
    for name, chassis in FUNCTIONS.items():
        world.group(f"g-{name}", [world.function(name, chassis, _aware(header))])

    def udp(fid: str, lo: int, hi: int, **extra: object) -> str:
        ports = {"destination_port_range_min": lo, "destination_port_range_max": hi}
        return world.classifier(fid, protocol="udp", logical_source_port=client, **ports, **extra)

    world.chain("A", ["g-fa"], [udp("fc-a", 7, 9)], header)
    world.chain("E", ["g-fe"], [udp("fc-e", 10, 10)], header)
    world.chain("B", ["g-fb"], [udp("fc-b", 107, 107), udp("fc-b2", 110, 110)], header)
    to_server = {
        "source_ip_prefix": "203.0.113.0/24", "destination_ip_prefix": "203.0.113.2/32",
        "source_port_range_min": 5000, "source_port_range_max": 5000,
    }  # fmt: skip
    fc_c = udp("fc-c", 108, 108, logical_destination_port=server, **to_server)
    world.chain("C", ["g-fc"], [fc_c], header)
    world.chain("D", ["g-fd"], [udp("fc-d", 207, 208)], header)
    world.port("other", "ch2")  # another destination, for classifiers naming the server
    if graph:
        links = {"A": ["B", "C"], "E": ["B"], "B": ["D"], "C": ["D"]}
        world.add(schema.SERVICE_GRAPH, {"id": GRAPH, "port_chains": links})
    return world


def graph_scenario(header: str) -> Scenario:
    """The graph, and destination classifiers of every field a branch matches (IPv6, TCP ports, and the
    classification groups' MACs, VLAN, DSCP, ECN and TCP flags)."""
    world = graph_world(header)
    v6 = world.classifier(
        "fc-b-v6", ethertype="IPv6", protocol="tcp", logical_source_port="client",
        source_ip_prefix="2001:db8::/64", destination_ip_prefix="2001:db8:1::/48",
        source_port_range_min=1000, source_port_range_max=1999,
        destination_port_range_min=80, destination_port_range_max=80,
    )  # fmt: skip
    marked = stored_terms(
        "OR",
        ("ethernet", {"src_addr": "02:00:00:00:00:aa", "vlan_id": 10}),
        ("ipv4", {"dscp": 46, "ecn": 1}),
    )
    syn = stored_terms("AND", ("tcp", {"flags": 0x002, "flags_mask": 0x012}), ("tcp", {"dst_port_min": 443}))
    grouped = [
        world.classifier(f"fc-c-{name}", logical_source_port="client", classification_group_id=f"cg-{name}",
                         **{schema.MATCH_TERMS: terms})
        for name, terms in (("marked", marked), ("syn", syn))
    ]  # fmt: skip
    world.docs[schema.PORT_CHAIN]["B"]["flow_classifiers"].append(v6)
    world.docs[schema.PORT_CHAIN]["C"]["flow_classifiers"].extend(grouped)  # classification groups' fields
    return Scenario(f"graph/{header}", world.docs)


Function = Callable[[Packet], Packet]


def nat(packet: Packet) -> Packet:
    """What every function of the graph does: the UDP destination port moves up by NAT_STEP (under
    the service header, which an aware function sends back as it came)."""
    return replace(packet, frame=_nat(packet.frame))


def _nat(frame: Frame) -> Frame:
    if frame.inner is not None:  # NSH: the packet it wraps
        return replace(frame, inner=_nat(frame.inner))
    return frame.with_values({**frame.values, "udp_dst": frame.values["udp_dst"] + NAT_STEP})


@dataclass(frozen=True)
class Walk:
    """Where a packet went: the functions it crossed in order, and where it left the fabric."""

    functions: tuple[str, ...]
    chassis: str
    port: int
    packet: Packet
    delivered: tuple[Packet, ...] = ()  # what each function received, in order


def walk(
    docs: Docs,
    packet: Packet,
    start: str = "ch1",
    function: Function = nat,
    states: Mapping[str, DesiredState] | None = None,
) -> Walk:
    """Carry `packet` from `start` through every chassis' switch (`states`, else `docs` compiled from
    scratch) with steerflow trace's fabric walker, each function doing `function`. Exactly one output
    at each step."""
    fabric = Fabric(docs, TUNNEL, states, reject_overlaps=True)
    step = fabric.walk(packet, start, lambda _pair, p: function(p)).first
    crossed: list[str] = []
    delivered: list[Packet] = []
    while True:
        assert len(step.legs) == 1, f"on {step.chassis}: {step.trace}"
        leg = step.legs[0]
        if leg.kind == "function":
            crossed.append(leg.target)
            delivered.append(leg.packet)
        if leg.next is None:
            assert leg.kind in ("delivery", "unknown"), f"no end: {crossed}"
            return Walk(tuple(crossed), step.chassis, leg.port, leg.packet, tuple(delivered))
        step = leg.next


def udp_from_client(dst_port: int) -> Packet:
    """The client's (ch1, port 1) UDP datagram to the server (port key 2), to `dst_port`."""
    return Packet.of(
        in_port=1, eth_src="02:00:00:00:01:01", eth_dst="02:00:00:00:01:02", eth_type=0x0800,
        ip_proto=17, ipv4_src="203.0.113.1", ipv4_dst="203.0.113.2", udp_src=5000, udp_dst=dst_port,
    )  # fmt: skip
