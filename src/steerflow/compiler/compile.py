"""The compiler of one chassis: NB documents to the flows and groups its switch must hold, kept
current change by change.

The desired state is a `FlowUnion` of units: the L2 fabric (with the chassis' groups), what every
chassis holds, one unit per port chain (both directions) and one per function instance (its delivery,
shared by the chains it serves). `ChassisCompiler.compile(objects, changed)` recompiles only the units a
change can concern, found through what each chain was resolved from (its documents and ports, see
`chain_view.DocReader`); networks and chassis concern everything, so they recompile all. The result is
always equal to compiling from scratch (`compile_nb`): tests hold the two to that.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from steerflow.compiler.chain import (
    DriverFor,
    InstanceUse,
    chain_unit,
    infra_flows,
    instance_unit,
    instance_uses,
)
from steerflow.compiler.chain_view import LOCAL_PORTS, Chain, Dependency, DocReader, Docs, resolve_chain
from steerflow.compiler.encap import driver
from steerflow.compiler.l2 import l2_flows, l2_groups
from steerflow.compiler.union import FlowUnion, UnitId
from steerflow.compiler.view import ChassisView, build_view
from steerflow.flows.types import Flow, FlowKey, Group
from steerflow.reconcile.diff import index_flows

LOG = logging.getLogger(__name__)

L2_UNIT: UnitId = (0, 0, "l2")
INFRA_UNIT: UnitId = (1, 0, "infra")
PORT_KINDS = frozenset({"port", "port_binding"})  # a binding's id is its port's id
GLOBAL_KINDS = frozenset({"network", "chassis"})  # keys and underlay addresses every unit uses


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
    """The resolved chains and what ties them to the rest of the model."""

    resolved: dict[str, Chain] = field(default_factory=dict)  # by document id (inert ones absent)
    units: dict[str, UnitId] = field(default_factory=dict)
    deps: dict[str, frozenset[Dependency]] = field(default_factory=dict)
    dependents: dict[Dependency, set[str]] = field(default_factory=dict)
    uses: dict[int, dict[str, list[InstanceUse]]] = field(default_factory=dict)  # instance -> chain ->
    unaware: Counter[int] = field(default_factory=Counter)  # instance -> unaware (chain, hop)s served
    remembered: Counter[int] = field(default_factory=Counter)  # instance -> uses losing metadata
    correlations: dict[int, Counter[str]] = field(default_factory=dict)  # instance -> chains' headers
    shared: frozenset[int] = frozenset()  # the tracked instances (see `reshare`)
    driver_for: DriverFor = driver

    def depend(self, chain_id: str, deps: Iterable[Dependency]) -> None:
        self.deps[chain_id] = frozenset(deps)
        for dep in self.deps[chain_id]:
            self.dependents.setdefault(dep, set()).add(chain_id)

    def concerned(self, deps: Iterable[Dependency]) -> set[str]:
        return {chain_id for dep in deps for chain_id in self.dependents.get(dep, ())}

    def forget(self, chain_id: str) -> set[int]:
        """Drop a chain's resolution; the instances it used."""
        for dep in self.deps.pop(chain_id, ()):
            users = self.dependents[dep]
            users.discard(chain_id)
            if not users:
                del self.dependents[dep]
        old = self.resolved.pop(chain_id, None)
        uses = list(instance_uses(old, self.driver_for)) if old is not None else []
        for use in uses:
            key = use.instance.key
            by_chain = self.uses.get(key)  # gone already when the chain uses the instance twice
            if by_chain is not None:
                by_chain.pop(chain_id, None)
                if not by_chain:
                    del self.uses[key]
            self._count(use, -1)
        return {use.instance.key for use in uses}

    def adopt(self, chain_id: str, chain: Chain) -> set[int]:
        """Record a resolved chain; the instances it uses."""
        self.resolved[chain_id] = chain
        uses = list(instance_uses(chain, self.driver_for))
        for use in uses:
            self.uses.setdefault(use.instance.key, {}).setdefault(chain_id, []).append(use)
            self._count(use, +1)
        return {use.instance.key for use in uses}

    def _count(self, use: InstanceUse, step: int) -> None:
        key = use.instance.key
        if not use.instance.aware:
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


class ChassisCompiler:
    """The desired state of one chassis, recompiled by the units a change concerns."""

    def __init__(self, chassis: str, tunnel_ofport: int, driver_for: DriverFor = driver) -> None:
        self.chassis = chassis
        self.tunnel_ofport = tunnel_ofport
        self.driver_for = driver_for
        self._view: ChassisView | None = None
        self._union = FlowUnion()
        self._groups: dict[int, Group] = {}
        self._chains = _Chains(driver_for=driver_for)

    @property
    def state(self) -> DesiredState:
        """The current desired state (live: valid until the next `compile`)."""
        return DesiredState(self._union.flows, self._groups)

    def compile(self, objects: Docs, changed: Collection[Dependency] | None = None) -> Delta:
        """Bring the state to `objects`; `changed`: the (kind, id)s changed since the last compile
        (None: unknown, compile everything)."""
        if changed is None or self._view is None or any(kind in GLOBAL_KINDS for kind, _ in changed):
            return self._compile_all(objects)
        port_ids = {id for kind, id in changed if kind in PORT_KINDS}
        keys: set[FlowKey] = set()
        groups = False
        if port_ids:
            keys, groups = self._compile_fabric(objects)
        dirty = {id for kind, id in changed if kind == "port_chain"}
        dirty |= self._chains.concerned(("port" if kind in PORT_KINDS else kind, id) for kind, id in changed)
        if port_ids:
            dirty |= self._chains.concerned((LOCAL_PORTS,))
        keys |= self._recompile(objects, dirty)
        return Delta(frozenset(keys), groups)

    def _compile_all(self, objects: Docs) -> Delta:
        self._union, self._chains = FlowUnion(), _Chains(driver_for=self.driver_for)
        self._compile_fabric(objects)
        self._union.replace(INFRA_UNIT, infra_flows())
        self._recompile(objects, set(objects.get("port_chain", {})))
        return Delta(everything=True, groups=True)

    def _compile_fabric(self, objects: Docs) -> tuple[set[FlowKey], bool]:
        """The view and the L2 unit: the changed keys and whether the groups changed."""
        self._view = build_view(objects, self.chassis, self.tunnel_ofport)
        keys = self._union.replace(L2_UNIT, index_flows(l2_flows(self._view)).values())
        groups = _index_groups(l2_groups(self._view))
        changed, self._groups = groups != self._groups, groups
        return keys, changed

    def _recompile(self, objects: Docs, dirty: set[str]) -> set[FlowKey]:
        assert self._view is not None
        chains, documents = self._chains, objects.get("port_chain", {})
        instances: set[int] = set()
        for chain_id in dirty:
            instances |= chains.forget(chain_id)
            doc = documents.get(chain_id)
            if doc is None:
                continue
            reader = DocReader(objects, self._view.port_index)
            chain = resolve_chain(doc, reader)
            chains.depend(chain_id, reader.read)
            if chain is not None:
                instances |= chains.adopt(chain_id, chain)
        flipped = chains.reshare(instances)
        again = {chain_id for key in flipped for chain_id in chains.uses.get(key, {})}
        keys: set[FlowKey] = set()
        for chain_id in dirty | again:
            keys |= self._compile_chain(chain_id)
        for key in instances:
            keys |= self._compile_instance(key)
        return keys

    def _compile_chain(self, chain_id: str) -> set[FlowKey]:
        assert self._view is not None
        keys: set[FlowKey] = set()
        old = self._chains.units.pop(chain_id, None)
        chain = self._chains.resolved.get(chain_id)
        unit = (3, chain.chain_id, chain_id) if chain is not None else None
        if old is not None and old != unit:
            keys |= self._union.replace(old, ())
        if chain is not None and unit is not None:
            flows = chain_unit(self._view, chain, self._chains.shared, self.driver_for)
            keys |= self._union.replace(unit, flows)
            self._chains.units[chain_id] = unit
        return keys

    def _compile_instance(self, key: int) -> set[FlowKey]:
        assert self._view is not None
        unit: UnitId = (2, key, "")
        users = self._chains.uses.get(key)
        if not users:
            return self._union.replace(unit, ())
        instance = next(iter(users.values()))[0].instance  # every chain resolves a pair alike
        names = sorted(self._chains.correlations.get(key, ()))
        drivers = [self.driver_for(name) for name in names]
        tracked = key in self._chains.shared
        return self._union.replace(unit, instance_unit(self._view, instance, drivers, tracked))


def _index_groups(groups: Iterable[Group]) -> dict[int, Group]:
    indexed: dict[int, Group] = {}
    for group in groups:
        if group.group_id in indexed:
            raise ValueError(f"group id {group.group_id} compiled twice")
        indexed[group.group_id] = group
    return indexed
