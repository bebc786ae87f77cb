"""Switch: a pipeline of flows and groups that runs packets with OpenFlow 1.3 + Nicira semantics as OVS does.

Per table the highest-priority matching flow wins; two matching flows of the same priority raise
`AmbiguousMatch` (OVS would pick either: a compiler bug), unless they behave alike (same actions,
continuation and cookie: either one does the same). A miss drops (fail_mode=secure); a miss in a
resubmitted table returns to the caller. Actions apply in order, then goto_table continues. resubmit
recurses and returns; a resubmit's in_port is used for its lookup only. Group buckets and clone's
actions run on a copy of the packet; what they change does not leak out. Limits are OVS's: resubmits
nest at most 64 deep (counting only those to the same or an earlier table) and one packet makes at
most 4096 lookups.
"""

from __future__ import annotations

from collections.abc import Iterable

from steerflow.flows.types import (
    Action,
    Clone,
    Ct,
    Decap,
    Drop,
    EncapEthernet,
    EncapNsh,
    Flow,
    FlowKey,
    Group,
    GroupAction,
    Move,
    Multipath,
    Output,
    PopMpls,
    PopVlan,
    PushMpls,
    PushVlan,
    Resubmit,
    SetField,
)
from steerflow.ofsim import fields as fd
from steerflow.ofsim import groups as grp
from steerflow.ofsim import multipath as mp
from steerflow.ofsim.classifier import Classifier, Entry
from steerflow.ofsim.conntrack import Conntrack
from steerflow.ofsim.errors import AmbiguousMatch, InvalidFlow, PipelineError, PipelineLoop
from steerflow.ofsim.match import compile_match, overlapping
from steerflow.ofsim.packet import Packet
from steerflow.ofsim.trace import Delivery, Event, GroupChoice, Hop, Trace
from steerflow.ofsim.validate import OFPP_IN_PORT, check_flow, check_group

MAX_DEPTH = 64
# actions that make OVS translate a clone as a datapath clone (ofproto-dpif-xlate's reversible_actions)
IRREVERSIBLE = (Ct, EncapNsh, EncapEthernet, Decap)
MAX_LOOKUPS = 4096


class Switch:
    """`Switch(flows, groups).run(packet)`; flows and groups are checked as OVS would on install.

    `down_ports`: ports whose liveness is down (fast-failover and select buckets watching them are
    skipped). `l3_ports`: ports that take packets without an Ethernet header (OVS packet_type=ptap);
    elsewhere such a packet is dropped. `reject_overlaps`: also refuse equal-priority flows that could
    match one packet, even if no packet run here ever does."""

    def __init__(
        self,
        flows: Iterable[Flow],
        groups: Iterable[Group] = (),
        *,
        down_ports: Iterable[int] = (),
        l3_ports: Iterable[int] = (),
        reject_overlaps: bool = False,
        bridge: str = "br-int",
    ) -> None:
        self.groups: dict[int, Group] = _index_groups(groups)
        self.flows: tuple[Flow, ...] = _dedupe(flows)
        self.down_ports = frozenset(down_ports)
        self.l3_ports = frozenset(l3_ports)
        self.bridge = bridge
        self.conntrack = Conntrack()  # connections committed by earlier runs stay
        entries: dict[int, list[Entry]] = {}
        for flow in self.flows:
            match = compile_match(flow.match, str(flow))
            check_flow(flow, match.pinned(), self.groups)
            entries.setdefault(flow.table, []).append(Entry(flow, match))
        self._tables = {table: Classifier(found) for table, found in entries.items()}
        if reject_overlaps and (pairs := overlapping(self.flows)):
            listing = "\n".join(f"  {a}\n  {b}" for a, b in pairs)
            raise InvalidFlow(f"equal-priority flows that can match the same packet:\n{listing}")

    def lookup(self, table: int, packet: Packet) -> Flow | None:
        """The flow `packet` matches in `table` (None: a miss); `AmbiguousMatch` on a priority tie."""
        classifier = self._tables.get(table)
        found = [] if classifier is None else classifier.find(packet)
        if len(found) > 1 and not all(e.flow.same_behaviour(found[0].flow) for e in found[1:]):
            raise AmbiguousMatch(table, tuple(e.flow for e in found))
        return found[0].flow if found else None

    def select_bucket(self, group_id: int, packet: Packet) -> int | None:
        """The bucket index the select group `group_id` picks for `packet` (for load-balancing tests)."""
        return grp.select(self.groups[group_id], packet, self.down_ports)

    def run(self, packet: Packet) -> Trace:
        """Run `packet` from table 0; the trace records every lookup, action, group choice and output."""
        run = _Run(self, packet)
        try:
            run.table(0, depth=0, nest=0, via="start")
        except PipelineError as exc:  # AmbiguousMatch too: the trace so far shows how the packet got there
            exc.trace = run.trace()
            raise
        return run.trace()


def _index_groups(groups: Iterable[Group]) -> dict[int, Group]:
    index: dict[int, Group] = {}
    for group in groups:
        if group.group_id in index and index[group.group_id] != group:
            raise InvalidFlow(f"two different groups with id {group.group_id}")
        index[group.group_id] = group
    for group in index.values():
        check_group(group, index)
    return index


def _dedupe(flows: Iterable[Flow]) -> tuple[Flow, ...]:
    """Flows by key; the same flow twice is harmless, two behaviours for one key are a compiler bug."""
    by_key: dict[FlowKey, Flow] = {}
    for flow in flows:
        seen = by_key.setdefault(flow.key, flow)
        if seen != flow:
            raise InvalidFlow(f"two flows with one key (table, priority, match):\n  {seen}\n  {flow}")
    return tuple(by_key.values())


class _Run:
    """The state of one packet's trip: the packet as it is now and everything recorded so far."""

    def __init__(self, switch: Switch, packet: Packet) -> None:
        self.switch = switch
        self.start = packet
        self.packet = packet
        self.hops: list[Hop] = []
        self.applied: list[list[Action]] = []
        self.events: list[Event] = []
        self.outputs: list[Delivery] = []
        self.choices: list[GroupChoice] = []
        self.warnings: list[str] = []
        self.lookups = 0
        self.encaps = 0  # encap/decap actions run so far (`clone`)

    def trace(self) -> Trace:
        hops = tuple(
            Hop(h.table, h.flow, h.packet, h.depth, h.via, tuple(a))
            for h, a in zip(self.hops, self.applied, strict=True)
        )
        return Trace(
            packet=self.start,
            final=self.packet,
            hops=hops,
            outputs=tuple(self.outputs),
            choices=tuple(self.choices),
            warnings=tuple(self.warnings),
            events=tuple(self.events),
            bridge=self.switch.bridge,
        )

    def note(self, nest: int, text: str, warning: bool = False) -> None:
        self.events.append(Event(nest, note=text))
        if warning:
            self.warnings.append(text.removeprefix(">> "))

    def table(self, table: int, *, depth: int, nest: int, via: str, in_port: int | None = None) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise PipelineLoop(f"more than {MAX_LOOKUPS} table lookups for one packet: a resubmit loop")
        probe = self.packet if in_port is None else self.packet.set_int("in_port", in_port)
        flow = self.switch.lookup(table, probe)
        self.hops.append(Hop(table, flow, probe, nest, via))
        self.applied.append([])
        self.events.append(Event(nest, hop=len(self.hops) - 1))
        if flow is None:
            self.note(nest, "drop")
            return
        self.execute(flow.actions, hop=len(self.hops) - 1, nest=nest, depth=depth, table=table)
        if flow.goto is not None:
            self.note(nest, f"goto_table:{flow.goto}")
            self.table(flow.goto, depth=depth, nest=nest, via="goto")

    def execute(
        self, actions: Iterable[Action], *, hop: int | None, nest: int, depth: int, table: int
    ) -> None:
        for action in actions:
            self.events.append(Event(nest, action=action))
            if hop is not None:
                self.applied[hop].append(action)
            if isinstance(action, Drop):
                return
            self.apply(action, nest=nest, depth=depth, table=table)

    def apply(self, action: Action, *, nest: int, depth: int, table: int) -> None:
        if isinstance(action, Output):
            self.output(action.port, nest)
        elif isinstance(action, Resubmit):
            deeper = depth + 1 if action.table <= table else depth  # OVS counts only backward resubmits
            if deeper > MAX_DEPTH:
                raise PipelineLoop(f"resubmits nested deeper than {MAX_DEPTH}: a resubmit loop")
            self.table(action.table, depth=deeper, nest=nest + 1, via="resubmit", in_port=action.in_port)
        elif isinstance(action, GroupAction):
            self.group(action.group_id, nest=nest, depth=depth, table=table)
        elif isinstance(action, SetField):
            self.set_field(action, nest)
        elif isinstance(action, Move):
            self.move(action, nest)
        elif isinstance(action, Multipath):
            self.packet = mp.apply(action, self.packet)
        elif isinstance(action, Ct):
            self.track(action, nest=nest, depth=depth)
        elif isinstance(action, Clone):
            self.clone(action, nest=nest, depth=depth, table=table)
        else:
            if isinstance(action, EncapNsh | EncapEthernet | Decap):
                self.encaps += 1
            self.packet = _encap(self.packet, action)

    def output(self, port: int, nest: int) -> None:
        in_port = self.packet.value("in_port")
        if port == OFPP_IN_PORT:
            port = in_port
        elif port == in_port:
            self.note(nest + 1, ">> skipping output to input port", warning=True)
            return
        if not self.packet.frame.ethernet and port not in self.switch.l3_ports:
            self.note(nest + 1, f">> non-Ethernet packet to L2 port {port}: dropped", warning=True)
            return
        self.outputs.append(Delivery(port, self.packet))

    def set_field(self, action: SetField, nest: int) -> None:
        spec = fd.spec(action.name)
        if not self.packet.satisfies(spec):  # OVS sets a field only if the packet has it
            self.note(nest + 1, f">> skipped: the packet has no {spec.name}", warning=True)
            return
        self.packet = self.packet.set_int(spec.name, fd.to_int(spec, action.value))

    def move(self, action: Move, nest: int) -> None:
        src, dst = fd.spec(action.src), fd.spec(action.dst)
        if not (self.packet.satisfies(src) and self.packet.satisfies(dst)):
            self.note(nest + 1, f">> skipped: the packet has no {src.name} or no {dst.name}", warning=True)
            return
        width = (1 << action.n_bits) - 1
        bits = (self.packet.raw(src) >> action.src_ofs) & width
        old = self.packet.raw(dst) & ~(width << action.dst_ofs)
        self.packet = self.packet.set_int(dst.name, old | (bits << action.dst_ofs))

    def track(self, action: Ct, *, nest: int, depth: int) -> None:
        """ct: commit (exec writes the stored mark), then with table= go on in that table with the
        packet's ct_state/ct_zone/ct_mark known. Unlike OVS, which recirculates after the action list,
        the table runs at once (our flows end with ct); the packet is unchanged afterwards."""
        tracker, saved = self.switch.conntrack, self.packet
        if action.commit:
            self.packet = tracker.lookup(action.zone, saved)
            for inner in action.actions:
                if isinstance(inner, SetField):
                    self.set_field(inner, nest)
                else:
                    self.move(inner, nest)
            tracker.commit(action.zone, saved, self.packet.value("ct_mark"), self.packet.value("ct_label"))
            self.note(nest + 1, f"conntrack: committed in zone {action.zone}")
            self.packet = saved
        if action.table is not None:
            self.packet = tracker.lookup(action.zone, saved)
            self.table(action.table, depth=depth, nest=nest + 1, via="ct")
            self.packet = saved

    def clone(self, action: Clone, *, nest: int, depth: int, table: int) -> None:
        """The nested actions on a copy: the packet and its registers come back as they were.

        OVS translates a clone whose own actions are all reversible (no encap, decap, ct among them)
        without a datapath clone, undoing their effects afterwards; an encap or decap reached through a
        resubmit cannot be undone that way (the packet goes on encapsulated), so it is refused here."""
        saved, encaps = self.packet, self.encaps
        self.execute(action.actions, hop=None, nest=nest + 1, depth=depth, table=table)
        self.packet = saved
        if self.encaps != encaps and all(not isinstance(a, IRREVERSIBLE) for a in action.actions):
            raise PipelineError(
                f"{action}: an encap or decap in a table it resubmits to, which OVS cannot undo after "
                "a clone of reversible actions: put an encap among the clone's own actions"
            )

    def group(self, group_id: int, *, nest: int, depth: int, table: int) -> None:
        group = self.switch.groups[group_id]
        if depth + 1 > MAX_DEPTH:
            raise PipelineLoop(f"groups nested deeper than {MAX_DEPTH}")
        chosen = grp.chosen_buckets(group, self.packet, self.switch.down_ports)
        if not chosen:
            self.note(nest + 1, ">> no live bucket: dropped", warning=True)
        for index in chosen:
            bid = grp.bucket_id(group, index)
            if group.type in ("select", "ff"):
                self.choices.append(GroupChoice(group_id, index, bid))
            self.note(nest, f"bucket {bid}")
            saved = self.packet
            self.execute(group.buckets[index].actions, hop=None, nest=nest + 1, depth=depth + 1, table=table)
            self.packet = saved


def _encap(packet: Packet, action: Action) -> Packet:
    if isinstance(action, PushMpls):
        return packet.push_mpls(action.ethertype)
    if isinstance(action, PopMpls):
        return packet.pop_mpls(action.ethertype)
    if isinstance(action, PushVlan):
        return packet.push_vlan()
    if isinstance(action, PopVlan):
        return packet.pop_vlan()
    if isinstance(action, EncapNsh):
        return packet.encap_nsh(action.md_type, action.tlvs)
    if isinstance(action, EncapEthernet):
        return packet.encap_ethernet()
    if isinstance(action, Decap):
        return packet.decap()
    raise PipelineError(f"{action}: not an action the simulator knows")
