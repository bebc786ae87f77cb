"""A multi-chassis walker: one packet through every chassis' compiled (or given) flows, as a tree.

Each chassis is an ofsim `Switch`. An output on the tunnel port continues on the chassis whose underlay
address is the tunnel's destination; an output on a function's ingress port continues from that
function's egress port with what the `FunctionModel` returns (by default what it got: the trace
assumes a function forwards what it gets, its header as it came if it is aware, plain if not); a tap
(a function of a tap-enabled group) only receives; any other output is a delivery. A reverse chain
enters a function by its egress port: it returns by its ingress. Several outputs (taps, floods) make
several branches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from steerflow.compiler.compile import DesiredState, compile_nb
from steerflow.model import schema
from steerflow.ofsim import Packet, Switch
from steerflow.ofsim.trace import Trace

Docs = Mapping[str, Mapping[str, Mapping[str, Any]]]
# (port pair id, what it received) -> what it sends back from its other port (None: nothing)
FunctionModel = Callable[[str, Packet], Packet | None]
# What a tunnel carries besides the frame; the pipeline's registers, metadata and conntrack state
# never leave the switch.
TUNNEL_FIELDS = frozenset(
    ("tunnel_id", "tun_ipv4_src", "tun_ipv4_dst", *(f"tun_metadata{i}" for i in range(64)))
)
MAX_STEPS = 64  # switch passes per walk: a loop in the flows ends here, reported
LegKind = Literal["tunnel", "function", "tap", "delivery", "unknown"]


def forwards(pair: str, packet: Packet) -> Packet:
    """The default function model: a function returns what it received."""
    return packet


@dataclass(frozen=True)
class Leg:
    """One output of a switch pass and where it led."""

    port: int
    packet: Packet  # as it left the switch
    kind: LegKind
    target: str = ""  # tunnel: the chassis; function: the port pair; port: the logical port
    next: Step | None = None  # the pass it led to (tunnel, function)
    side: str = ""  # function: the port it entered by, "ingress" or "egress" (a reverse chain)


@dataclass(frozen=True)
class Step:
    """One pass through one chassis' switch."""

    chassis: str
    packet: Packet  # as it entered
    trace: Trace
    legs: tuple[Leg, ...]
    came_from: str = ""  # "" (the start), "tunnel" or a port pair's id (a function's return)


@dataclass(frozen=True)
class Walk:
    first: Step
    truncated: bool  # MAX_STEPS reached: a loop, or a larger fabric than a trace should show

    def steps(self) -> list[Step]:
        """Every pass, depth first in output order."""
        found: list[Step] = []
        pending = [self.first]
        while pending:
            step = pending.pop()
            found.append(step)
            pending.extend(leg.next for leg in reversed(step.legs) if leg.next is not None)
        return found

    def functions(self) -> tuple[str, ...]:
        """The port pairs crossed, depth first."""
        return tuple(leg.target for s in self.steps() for leg in s.legs if leg.kind == "function")

    def deliveries(self) -> list[tuple[str, Leg]]:
        """(chassis, leg) of every delivery to a port that is no function's."""
        return [
            (s.chassis, leg) for s in self.steps() for leg in s.legs if leg.kind in ("delivery", "unknown")
        ]


@dataclass(frozen=True)
class _Models:
    function: FunctionModel
    tap: FunctionModel | None


class Fabric:
    """Every chassis' switch, the tunnels between them and the function ports, from NB documents."""

    def __init__(
        self,
        docs: Docs,
        tunnel_ofport: int,
        states: Mapping[str, DesiredState] | None = None,
        *,
        reject_overlaps: bool = False,
    ) -> None:
        if states is None:
            states = {c: compile_nb(docs, c, tunnel_ofport) for c in docs.get(schema.CHASSIS, {})}
        self.docs = docs
        self.tunnel_ofport = tunnel_ofport
        self.states = states
        self.switches = {
            c: Switch(s.flows.values(), s.groups.values(), bridge=c, reject_overlaps=reject_overlaps)
            for c, s in states.items()
        }
        self.by_underlay = {str(doc.get("underlay_ip")): c for c, doc in docs.get(schema.CHASSIS, {}).items()}
        self.ports = _ports_by_ofport(docs)
        self.pairs = _pairs_by_port(docs)
        self.taps = {
            pair
            for group in docs.get(schema.PORT_PAIR_GROUP, {}).values()
            if group.get("tap_enabled")
            for pair in group.get("port_pairs", [])
        }

    def port_at(self, port_id: str) -> tuple[str, int]:
        """(chassis, ofport) where a logical port is bound; KeyError if it is not."""
        binding = self.docs.get(schema.PORT_BINDING, {})[port_id]
        return str(binding[schema.CHASSIS]), int(binding["ofport"])

    def walk(
        self,
        packet: Packet,
        chassis: str,
        function: FunctionModel = forwards,
        tap: FunctionModel | None = None,
        max_steps: int = MAX_STEPS,
    ) -> Walk:
        """Carry `packet` (its in_port set) from `chassis` through the fabric; functions do `function`,
        taps `tap` (None: they only receive); at most `max_steps` switch passes."""
        budget = [max_steps]
        first = self._step(chassis, packet, "", _Models(function, tap), budget)
        return Walk(first, budget[0] <= 0)

    def _step(
        self, chassis: str, packet: Packet, came_from: str, function: _Models, budget: list[int]
    ) -> Step:
        budget[0] -= 1
        trace = self.switches[chassis].run(packet)
        legs = tuple(self._leg(chassis, d.port, d.packet, function, budget) for d in trace.outputs)
        return Step(chassis, packet, trace, legs, came_from)

    def _leg(self, chassis: str, port: int, left: Packet, function: _Models, budget: list[int]) -> Leg:
        out = _wire(left, keep=TUNNEL_FIELDS if port == self.tunnel_ofport else frozenset())
        if port == self.tunnel_ofport:
            remote = self.by_underlay.get(_ip(out.get("tun_ipv4_dst")), "")
            if not remote or remote not in self.switches:
                return Leg(port, out, "tunnel", remote)
            nxt = self._next(remote, out.set(in_port=self.tunnel_ofport), "tunnel", function, budget)
            return Leg(port, out, "tunnel", remote, nxt)
        pair = self.pairs.get((chassis, port))
        if pair is not None:
            name, other, side = pair
            kind: LegKind = "tap" if name in self.taps else "function"
            model = function.function if kind == "function" else function.tap
            returned = model(name, out) if model is not None else None
            if returned is None:
                return Leg(port, out, kind, name, side=side)
            nxt = self._next(chassis, returned.set(in_port=other), name, function, budget)
            return Leg(port, out, kind, name, nxt, side)
        logical = self.ports.get((chassis, port))
        return Leg(port, out, "delivery" if logical else "unknown", logical or "")

    def _next(
        self, chassis: str, packet: Packet, came_from: str, function: _Models, budget: list[int]
    ) -> Step | None:
        if budget[0] <= 0:
            return None
        return self._step(chassis, packet, came_from, function, budget)


def _wire(packet: Packet, keep: frozenset[str]) -> Packet:
    """The packet as it leaves: the frame, and of the switch's metadata only `keep` (a tunnel's fields)."""
    return replace(packet, meta=tuple((k, v) for k, v in packet.meta if k in keep))


def _ports_by_ofport(docs: Docs) -> dict[tuple[str, int], str]:
    return {
        (str(b[schema.CHASSIS]), int(b["ofport"])): pid
        for pid, b in docs.get(schema.PORT_BINDING, {}).items()
        if b.get("ofport") is not None and b.get(schema.CHASSIS)
    }


def _pairs_by_port(docs: Docs) -> dict[tuple[str, int], tuple[str, int, str]]:
    """(chassis, ofport) -> (port pair id, its other ofport, "ingress" or "egress"), for pairs whose
    ports are bound."""
    bindings = docs.get(schema.PORT_BINDING, {})
    found = {}
    for pid, pair in docs.get(schema.PORT_PAIR, {}).items():
        ingress, egress = bindings.get(pair["ingress"]), bindings.get(pair["egress"])
        if ingress is None or egress is None or ingress.get("ofport") is None or egress.get("ofport") is None:
            continue
        there = str(ingress[schema.CHASSIS])
        found[(there, int(egress["ofport"]))] = (pid, int(ingress["ofport"]), "egress")
        found[(there, int(ingress["ofport"]))] = (pid, int(egress["ofport"]), "ingress")
    return found


def _ip(value: object) -> str:
    if isinstance(value, int):
        return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))
    return str(value)
