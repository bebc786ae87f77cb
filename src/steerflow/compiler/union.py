"""The desired flows of a chassis as the union of compilation units, updated one unit at a time.

A unit is what one piece of the model compiles to (the L2 fabric, one chain, the delivery to one
function instance). Units may compile the same flow (two chains through one function's port): the
union holds it once, as long as any unit does. Two units compiling one key differently is an
ambiguous model (e.g. an aware function serving two hops its header cannot tell apart): the unit that
sorts first wins, deterministically, whatever order the units were compiled in, and it is logged
(unless a unit of rank `quiet_rank` or above is involved: those are meant to lose, see `rollout`).
Inside a unit, the first flow compiled for a key wins the same way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping

from steerflow.flows.types import Action, Field, Flow, FlowKey, Match

LOG = logging.getLogger(__name__)

UnitId = tuple[int, int, str]  # (rank, order, name): the lower one wins a key compiled differently


class FlowUnion:
    """key -> flow over every unit; `replace` reports exactly the keys whose flow changed."""

    def __init__(self, quiet_rank: int | None = None) -> None:
        self._quiet_rank = quiet_rank
        self._flows: dict[FlowKey, Flow] = {}
        self._units: dict[UnitId, dict[FlowKey, Flow]] = {}
        self._winners: dict[FlowKey, UnitId] = {}
        # the units holding a key, only for keys two or more units hold: most keys have one holder, and
        # a set per key would cost ~200 bytes per flow (the flows themselves are in `_units`)
        self._shared: dict[FlowKey, set[UnitId]] = {}
        self._values = SharedValues()

    @property
    def flows(self) -> Mapping[FlowKey, Flow]:
        """The union itself (live: read it, never keep it across `replace`)."""
        return self._flows

    def replace(self, unit: UnitId, flows: Iterable[Flow]) -> set[FlowKey]:
        """Make `flows` the whole output of `unit` (none: the unit is gone); the keys that changed."""
        old = self._units.pop(unit, {})
        new = self._values.held(first_claims(flows, unit), old)
        if new:
            self._units[unit] = new
        touched = [key for key in old if key not in new]
        for key in touched:
            self._release(key, unit)
        for key, flow in new.items():
            if old.get(key) != flow:
                self._hold(key, unit, flow, key in old)
                touched.append(key)
        return {key for key in touched if self._settle(key)}

    def _release(self, key: FlowKey, unit: UnitId) -> None:
        holders = self._shared.get(key)
        if holders is None:
            del self._winners[key]  # `unit` was its only holder
            return
        holders.discard(unit)
        if len(holders) == 1:
            del self._shared[key]
            self._winners[key] = next(iter(holders))
        elif self._winners[key] == unit:
            self._winners[key] = min(holders)  # only when the winner leaves: holders are few, or this is rare

    def _hold(self, key: FlowKey, unit: UnitId, flow: Flow, held: bool) -> None:
        """`unit` (its new flows already in `_units`) compiles `flow` for `key` (`held`: it did before)."""
        winner = self._winners.get(key)
        if winner is None:
            self._winners[key] = unit
            return
        if not held:
            holders = self._shared.get(key)
            if holders is None:
                self._shared[key] = {winner, unit}
            else:
                holders.add(unit)
        if unit <= winner:
            self._winners[key] = unit
            winner = unit
        if flow != self._units[winner][key] and not self._quiet(unit, winner):
            LOG.warning("units %s and %s compile %s differently: keeping %s's", unit, winner, key, winner)

    def _quiet(self, a: UnitId, b: UnitId) -> bool:
        return self._quiet_rank is not None and max(a[0], b[0]) >= self._quiet_rank

    def _settle(self, key: FlowKey) -> bool:
        """Put the winner of `key` in the union; whether that changed it."""
        current = self._flows.get(key)
        winner = self._winners.get(key)
        if winner is None:
            self._flows.pop(key, None)
            return current is not None
        flow = self._units[winner][key]
        if current == flow:
            return False
        self._flows[key] = flow
        return True


def first_claims(flows: Iterable[Flow], unit: UnitId | None = None) -> dict[FlowKey, Flow]:
    """Flows by key, the first of a key kept (a different later one is logged)."""
    claimed: dict[FlowKey, Flow] = {}
    for flow in flows:
        held = claimed.setdefault(flow.key, flow)
        if held is not flow and held != flow:
            LOG.warning("%s: flow %s is ambiguous: keeping %s", unit or "compiler", flow, held)
    return claimed


class SharedValues:
    """One object per distinct match field and action across every flow held: a chassis' flows repeat
    the same few (a chain's label, an ethertype, a port) thousands of times, each its own object as
    the compiler built it (~70 bytes apiece, several per flow). Unchanged flows keep the flow held."""

    def __init__(self) -> None:
        self._fields: dict[Field, Field] = {}
        self._actions: dict[Action, Action] = {}
        self._limit = _MIN_VALUES

    def held(self, flows: dict[FlowKey, Flow], old: Mapping[FlowKey, Flow]) -> dict[FlowKey, Flow]:
        """`flows` by key, each the flow already held under its key when equal (the new one is dropped
        at once), else rebuilt of shared values (its key then names its match)."""
        out: dict[FlowKey, Flow] = {}
        for key, flow in flows.items():
            before = old.get(key)
            kept = before if before is not None and before == flow else self._shared(flow)
            out[kept.key] = kept
        if len(self._fields) + len(self._actions) > self._limit:
            self._forget_unused()
        return out

    def _shared(self, flow: Flow) -> Flow:
        field, action = self._fields.setdefault, self._actions.setdefault
        match = Match(tuple([field(f, f) for f in flow.match.fields]))
        return Flow(
            flow.table,
            flow.priority,
            match,
            tuple([action(a, a) for a in flow.actions]),
            flow.goto,
            flow.cookie,
        )

    def _forget_unused(self) -> None:
        """Drop the values no flow uses any more (only these tables refer to them); amortised: the
        limit doubles past what is left."""
        self._fields = {f: f for f in self._fields if not _only_held(f)}
        self._actions = {a: a for a in self._actions if not _only_held(a)}
        self._limit = max(_MIN_VALUES, 2 * (len(self._fields) + len(self._actions)))


_MIN_VALUES = 100_000


def _only_held(value: object) -> bool:
    """Whether nothing but its table (as key and value) refers to `value`, asked from a comprehension
    over the table (which, with this call, adds its own references: `_TABLE_REFS` counts them alike)."""
    return sys.getrefcount(value) <= _TABLE_REFS


def _references(value: object) -> int:
    return sys.getrefcount(value)


def _table_refs() -> int:
    probe = object()
    table = {probe: probe}
    del probe
    return max(_references(v) for v in table)


_TABLE_REFS = _table_refs()
