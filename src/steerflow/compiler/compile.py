"""The compiler of one chassis: NB documents to the flows and groups its switch must hold, kept
current change by change.

The desired state is a `FlowUnion` of units: the L2 fabric (with the chassis' groups), what every
chassis holds, one unit per port chain (both directions) and one per function instance (its delivery,
shared by the chains it serves). `ChassisCompiler.compile(objects, changed)` recompiles only the units a
change can concern, found through what each chain was resolved from (its documents and ports, see
`chain_view.DocReader`); networks (and the chassis' own document) concern everything, so they
recompile all, while another chassis' document concerns the fabric and the units using the ports bound
on it (a chassis joining must not make every agent recompile every chain). The result is always
equal to compiling from scratch (`compile_nb`): tests hold the two to that.

A changed chain rolls out make-before-break across chassis (`rollout`): each chain has the view in
force (unit rank 3), maybe a pending one and retired ones (ranks 4 and 5, compiled without
classification); the caller gives the NB revision and the time, and other chassis' reports arrive as
`chassis_status` documents. With the default `IMMEDIATE` times every change is in force at once, which
is what compiling from scratch gives.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from steerflow.compiler.chain import (
    DriverFor,
    InstanceUse,
    chain_unit,
    infra_flows,
    instance_unit,
    instance_uses,
)
from steerflow.compiler.chain_view import LOCAL_PORTS, Chain, Dependency, DocReader, Docs, resolve_chain
from steerflow.compiler.encap import driver, unusable
from steerflow.compiler.l2 import l2_flows, l2_groups, network_flows, port_flows
from steerflow.compiler.rollout import IMMEDIATE, ChainRollout, RolloutTimes
from steerflow.compiler.union import FlowUnion, UnitId
from steerflow.compiler.view import ChassisView, LogicalPort, build_view, logical_networks
from steerflow.flows.types import Flow, FlowKey, Group, index_flows
from steerflow.model import schema
from steerflow.nbdb.concerns import ConcernLog
from steerflow.nbdb.status import installed_revisions

LOG = logging.getLogger(__name__)

L2_UNIT: UnitId = (0, 0, "l2")  # the networks' flows; each port's are a unit (0, 1, port id) of its own
INFRA_UNIT: UnitId = (1, 0, "infra")
INSTANCE_RANK, IN_FORCE_RANK, PENDING_RANK, RETIRING_RANK = 2, 3, 4, 5  # the lower wins a shared key
PORT_KINDS = frozenset({schema.PORT, schema.PORT_BINDING})  # a binding's id is its port's id
GLOBAL_KINDS = frozenset({schema.NETWORK})  # network keys: every unit uses them (`logical_networks`)
ANY_PORT: Dependency = ("ports", "*")  # a chain whose header names its origin port (`_tags_origins`)


@dataclass(frozen=True)
class DesiredState:
    """What the switch of one chassis must hold, exactly."""

    flows: Mapping[FlowKey, Flow]
    groups: Mapping[int, Group]


@dataclass(frozen=True)
class Delta:
    """What one `compile` changed: the flow keys (added, changed or gone) and whether groups did;
    `everything`: compiled from scratch, compare the whole state."""

    flows: frozenset[FlowKey] = frozenset()
    groups: bool = False
    everything: bool = False


def _ports_on(objects: Docs, chassis: set[str]) -> set[str]:
    """The ports bound on any of `chassis`: what a remote chassis' arrival, departure or new underlay
    address concerns (the view forwards to a port through its chassis' address, or not at all)."""
    if not chassis:
        return set()
    bindings = objects.get(schema.PORT_BINDING, {})
    return {id for id, binding in bindings.items() if binding.get(schema.CHASSIS) in chassis}


def compile_nb(objects: Docs, chassis: str, tunnel_ofport: int) -> DesiredState:
    """Pure: NB documents (kind -> id -> value) to the desired state of `chassis`, from scratch."""
    compiler = ChassisCompiler(chassis, tunnel_ofport)
    compiler.compile(objects)
    return compiler.state


def compile_chassis(view: ChassisView) -> DesiredState:
    """Pure: the state of a chassis whose NB holds no chain (the L2 fabric and the fixed flows)."""
    flows = index_flows([*l2_flows(view), *infra_flows()])
    return DesiredState(flows=flows, groups=_index_groups(l2_groups(view)))


@dataclass
class _Chains:
    """The chains' views (`rollout`) and what ties them to the rest of the model."""

    rollouts: dict[str, ChainRollout] = field(default_factory=dict)  # by document id
    units: dict[str, set[UnitId]] = field(default_factory=dict)  # chain -> its views' units holding flows
    deps: dict[str, tuple[Dependency, ...]] = field(default_factory=dict)  # distinct
    # the chain reading a dependency, or a set of them where several do: most are read by one chain
    # (its classifier, its ports), and a set apiece cost ~200 bytes per dependency (16 MB at 10,000 chains)
    dependents: dict[Dependency, str | set[str]] = field(default_factory=dict)
    held: dict[str, list[InstanceUse]] = field(default_factory=dict)  # chain -> its views' uses
    uses: dict[int, dict[str, list[InstanceUse]]] = field(default_factory=dict)  # instance -> chain ->
    unaware: Counter[int] = field(default_factory=Counter)  # instance -> unaware (chain, hop)s served
    remembered: Counter[int] = field(default_factory=Counter)  # instance -> uses losing metadata
    correlations: dict[int, Counter[str]] = field(default_factory=dict)  # instance -> chains' headers
    shared: frozenset[int] = frozenset()  # the tracked instances (see `reshare`)
    driver_for: DriverFor = driver

    def depend(self, chain_id: str, deps: Iterable[Dependency]) -> None:
        self.deps[chain_id] = held = tuple(set(deps))
        for dep in held:
            users = self.dependents.get(dep)
            if users is None:
                self.dependents[dep] = chain_id
            elif isinstance(users, set):
                users.add(chain_id)
            elif users != chain_id:
                self.dependents[dep] = {users, chain_id}

    def undepend(self, chain_id: str) -> None:
        for dep in self.deps.pop(chain_id, ()):
            users = self.dependents[dep]
            if not isinstance(users, set):
                if users == chain_id:
                    del self.dependents[dep]
                continue
            users.discard(chain_id)
            if len(users) == 1:
                self.dependents[dep] = next(iter(users))

    def concerned(self, deps: Iterable[Dependency]) -> set[str]:
        found: set[str] = set()
        for dep in deps:
            users = self.dependents.get(dep)
            if isinstance(users, set):
                found |= users
            elif users is not None:
                found.add(users)
        return found

    def refresh_uses(self, chain_id: str) -> set[int]:
        """Replace the chain's registered uses with those of its views now; the instances touched."""
        old = self.held.pop(chain_id, [])
        for use in old:
            by_chain = self.uses.get(use.instance.key)  # gone already when the chain uses it twice
            if by_chain is not None:
                by_chain.pop(chain_id, None)
                if not by_chain:
                    del self.uses[use.instance.key]
            self._count(use, -1)
        rollout = self.rollouts.get(chain_id)
        new = _distinct_uses(rollout.views() if rollout else (), self.driver_for)
        for use in new:
            self.uses.setdefault(use.instance.key, {}).setdefault(chain_id, []).append(use)
            self._count(use, +1)
        if new:
            self.held[chain_id] = new
        return {use.instance.key for use in (*old, *new)}

    def _count(self, use: InstanceUse, step: int) -> None:
        key = use.instance.key
        if not use.instance.aware and not use.tap:  # a tap's returns are dropped: nothing to tell
            self.unaware[key] += step  # each use is a distinct (chain, direction, hop)
        if use.remembered:
            self.remembered[key] += step
        counts = self.correlations.setdefault(key, Counter())
        counts[use.correlation] += step
        if counts[use.correlation] <= 0:
            del counts[use.correlation]
            if not counts:
                del self.correlations[key]

    def reshare(self, instances: set[int]) -> set[int]:
        """Which of `instances` are tracked now: unaware functions serving several (chain, hop)s (their
        egress port alone cannot tell where a return goes on) and functions whose returns lose the
        header's metadata (`EncapDriver.remembers`), so conntrack remembers each connection's hop and
        origin (see `chain`); the ones that flipped."""
        tracked = {key for key in instances if self.unaware[key] > 1 or self.remembered[key] > 0}
        now = (self.shared - instances) | tracked
        flipped = set(now ^ self.shared)
        self.shared = now
        return flipped


def _distinct_uses(views: Iterable[Chain], driver_for: DriverFor) -> list[InstanceUse]:
    """The uses of a chain's views, each (instance, direction, hop) once: the newest view's."""
    found: dict[tuple[int, str, bool, int], InstanceUse] = {}
    for chain in views:
        for use in instance_uses(chain, driver_for):
            found.setdefault(use.identity, use)
    return list(found.values())


class ChassisCompiler:
    """The desired state of one chassis, recompiled by the units a change concerns.

    `times`: how changed chains roll out (`rollout`); the default, `IMMEDIATE`, puts every change in
    force at once (what compiling from scratch gives); the agent stages them. `concerns`: which chassis
    the NB's revisions concerned, kept current by the caller up to the documents it compiles (the
    agent's `NbCache.concerns`): a chassis reports only revisions concerning it, so one that reported
    every such revision holds the newer ones too (None: only its report counts)."""

    def __init__(
        self,
        chassis: str,
        tunnel_ofport: int,
        driver_for: DriverFor = driver,
        times: RolloutTimes = IMMEDIATE,
        concerns: ConcernLog | None = None,
    ) -> None:
        self.chassis = chassis
        self.concerns = concerns
        self.tunnel_ofport = tunnel_ofport
        self.driver_for = driver_for
        self.times = times
        self._view: ChassisView | None = None
        self._union = FlowUnion(quiet_rank=PENDING_RANK)
        self._l2_ports: set[str] = set()  # the ports whose L2 unit holds flows
        self._groups: dict[int, Group] = {}
        self._chains = _Chains(driver_for=driver_for)
        self._unsettled: set[str] = set()  # chains with a pending or retiring view
        self._serial = 0

    @property
    def state(self) -> DesiredState:
        """The current desired state (live: valid until the next `compile`)."""
        return DesiredState(self._union.flows, self._groups)

    @property
    def waiting(self) -> bool:
        """Whether a chain waits for other chassis' reports (`installed_revision`) to go into force."""
        return any(self._chains.rollouts[c].has_pending for c in self._unsettled)

    def in_force_revision(self, revision: int) -> int:
        """The newest NB revision whose changes are all in force here, compiled at `revision`."""
        waiting = [r.since for c in self._unsettled if (r := self._chains.rollouts[c]).has_pending]
        return min(waiting) - 1 if waiting else revision

    def next_deadline(self) -> float | None:
        """When a compile has something to do though nothing is reported (a timeout, a grace ending)."""
        due = (self._chains.rollouts[c].deadline(self.times) for c in self._unsettled)
        return min((d for d in due if d is not None), default=None)

    def compile(
        self,
        objects: Docs,
        changed: Collection[Dependency] | None = None,
        *,
        revision: int = 0,
        now: float = 0.0,
    ) -> Delta:
        """Bring the state to `objects` (NB `revision`, at monotonic time `now`); `changed`: the
        (kind, id)s changed since the last compile (None: unknown, compile everything)."""
        clock = _Clock(revision, now)
        if changed is None or self._view is None or (schema.CHASSIS, self.chassis) in changed:
            return self._compile_all(objects, clock)
        if self._keys_moved(objects, changed):
            return self._compile_all(objects, clock)
        remotes = {id for kind, id in changed if kind == schema.CHASSIS}
        port_ids = {id for kind, id in changed if kind in PORT_KINDS} | _ports_on(objects, remotes)
        pairs = any(kind == schema.PORT_PAIR for kind, _ in changed)  # pairs make service ports
        keys: set[FlowKey] = set()
        groups = False
        local = False  # whether the local ports (all a classifier without source port reads) changed
        if port_ids or pairs or remotes:
            before = self._local_ports()
            keys, groups = self._compile_fabric(objects, None if pairs else port_ids)
            local = before != self._local_ports()
        dirty = {id for kind, id in changed if kind == schema.PORT_CHAIN}
        dirty |= _graph_sources(objects, changed)
        dirty |= self._chains.concerned(
            (schema.PORT if kind in PORT_KINDS else kind, id) for kind, id in changed
        )
        dirty |= self._chains.concerned((schema.PORT, id) for id in port_ids)
        if local:
            # a classifier without source port classifies every local port: a port bound, or a function
            # created, elsewhere is none of its business (or every chassis joining recompiled all such
            # chains on every agent: 20 s on the classifying chassis of 10,000 chains)
            dirty |= self._chains.concerned((LOCAL_PORTS,))
        if port_ids or pairs:
            dirty |= self._chains.concerned((ANY_PORT,))
        keys |= self._recompile(objects, dirty, clock)
        return Delta(frozenset(keys), groups)

    def _keys_moved(self, objects: Docs, changed: Collection[Dependency]) -> bool:
        """Whether a network change moved a key every unit reads; a rename moves none (it recompiled
        every flow and chain on every chassis: one network's update, 20-60 ms per agent at 200 ports)."""
        if not any(kind in GLOBAL_KINDS for kind, _ in changed):
            return False
        return self._view is None or logical_networks(objects) != self._view.networks

    def _compile_all(self, objects: Docs, clock: _Clock) -> Delta:
        first = self._view is None  # nothing in force yet: establish everything, staging nothing
        rollouts = self._chains.rollouts
        self._union = FlowUnion(quiet_rank=PENDING_RANK)
        self._l2_ports = set()
        self._chains = _Chains(rollouts=rollouts, driver_for=self.driver_for)
        self._compile_fabric(objects, None)
        self._union.replace(INFRA_UNIT, infra_flows())
        dirty = set(objects.get(schema.PORT_CHAIN, {})) | set(rollouts)
        self._recompile(objects, dirty, None if first else clock)
        return Delta(everything=True, groups=True)

    def _local_ports(self) -> dict[str, LogicalPort]:
        return {} if self._view is None else {p.id: p for p in self._view.local_ports()}

    def _compile_fabric(self, objects: Docs, port_ids: set[str] | None) -> tuple[set[FlowKey], bool]:
        """The view and the L2 units: the changed keys and whether the groups changed. `port_ids`: the
        ports changed (None: any may have); only their units are compiled again, unless what every
        port's flows read (the networks, the other chassis, the tunnel port) moved."""
        before, view = self._view, build_view(objects, self.chassis, self.tunnel_ofport)
        self._view = view
        keys = self._union.replace(L2_UNIT, network_flows(view))
        if port_ids is None or before is None or _fabric_moved(before, view):
            port_ids = self._l2_ports | set(view.port_index)
        for port_id in port_ids:
            port = view.port_index.get(port_id)
            keys |= self._union.replace(_port_unit(port_id), port_flows(view, port) if port else ())
            if port is None:
                self._l2_ports.discard(port_id)
            else:
                self._l2_ports.add(port_id)
        groups = _index_groups(l2_groups(view))
        changed, self._groups = groups != self._groups, groups
        return keys, changed

    def _recompile(self, objects: Docs, dirty: set[str], clock: _Clock | None) -> set[FlowKey]:
        """Resolve the `dirty` chains again and stage them (`clock` None: establish them), advance every
        rollout, and compile what moved."""
        self._resolve(objects, dirty, clock)
        moved = dirty | (self._advance(objects, clock.now, clock.revision) if clock is not None else set())
        chains = self._chains
        instances: set[int] = set()
        for chain_id in moved:
            instances |= chains.refresh_uses(chain_id)
        flipped = chains.reshare(instances)
        again = {chain_id for key in flipped for chain_id in chains.uses.get(key, {})}
        keys: set[FlowKey] = set()
        for chain_id in moved | again:
            keys |= self._compile_chain(chain_id)
        for chain_id in moved:
            if chain_id in chains.rollouts and chains.rollouts[chain_id].empty:
                del chains.rollouts[chain_id]
        for key in instances:
            keys |= self._compile_instance(key)
        return keys

    def _resolve(self, objects: Docs, dirty: set[str], clock: _Clock | None) -> None:
        assert self._view is not None
        chains, documents = self._chains, objects.get(schema.PORT_CHAIN, {})
        for chain_id in dirty:
            chains.undepend(chain_id)
            doc = documents.get(chain_id)
            chain = None
            if doc is not None:
                reader = DocReader(objects, self._view.port_index)
                chain = resolve_chain(doc, reader)
                why = None if chain is None else unusable(chain, self.driver_for)
                if why is not None:  # never half-wired: the chain stays inert here
                    LOG.error(
                        "chain %s cannot be compiled on %s: %s", chain_id, self.chassis, why,
                        extra={"chain_id": chain_id},
                    )  # fmt: skip
                    chain = None
                elif chain is not None and chain.branches:  # an inert destination is no branch
                    usable = tuple(b for b in chain.branches if unusable(b, self.driver_for) is None)
                    chain = replace(chain, branches=usable)
                origins = chain is not None and LOCAL_PORTS in reader.read and self._tags_origins(chain)
                chains.depend(chain_id, reader.read | {ANY_PORT} if origins else reader.read)
            rollout = chains.rollouts.setdefault(chain_id, ChainRollout())
            if clock is None:
                rollout.establish(chain)
            else:
                rollout.stage(chain, clock.revision, clock.now, self.chassis, self.driver_for)
            if not rollout.settled:
                self._unsettled.add(chain_id)

    def _tags_origins(self, chain: Chain) -> bool:
        """Whether the chain's header names the port each packet came from (`chain._metadata`): then a
        classifier without source port reads every port of its network, on any chassis."""
        return any(self.driver_for(c.correlation).with_origin(c, None) for c in (chain, *chain.branches))

    def _installed(self, objects: Docs, revision: int) -> dict[str, int]:
        """Each chassis' installed revision; one that reported every revision concerning it holds
        `revision` (the one compiled) too."""
        installed = installed_revisions(objects.get(schema.CHASSIS_STATUS, {}))
        log = self.concerns
        if log is None:
            return installed
        return {c: max(r, revision) if log.holds_all(c, r) else r for c, r in installed.items()}

    def _advance(self, objects: Docs, now: float, revision: int) -> set[str]:
        """Promote the pending views that may go into force, end the retired ones whose grace is over;
        the chains whose views changed."""
        if not self._unsettled:
            return set()
        installed = self._installed(objects, revision)
        moved = set()
        for chain_id in sorted(self._unsettled):
            rollout = self._chains.rollouts[chain_id]
            lagging = rollout.lagging(installed) if rollout.has_pending else []
            if rollout.advance(installed, now, self.times, self._serial):
                self._serial += 1
                moved.add(chain_id)
                if lagging and not rollout.has_pending:
                    LOG.warning(
                        "chain %s: in force without %s's report (waited %.1fs)",
                        chain_id,
                        ", ".join(lagging),
                        self.times.ready_timeout,
                        extra={"chain_id": chain_id},
                    )
            if rollout.settled:
                self._unsettled.discard(chain_id)
        return moved

    def _compile_chain(self, chain_id: str) -> set[FlowKey]:
        """The units of every view of the chain: the one in force whole, the others without entry."""
        assert self._view is not None
        rollout = self._chains.rollouts.get(chain_id)
        wanted: dict[UnitId, tuple[Chain, bool]] = {}
        if rollout is not None:
            if rollout.in_force is not None:
                wanted[(IN_FORCE_RANK, rollout.in_force.chain_id, chain_id)] = (rollout.in_force, True)
            if rollout.pending is not None:
                wanted[(PENDING_RANK, rollout.pending.chain_id, chain_id)] = (rollout.pending, False)
            for old in rollout.retiring:
                wanted[(RETIRING_RANK, old.chain.chain_id, f"{chain_id}#{old.serial}")] = (old.chain, False)
        keys: set[FlowKey] = set()
        for unit in self._chains.units.pop(chain_id, set()) - wanted.keys():
            keys |= self._union.replace(unit, ())
        held = set()
        for unit, (chain, entry) in wanted.items():
            flows = chain_unit(self._view, chain, self._chains.shared, self.driver_for, entry=entry)
            keys |= self._union.replace(unit, flows)
            if flows:
                held.add(unit)
        if held:  # none: the chain does not concern this chassis (`chain_unit`)
            self._chains.units[chain_id] = held
        return keys

    def _compile_instance(self, key: int) -> set[FlowKey]:
        assert self._view is not None
        unit: UnitId = (INSTANCE_RANK, key, "")
        users = self._chains.uses.get(key)
        # isdisjoint walks the smaller side: a chassis where none of an instance's thousands of chains
        # compiles anything (every chassis but theirs) looked each of them up on every write through it
        if not users or users.keys().isdisjoint(self._chains.units.keys()):
            return self._union.replace(unit, ())  # no chain sends to it from here
        instance = next(iter(users.values()))[0].instance  # every chain resolves a pair alike
        names = sorted(self._chains.correlations.get(key, ()))
        drivers = [self.driver_for(name) for name in names]
        tracked = key in self._chains.shared
        return self._union.replace(unit, instance_unit(self._view, instance, drivers, tracked))


def _graph_sources(objects: Docs, changed: Collection[Dependency]) -> set[str]:
    """The source chains of the changed service graphs that exist: a graph names its chains, which did
    not depend on it before it existed (a deleted graph's chains did: `DocReader`)."""
    graphs = objects.get(schema.SERVICE_GRAPH, {})
    found: set[str] = set()
    for kind, id in changed:
        graph = graphs.get(id) if kind == schema.SERVICE_GRAPH else None
        if graph is not None:
            found |= set(graph.get("port_chains") or {})
    return found


@dataclass(frozen=True)
class _Clock:
    revision: int  # the NB revision being compiled
    now: float  # monotonic seconds


def _port_unit(port_id: str) -> UnitId:
    return (L2_UNIT[0], 1, port_id)


def _fabric_moved(before: ChassisView, after: ChassisView) -> bool:
    """Whether what every port's L2 flows read besides the port itself changed."""
    return (before.networks, before.remotes, before.tunnel_ofport) != (
        after.networks,
        after.remotes,
        after.tunnel_ofport,
    )


def _index_groups(groups: Iterable[Group]) -> dict[int, Group]:
    indexed: dict[int, Group] = {}
    for group in groups:
        if group.group_id in indexed:
            raise ValueError(f"group id {group.group_id} compiled twice")
        indexed[group.group_id] = group
    return indexed
