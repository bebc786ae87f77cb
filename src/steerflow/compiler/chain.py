"""Service chains: classify, pick a function per hop, carry the header, proxy for unaware functions.

A packet's journey: CLASSIFY matches a chain's classifier and writes the first hop's label (reg2);
SFC_DISPATCH picks one instance of the hop while the packet is still plain (multipath hashes its
lb_fields into a balance slot that SFC_BALANCE maps to an instance: one flow always meets the same
instance, see `balance`); SFC_ENCAP pushes the header (unless a
local unaware instance was picked); SFC_DELIVER outputs to the instance, or tunnels it with the header
to the instance's chassis (VNI = the instance's delivery VNI), where SFC_DELIVER outputs it (popping the
header for an unaware function: the proxy). What the function sends back from its egress port skips
port security into SFC_RETURN (every port of a pair is a service port, `l2`: nothing but a chain's
delivery reaches it, and what leaves it is a return or dropped), which tells the hop (by header, or
by port for an unaware function), strips the header and dispatches the next hop; after the last one,
the exit label hands the packet, plain and untouched, to ordinary L2 forwarding in the chain's home
network (a service graph's source chain first tries its destination chains' classifiers in
SFC_BRANCH: `_branches`).

A tap hop (a `tap_enabled` group) is not crossed: its SFC_DISPATCH flow hands a clone of the plain
packet to its instance (`clone(reg4=<instance>, <header>, resubmit SFC_DELIVER)`: header, delivery and
tunnel as for any instance, on a copy whose changes do not leak out), then dispatches the packet
itself, as it was, to the next hop (or the exit). What a tap sends back from its egress port is
dropped in SFC_RETURN, never dispatched; tap instances are never tracked (nothing of theirs comes back
to recall).

An unaware function serving several (chain, hop)s cannot be told apart by its egress port: on its
chassis, delivery commits each IP connection in the instance's conntrack zone with the hop label as
ct_mark (from reg2, or for a tunnelled arrival from the header before it is stripped), and its returns
go through ct(table=SFC_RETURN_CT), where the mark names the hop. The same commit keeps the origin port
key (reg8) as ct_label[0..31], restored on return: that is how metadata (NSH) survives a function that
loses it (an unaware one, or one whose header OVS cannot read: NSH MD2, committed in SFC_ENCAP before
the push), so the driver's `remembers` adds those instances to the tracked ones. Between forwarders the
header is the driver's `carry` form, whose metadata the far forwarder reads (`arrived`) before pushing
what its function expects. Limits: a function that rewrites the 5-tuple (NAT, proxies) or sends non-IP
cannot be followed (dropped); conntrack's own timeouts apply; zones (1 + key mod 65535) of two
instances may coincide, harmless unless one flow crosses both at once. See docs/sfc.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from steerflow.compiler.balance import dispatch_flows
from steerflow.compiler.chain_view import Chain, Hop, Instance
from steerflow.compiler.classify import NEIGHBOUR_DISCOVERY, ClassifierError, classifier_matches
from steerflow.compiler.encap import INNER_ETHERTYPES, EncapDriver
from steerflow.compiler.l2 import SERVICE_PORT_PRIORITY
from steerflow.compiler.symmetric import with_reverses
from steerflow.compiler.tables import (
    ARP_RESPONDER,
    CLASSIFY,
    INGRESS_PORT,
    L2_LOOKUP,
    PORT_SECURITY,
    SFC_BRANCH,
    SFC_DELIVER,
    SFC_DISPATCH,
    SFC_ENCAP,
    SFC_METADATA,
    SFC_RETURN,
    SFC_RETURN_CT,
)
from steerflow.compiler.view import ChassisView, LogicalPort
from steerflow.flows.types import (
    Action,
    Clone,
    Ct,
    Flow,
    Match,
    Move,
    Output,
    Resubmit,
    SetField,
)
from steerflow.model.sfc import FlowClassifier
from steerflow.pipeline import registers as reg
from steerflow.pipeline.cookies import CookieKind, cookie

LOG = logging.getLogger(__name__)


CLASSIFY_PRIORITY = 100
RETURN_PRIORITY = SERVICE_PORT_PRIORITY  # the fabric's own flow for a service port (`l2`)
NOT_A_RETURN_PRIORITY = 130  # address resolution from a function: never steered, so never a return
TRACKED_PRIORITY = 105  # a shared unaware function's IP packets: above its plain delivery
ARRIVAL_PRIORITY = 115  # a shared unaware function's tunnelled packets, by hop: above the plain strip
BRANCH_PRIORITY, BRANCH_MISS_PRIORITY = 100, 1  # a graph's branches; no branch matches: leave the graph
TAP_DISPATCH_PRIORITY = 100  # a tap hop's label, as any hop's
TAP_DROP_PRIORITY = 90  # what a tap sends back: below the returns band

DriverFor = Callable[[str], EncapDriver]


@dataclass(frozen=True)
class InstanceUse:
    """One (chain direction, hop) an instance serves: what its delivery flows depend on."""

    instance: Instance
    chain_id: str
    reverse: bool
    label: int  # the hop's label: stable while a chain changes (its position is not)
    correlation: str
    remembered: bool = False  # its connections are remembered for the header's sake (`remembers`)
    tap: bool = False  # a tap hop's: nothing comes back, so it never needs tracking

    @property
    def identity(self) -> tuple[int, str, bool, int]:
        """What tells uses apart: the same (instance, chain, direction, hop) in two views of a chain
        (see `rollout`) is one use."""
        return (self.instance.key, self.chain_id, self.reverse, self.label)


def instance_uses(chain: Chain, driver_for: DriverFor) -> Iterator[InstanceUse]:
    """Every instance the chain (both directions) sends packets to."""
    driver = driver_for(str(chain.correlation))
    for direction in with_reverses((chain,)):
        for hop in direction.hops:
            for inst in hop.instances:
                remembered = driver.remembers(direction, inst) and not hop.tap
                yield InstanceUse(
                    inst, chain.id, direction.reverse, hop.label, str(chain.correlation), remembered, hop.tap
                )
    for dst in chain.branches:  # its traffic enters their first hops here (`_branches`)
        first = dst.hops[0]
        for inst in first.instances:
            remembered = driver.remembers(dst, inst)
            yield InstanceUse(inst, dst.id, False, first.label, str(dst.correlation), remembered)


def chain_unit(
    view: ChassisView, chain: Chain, shared: AbstractSet[int], driver_for: DriverFor, *, entry: bool = True
) -> list[Flow]:
    """The flows of one chain, both directions, except the delivery to its instances (`instance_unit`:
    chains share those). `shared`: the tracked instances (conntrack remembers their connections).
    `entry` False: without classification, so nothing enters the chain here (`rollout`: a view that is
    not in force yet, or no longer). A chassis that neither classifies for the chain nor hosts one of
    its functions never sees its packets: it gets nothing."""
    flows: list[Flow] = []
    involved = _hosts_an_instance(view, chain)
    for direction in with_reverses((chain,)):
        driver = driver_for(str(direction.correlation))
        entries = list(_classify(view, direction))
        involved = involved or bool(entries)
        if entry:
            flows.extend(entries)
        flows.extend(_exit(direction))
        flows.extend(_branches(view, direction, shared, driver_for))
        flows.extend(_metadata(view, direction, driver))
        for hop in direction.hops:
            if hop.tap:
                flows.extend(_tap(view, direction, hop, driver))
                continue
            flows.extend(_dispatch(direction, hop))
            for inst in hop.instances:
                tracked = inst.key in shared
                flows.extend(_encap(view, direction, hop, inst, driver, tracked))
                if tracked:
                    flows.extend(_tracked_arrivals(view, direction, hop, inst, driver))
                flows.extend(_return(view, direction, hop, inst, driver, tracked))
    return flows if involved else []


def _hosts_an_instance(view: ChassisView, chain: Chain) -> bool:
    """Whether a function of the chain is plugged here (its returns continue the chain here)."""
    return any(
        _is_local(view, port)
        for hop in chain.hops
        for inst in hop.instances
        for port in (inst.ingress, inst.egress)
    )


def instance_unit(
    view: ChassisView, instance: Instance, drivers: Iterable[EncapDriver], tracked: bool
) -> list[Flow]:
    """Delivery to one instance, for every chain it serves (their encapsulations: `drivers`), and what
    it sends back skipping port security (`_return`, per chain, tells where it goes on)."""
    return [*_deliver(view, instance, tuple(drivers), tracked), *_egress_returns(view, instance)]


def _egress_returns(view: ChassisView, inst: Instance) -> Iterator[Flow]:
    if _is_local(view, inst.egress):
        ck = cookie(CookieKind.PORT, inst.egress.id)  # a port may be the egress of several instances
        yield Flow(PORT_SECURITY, RETURN_PRIORITY, _from_port(inst.egress), goto=SFC_RETURN, cookie=ck)


def infra_flows() -> list[Flow]:
    """What every chassis holds, chains or not."""
    infra = cookie(CookieKind.INFRA)
    flows = [Flow(SFC_RETURN, 0, Match(), cookie=infra)]  # unknown returns: drop
    for nd in NEIGHBOUR_DISCOVERY:  # address resolution is never steered into a chain...
        flows.append(Flow(CLASSIFY, CLASSIFY_PRIORITY + 10, nd, goto=ARP_RESPONDER, cookie=infra))
        flows.append(Flow(SFC_RETURN, NOT_A_RETURN_PRIORITY, nd, cookie=infra))  # ...nor a return
    return flows


# ---- classification ----------------------------------------------------------------------------------


def _classify(view: ChassisView, chain: Chain) -> Iterator[Flow]:
    ports = view.port_index
    first = chain.hops[0].label
    priority = CLASSIFY_PRIORITY - 1 if chain.reverse else CLASSIFY_PRIORITY  # overlap: forward wins
    for fc in chain.classifiers:
        sources = _classified_where(
            view, chain, ports.get(fc.logical_source_port or ""), fc.logical_source_port
        )
        dst = ports.get(fc.logical_destination_port or "")
        if not sources or (fc.logical_destination_port and dst is None):
            continue  # nothing of it lives here, or its destination port is gone: nothing can match
        to_dst = Match() if dst is None else Match.of(eth_dst=dst.mac)
        try:
            headers = classifier_matches(fc)
        except ClassifierError as exc:  # the API refuses these; one stray must not stop the chassis
            LOG.error("classifier %s of chain %s ignored: %s", fc.id, chain.id, exc)
            continue
        enter = (SetField(reg.HOP, first), Move(reg.SRC_PORT, reg.ORIGIN, 32))
        ck = cookie(CookieKind.CLASSIFIER, fc.id)
        for where in sources:
            for header in headers:
                match = _merge(_merge(where, to_dst), header)
                yield Flow(CLASSIFY, priority, match, enter, goto=SFC_DISPATCH, cookie=ck)


def _classified_where(
    view: ChassisView, chain: Chain, src: LogicalPort | None, src_id: str | None
) -> tuple[Match, ...]:
    """Which packets a classifier may see here: from its source port (only where that port lives), or,
    without one, from every local port of the chain's home network that belongs to the chain's project
    (one project never steers another's traffic) and is no function's (a service port's frames never
    reach classification, `l2`)."""
    if src_id is None:
        return tuple(_from_port(port) for port in view.local_ports() if _may_originate(chain, port))
    if src is None or not _is_local(view, src):
        return ()
    return (_from_port(src),)


def _origins(view: ChassisView, chain: Chain) -> Iterator[LogicalPort]:
    """Every port, on any chassis, whose packets the chain's classifiers may take (`_classified_where`)."""
    for fc in chain.classifiers:
        if fc.logical_source_port is not None:
            port = view.port_index.get(fc.logical_source_port)
            if port is not None:
                yield port
            continue
        for port in view.ports:
            if _may_originate(chain, port):
                yield port


def _may_originate(chain: Chain, port: LogicalPort) -> bool:
    """Whether a classifier without source port takes the port's packets into the chain."""
    mine = chain.project_id in ("", port.project_id)
    return port.network_key == chain.home_network and mine and not port.service


def _from_port(port: LogicalPort) -> Match:
    return Match.of(**{reg.NETWORK: port.network_key, reg.SRC_PORT: port.key})


def _merge(a: Match, b: Match) -> Match:
    names = {f.name for f in b.fields}
    return Match(tuple(sorted((*(f for f in a.fields if f.name not in names), *b.fields))))


# ---- dispatch, exit ------------------------------------------------------------------------------------


def _dispatch(chain: Chain, hop: Hop) -> Iterator[Flow]:
    """Pick the hop's instance (reg4): directly if it has one, else by hash and balance slot."""
    yield from dispatch_flows(hop, chain.symmetric, next_label=chain.next_label(hop.position))


def _exit(chain: Chain) -> Iterator[Flow]:
    """After the last hop: back to plain L2 in the home network, registers cleared; a graph's source
    chain first tries its branches (`_branches`), and leaves the graph the same way when none matches."""
    clear: tuple[Action, ...] = tuple(
        SetField(r, 0) for r in (reg.HOP, reg.INSTANCE, reg.FLAGS, reg.SRC_PORT)
    )
    actions = (SetField(reg.NETWORK, chain.home_network), *clear)
    match = Match.of(**{reg.HOP: chain.exit_label})
    ck = cookie(CookieKind.CHAIN, chain.id)
    if not chain.branches:
        yield Flow(SFC_DISPATCH, 100, match, actions, goto=L2_LOOKUP, cookie=ck)
        return
    yield Flow(SFC_DISPATCH, 100, match, goto=SFC_BRANCH, cookie=ck)
    leave = cookie(CookieKind.GRAPH, chain.graph_id)
    yield Flow(SFC_BRANCH, BRANCH_MISS_PRIORITY, match, actions, goto=L2_LOOKUP, cookie=leave)


# ---- service graphs ------------------------------------------------------------------------------------


def _branches(
    view: ChassisView, chain: Chain, shared: AbstractSet[int], driver_for: DriverFor
) -> Iterator[Flow]:
    """A graph's source chain, after its last hop: the packet as the functions left it enters the
    destination chain whose classifiers match it (their logical source port ignored, their destination
    port kept), at that chain's first hop, whose dispatch and header push this chassis then needs too
    (it may hold nothing else of that chain). The API keeps one branch point's classifiers disjoint
    (rule 37), so they share one priority."""
    ck = cookie(CookieKind.GRAPH, chain.graph_id)
    left = Match.of(**{reg.HOP: chain.exit_label})
    for dst in chain.branches:
        first = dst.hops[0]
        enter = (SetField(reg.HOP, first.label), Resubmit(SFC_DISPATCH))
        for fc in dst.classifiers:
            for header in _branch_matches(view, dst, fc):
                yield Flow(SFC_BRANCH, BRANCH_PRIORITY, _merge(left, header), enter, cookie=ck)
        driver = driver_for(str(dst.correlation))
        yield from _dispatch(dst, first)
        for inst in first.instances:
            yield from _encap(view, dst, first, inst, driver, inst.key in shared)
        yield from _metadata(view, dst, driver, chain)


def _branch_matches(view: ChassisView, dst: Chain, fc: FlowClassifier) -> tuple[Match, ...]:
    """A destination chain's classifier as a branch matches it: headers and destination port."""
    to_dst = Match()
    if fc.logical_destination_port:
        port = view.port_index.get(fc.logical_destination_port)
        if port is None:
            return ()  # its destination port is gone: nothing can match
        to_dst = Match.of(eth_dst=port.mac)
    try:
        return tuple(_merge(to_dst, header) for header in classifier_matches(fc))
    except ClassifierError as exc:  # the API refuses these; one stray must not stop the chassis
        LOG.error("classifier %s of chain %s ignored: %s", fc.id, dst.id, exc)
        return ()


# ---- taps ------------------------------------------------------------------------------------------------


def _tap(view: ChassisView, chain: Chain, hop: Hop, driver: EncapDriver) -> Iterator[Flow]:
    """A tap hop: per inner ethertype, a copy of the plain packet to each instance (the API allows one
    per tap group), the packet itself on to the next hop unaltered; the drop of what the tap sends.

    The copy's header is pushed inside the clone itself, not in SFC_ENCAP through a resubmit: OVS
    translates a clone whose own actions it deems reversible (set_field, resubmit) without a datapath
    clone, undoing its changes afterwards, and cannot undo an encap(nsh) done in a resubmitted table
    (the packet went on with the tap's NSH header). An encap among the clone's own actions makes it a
    datapath clone; an MPLS or VLAN push is undone correctly either way."""
    ck = cookie(CookieKind.HOP, hop.group_id)
    onward = (SetField(reg.HOP, chain.next_label(hop.position)), Resubmit(SFC_DISPATCH))
    for ethertype in INNER_ETHERTYPES:
        copies = tuple(
            Clone(
                (
                    SetField(reg.INSTANCE, inst.key),
                    *_header(view, chain, hop, inst, driver, ethertype),
                    Resubmit(SFC_DELIVER),
                )
            )
            for inst in hop.instances
        )
        heading = Match.of(**{reg.HOP: hop.label}, eth_type=ethertype)
        yield Flow(SFC_DISPATCH, TAP_DISPATCH_PRIORITY, heading, (*copies, *onward), cookie=ck)
    for inst in hop.instances:
        if _is_local(view, inst.egress):  # a tap's output is never a return
            yield Flow(SFC_RETURN, TAP_DROP_PRIORITY, _from_port(inst.egress), (), cookie=ck)


# ---- header and delivery --------------------------------------------------------------------------------


def _metadata(
    view: ChassisView, chain: Chain, driver: EncapDriver, source: Chain | None = None
) -> Iterator[Flow]:
    """The driver's per-origin header pushes (NSH MD2), for every port the chain may take packets from
    (`source`: a graph's source chain, whose packets it takes at its first hop): on any chassis, since a
    function's forwarder pushes what a tunnel carried to it."""
    ck = cookie(CookieKind.CHAIN, chain.id)
    fallback = driver.with_origin(chain, None)
    if fallback is None:
        return
    yield Flow(SFC_METADATA, 1, *fallback, cookie=ck)
    for origin in sorted({port.key for port in _origins(view, source or chain)}):
        found = driver.with_origin(chain, origin)
        if found is not None:
            yield Flow(SFC_METADATA, 100, *found, cookie=ck)


def _encap(
    view: ChassisView, chain: Chain, hop: Hop, inst: Instance, driver: EncapDriver, tracked: bool
) -> Iterator[Flow]:
    ck = cookie(CookieKind.HOP, hop.group_id)
    base = Match.of(**{reg.HOP: hop.label, reg.INSTANCE: inst.key})
    local = _is_local(view, inst.ingress)
    if not inst.aware and local:
        yield Flow(SFC_ENCAP, 100, base, goto=SFC_DELIVER, cookie=ck)  # the proxy: never pushed
        return
    for ethertype in INNER_ETHERTYPES:
        actions = _header(view, chain, hop, inst, driver, ethertype)
        if local and tracked:  # remembered before the push: conntrack cannot see through the header
            actions = (_remember(inst), *actions)
        yield Flow(SFC_ENCAP, 100, base.extend(eth_type=ethertype), actions, goto=SFC_DELIVER, cookie=ck)


def _header(
    view: ChassisView, chain: Chain, hop: Hop, inst: Instance, driver: EncapDriver, ethertype: int
) -> tuple[Action, ...]:
    """The header a plain packet heading to `inst` gets here: the driver's push for a local aware
    function, its carry for a function elsewhere, none for a local unaware one (the proxy)."""
    if not _is_local(view, inst.ingress):
        return driver.carry(chain, hop, inst, ethertype)
    return driver.push(chain, hop, inst, ethertype) if inst.aware else ()


def _remember(inst: Instance) -> Ct:
    """Commit the plain IP packet's connection in the instance's zone: ct_mark = the hop (reg2),
    ct_label[0..31] = the origin port key (reg8); its returns recall both (SFC_RETURN_CT)."""
    keep = (Move(reg.HOP, "ct_mark", 32), Move(reg.ORIGIN, "ct_label", 32))
    return Ct(commit=True, zone=_zone(inst), actions=keep)


def _deliver(
    view: ChassisView, inst: Instance, drivers: tuple[EncapDriver, ...], tracked: bool
) -> Iterator[Flow]:
    ck = cookie(CookieKind.INSTANCE, inst.id)
    mine = Match.of(**{reg.INSTANCE: inst.key})
    port = inst.ingress
    if _is_local(view, port):
        assert port.ofport is not None
        yield Flow(SFC_DELIVER, 100, mine, (Output(port.ofport),), cookie=ck)
        if tracked and not inst.aware:  # remember hop and origin per connection (`_remember`)
            for ethertype in INNER_ETHERTYPES:
                ip, actions = mine.extend(eth_type=ethertype), (_remember(inst), Output(port.ofport))
                yield Flow(SFC_DELIVER, TRACKED_PRIORITY, ip, actions, cookie=ck)
        if not inst.aware:
            for header, strip in (pair for driver in drivers for pair in driver.strip()):
                yield Flow(SFC_DELIVER, 110, _merge(mine, header), (*strip, Output(port.ofport)), cookie=ck)
        tunnel = Match.of(in_port=view.tunnel_ofport, tunnel_id=inst.vni)
        arrived = (SetField(reg.INSTANCE, inst.key), SetField(reg.FLAGS, reg.FLAG_FROM_TUNNEL))
        yield Flow(INGRESS_PORT, 100, tunnel, arrived, goto=SFC_DELIVER, cookie=ck)
    elif port.chassis is not None and port.chassis in view.remotes:
        remote = view.remotes[port.chassis]
        to_chassis = (SetField("tun_ipv4_dst", remote.underlay_ip), SetField("tunnel_id", inst.vni))
        yield Flow(SFC_DELIVER, 100, mine, (*to_chassis, Output(view.tunnel_ofport)), cookie=ck)


def _tracked_arrivals(
    view: ChassisView, chain: Chain, hop: Hop, inst: Instance, driver: EncapDriver
) -> Iterator[Flow]:
    """A tracked function's packets tunnelled here with the carried header: the header tells the hop
    (to reg2) and its metadata (origin to reg8) before it is stripped; then SFC_ENCAP treats the
    packet like a local one (remember, push what the function expects, deliver)."""
    if not _is_local(view, inst.ingress):
        return
    ck = cookie(CookieKind.HOP, hop.group_id)
    mine = Match.of(**{reg.INSTANCE: inst.key})
    for header, strip in driver.arrived(chain, hop):
        actions = (SetField(reg.HOP, hop.label), *strip, Resubmit(SFC_ENCAP))
        yield Flow(SFC_DELIVER, ARRIVAL_PRIORITY, _merge(mine, header), actions, cookie=ck)


def _zone(inst: Instance) -> int:
    """The instance's conntrack zone (16 bits, never 0: zone 0 is everyone's default)."""
    return 1 + inst.key % 0xFFFF


def _is_local(view: ChassisView, port: LogicalPort) -> bool:
    return port.chassis == view.chassis and port.ofport is not None


# ---- back from a function ----------------------------------------------------------------------------------


def _return(
    view: ChassisView,
    chain: Chain,
    hop: Hop,
    inst: Instance,
    driver: EncapDriver,
    tracked: bool,
) -> Iterator[Flow]:
    egress = inst.egress
    if not _is_local(view, egress):
        return
    ck = cookie(CookieKind.HOP, hop.group_id)
    from_egress = _from_port(egress)
    onward = (SetField(reg.HOP, chain.next_label(hop.position)), Resubmit(SFC_DISPATCH))
    if inst.aware and not tracked:
        for header, strip in driver.returned(chain, hop):
            yield Flow(SFC_RETURN, 100, _merge(from_egress, header), (*strip, *onward), cookie=ck)
        return
    if not tracked:  # what was delivered is IP: whatever else the function emits is not a return
        for ethertype in INNER_ETHERTYPES:
            yield Flow(SFC_RETURN, 100, from_egress.extend(eth_type=ethertype), onward, cookie=ck)
        return
    yield from _recall(chain, hop, inst, driver, from_egress, onward)


def _recall(
    chain: Chain,
    hop: Hop,
    inst: Instance,
    driver: EncapDriver,
    from_egress: Match,
    onward: tuple[Action, ...],
) -> Iterator[Flow]:
    """A tracked instance's returns: conntrack recalls the connection's hop and origin (`_remember`).
    An aware function's header is stripped first (back to SFC_RETURN, flagged: conntrack needs the
    plain IP packet); non-IP returns are dropped."""
    ck = cookie(CookieKind.HOP, hop.group_id)
    ip_from_egress = from_egress
    if inst.aware:
        stripped = (SetField(reg.FLAGS, reg.FLAG_STRIPPED), Resubmit(SFC_RETURN))
        for header, strip in driver.returned(chain, hop):
            yield Flow(SFC_RETURN, 100, _merge(from_egress, header), (*strip, *stripped), cookie=ck)
        ip_from_egress = from_egress.extend(**{reg.FLAGS: (reg.FLAG_STRIPPED, reg.FLAG_STRIPPED)})
    for ethertype in INNER_ETHERTYPES:
        recall = Ct(zone=_zone(inst), table=SFC_RETURN_CT)
        yield Flow(SFC_RETURN, 100, ip_from_egress.extend(eth_type=ethertype), (recall,), cookie=ck)
    restore = (Move("ct_label", reg.ORIGIN, 32), SetField(reg.FLAGS, 0))
    mark = _merge(from_egress, Match.of(ct_mark=hop.label))
    yield Flow(SFC_RETURN_CT, 100, mark, (*restore, *onward), cookie=ck)
