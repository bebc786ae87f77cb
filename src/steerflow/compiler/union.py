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
from collections.abc import Iterable, Mapping

from steerflow.flows.types import Flow, FlowKey

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

    @property
    def flows(self) -> Mapping[FlowKey, Flow]:
        """The union itself (live: read it, never keep it across `replace`)."""
        return self._flows

    def replace(self, unit: UnitId, flows: Iterable[Flow]) -> set[FlowKey]:
        """Make `flows` the whole output of `unit` (none: the unit is gone); the keys that changed."""
        new = first_claims(flows, unit)
        old = self._units.pop(unit, {})
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
