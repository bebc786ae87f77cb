"""Trace: where one packet went through the pipeline (tables, flows with cookies, actions) and what left.

`str(trace)` reads like `ovs-appctl ofproto/trace`: one line per table lookup, the actions under it,
resubmitted tables and group buckets indented one level deeper, then the final packet and the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from steerflow.flows.types import Action, Flow
from steerflow.ofsim.packet import Packet

CookieText = Callable[[int], str | None]


@dataclass(frozen=True)
class Hop:
    """One table lookup: the flow that matched (None: a miss) and which of its actions ran."""

    table: int
    flow: Flow | None
    packet: Packet  # as looked up (with a resubmit's in_port)
    depth: int  # 0 for the main pipeline, +1 per resubmit or group bucket
    via: str  # "start", "goto", "resubmit"
    applied: tuple[Action, ...] = ()

    @property
    def cookie(self) -> int | None:
        return None if self.flow is None else self.flow.cookie


@dataclass(frozen=True)
class Delivery:
    """One output: the port and the packet as it left."""

    port: int
    packet: Packet


@dataclass(frozen=True)
class GroupChoice:
    """A select or fast-failover group's pick: bucket index in `Group.buckets` and its bucket id."""

    group_id: int
    bucket: int
    bucket_id: int


@dataclass(frozen=True)
class Event:
    """One line of the rendered trace: a lookup (`hop` set), an action, or a note."""

    depth: int
    hop: int | None = None
    action: Action | None = None
    note: str = ""


@dataclass(frozen=True)
class Trace:
    packet: Packet
    final: Packet
    hops: tuple[Hop, ...]
    outputs: tuple[Delivery, ...]
    choices: tuple[GroupChoice, ...]
    warnings: tuple[str, ...]
    events: tuple[Event, ...] = field(repr=False)
    bridge: str = "br-int"

    @property
    def ports(self) -> tuple[int, ...]:
        """Output ports in order (a port twice if the packet left there twice)."""
        return tuple(d.port for d in self.outputs)

    @property
    def dropped(self) -> bool:
        return not self.outputs

    @property
    def cookies(self) -> tuple[int, ...]:
        """Cookies of the flows that matched, in lookup order."""
        return tuple(h.flow.cookie for h in self.hops if h.flow is not None)

    @property
    def path(self) -> tuple[tuple[int, int | None], ...]:
        """(table, cookie) per lookup; cookie None for a miss."""
        return tuple((h.table, h.cookie) for h in self.hops)

    def to(self, port: int) -> tuple[Packet, ...]:
        """The packets that left through `port`."""
        return tuple(d.packet for d in self.outputs if d.port == port)

    def only(self, port: int | None = None) -> Packet:
        """The one packet that left (through `port`, if given); ValueError unless exactly that happened."""
        if len(self.outputs) != 1 or (port is not None and self.outputs[0].port != port):
            where = "" if port is None else f" on {port}"
            raise ValueError(f"expected exactly one output{where}, got:\n{self}")
        return self.outputs[0].packet

    def render(self, cookie_text: CookieText | None = None) -> str:
        """The trace as text; `cookie_text` may name a cookie (e.g. "chain blue hop 2") next to it."""
        lines = [f"Flow: {self.packet}", "", f'bridge("{self.bridge}")', "-" * (len(self.bridge) + 10)]
        lines += [self._line(e, cookie_text) for e in self.events]
        final = "unchanged" if self.final == self.packet else str(self.final)
        lines += ["", f"Final flow: {final}"]
        if not self.outputs:
            lines.append("Output: none, the packet is dropped")
        for out in self.outputs:
            lines.append(f"Output: port {out.port}: {out.packet}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def _line(self, event: Event, cookie_text: CookieText | None) -> str:
        indent = "    " * event.depth
        if event.hop is not None:
            return indent + _lookup_line(self.hops[event.hop], cookie_text)
        if event.action is not None:
            return f"{indent}    {event.action}"
        return f"{indent}    {event.note}"


def _lookup_line(hop: Hop, cookie_text: CookieText | None) -> str:
    if hop.flow is None:
        return f"{hop.table:2d}. No match."
    flow = hop.flow
    match = f"{flow.match}, " if flow.match.fields else ""
    line = f"{hop.table:2d}. {match}priority {flow.priority}"
    if flow.cookie:
        line += f", cookie {flow.cookie:#x}"
        name = cookie_text(flow.cookie) if cookie_text else None
        if name:
            line += f" ({name})"
    return line
