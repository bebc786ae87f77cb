"""Live traffic for the web view: packets/s and bytes/s per chain object from the agents' counters.

Each agent writes its `chassis_counters` report (`nbdb.counters`) at most once per poll interval and only
when a counter moved, stamped with `reported_at`. A chassis' rate is the difference between its last two
reports over the time between them (so the API's own sampling clock does not alias it); a report older
than `stale_after` seconds means nothing moved since: that chassis contributes zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.counters import ROLES, Tally

Rates = dict[str, dict[str, list[float]]]  # role -> NB id -> [packets/s, bytes/s]
STALE_AFTER = 2.5  # seconds: agents report every poll interval (1 s) while counters move


@dataclass
class _Chassis:
    reported_at: float
    tally: Mapping[str, Any]
    rates: Rates = field(default_factory=dict)


@dataclass
class TrafficRates:
    """Follows the counters reports of every chassis; `update` answers the summed current rates."""

    stale_after: float = STALE_AFTER
    _seen: dict[str, _Chassis] = field(default_factory=dict)

    def update(self, reports: Iterable[Mapping[str, Any]], alive: Iterable[str], now: float) -> Rates:
        """The rates of the `alive` chassis after reading `reports` (their counters documents) at `now`."""
        live = set(alive)
        total: Rates = {role: {} for role in ROLES}
        for report in reports:
            name = str(report.get(schema.CHASSIS))
            seen = self._follow(name, report)
            if name in live and now - seen.reported_at <= self.stale_after:
                _add(total, seen.rates)
        return total

    def _follow(self, name: str, report: Mapping[str, Any]) -> _Chassis:
        at = float(report.get("reported_at") or 0.0)
        before = self._seen.get(name)
        if before is not None and at <= before.reported_at:
            return before
        now = _Chassis(at, report)
        if before is not None:
            now.rates = _difference(before, now)
        self._seen[name] = now
        return now


def _difference(before: _Chassis, after: _Chassis) -> Rates:
    span = after.reported_at - before.reported_at
    rates: Rates = {}
    for role in ROLES:
        old: Mapping[str, Any] = before.tally.get(role) or {}
        for oid, (packets, nbytes) in (after.tally.get(role) or {}).items():
            was = old.get(oid, (0, 0))
            # counters restart when an agent reinstalls its flows: a drop is a restart, not negative traffic
            moved = (max(0, int(packets) - int(was[0])), max(0, int(nbytes) - int(was[1])))
            if moved != (0, 0):
                rates.setdefault(role, {})[oid] = [moved[0] / span, moved[1] / span]
    return rates


def _add(total: Rates, rates: Rates) -> None:
    for role, by_id in rates.items():
        for oid, (pps, bps) in by_id.items():
            held = total.setdefault(role, {}).setdefault(oid, [0.0, 0.0])
            held[0] += pps
            held[1] += bps


def rounded(rates: Rates) -> Rates:
    """Rates with one decimal, zero ones left out (what the page gets: absent means idle)."""
    return {
        role: {oid: [round(p, 1), round(b, 1)] for oid, (p, b) in by_id.items() if p or b}
        for role, by_id in rates.items()
    }


def totals(tally: Tally, roles: Iterable[str] = ("classifiers", "chains")) -> Tally:
    """The cumulative counters of `roles` (the page's per-chain packet counts)."""
    return {role: dict(tally.get(role, {})) for role in roles}
