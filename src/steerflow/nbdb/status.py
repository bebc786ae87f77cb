"""Chassis status: each agent reports which NB revision its switch holds; callers wait until all do.

Everything about the `chassis_status` kind lives here: its attributes, how an agent writes its report,
how the API, the compiler's rollout and waiters read it. Agents and stores treat the kind as status, not
desired state: a report makes another agent compile only while one of its chains waits for it
(`compiler.rollout`), so reports cannot chase each other around the cluster. Two revisions are
reported: `installed_revision`, what the switch holds (changed chains included, not yet in force: other
chassis wait for this before sending to them) and `applied_revision`, the newest revision whose changes
are all in force (what `wait_applied`, `?wait` and the CLI wait for).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import NorthboundStore, Put

APPLIED_ATTR = "applied_revision"  # in a report: every change up to it is in force (what waiters wait for)
INSTALLED_ATTR = "installed_revision"  # in a report: the switch holds it, changes not yet in force included
# Kinds that report state rather than ask for it: re-derivable, so a store may write them without waiting
# for the disk; agents compile for them only while one of their chains waits for another chassis
# (`compiler.rollout`).
STATUS_KINDS = frozenset({schema.CHASSIS_STATUS, schema.CHASSIS_COUNTERS})


def reported_revisions(report: Mapping[str, Any]) -> tuple[int, int]:
    """(applied, installed) of an agent's status report; one without `installed_revision` (written
    before it existed) installed what it applied."""
    applied = int(report.get(APPLIED_ATTR, 0))
    return applied, int(report.get(INSTALLED_ATTR, applied))


def installed_revisions(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """chassis -> the NB revision its switch has installed, from the `chassis_status` documents."""
    return {chassis: reported_revisions(doc)[1] for chassis, doc in reports.items()}


def report_applied(store: NorthboundStore, chassis: str, revision: int, installed: int | None = None) -> None:
    """Record that `chassis` has everything up to NB `revision` in force, and has installed up to
    `installed` (default: `revision`); monotonic: never goes back.

    Only the chassis' own agent writes its status document, so this is a plain read and write of one
    object: no optimistic transaction over the whole store, which would lose races against every other
    writer under load.
    """
    installed = revision if installed is None else max(installed, revision)
    current = store.get(schema.CHASSIS_STATUS, chassis)
    if current is not None:
        held = reported_revisions(current.value)
        if held[0] >= revision and held[1] >= installed:
            return
        revision, installed = max(held[0], revision), max(held[1], installed)
    doc = {"id": chassis, schema.CHASSIS: chassis, APPLIED_ATTR: revision, INSTALLED_ATTR: installed}
    doc["reported_at"] = time.time()
    store.commit([Put(schema.CHASSIS_STATUS, chassis, doc)])


@dataclass(frozen=True)
class WaitResult:
    revision: int
    applied: Mapping[str, int]  # chassis -> applied revision when the wait ended

    @property
    def done(self) -> bool:
        return all(r >= self.revision for r in self.applied.values())

    @property
    def lagging(self) -> list[str]:
        return sorted(c for c, r in self.applied.items() if r < self.revision)


def applied_revisions(store: NorthboundStore) -> dict[str, int]:
    """Every registered chassis and the revision it has applied (0 if it never reported)."""
    reports = {r.id: reported_revisions(r.value)[0] for r in store.list(schema.CHASSIS_STATUS)}
    return {c.id: reports.get(c.id, 0) for c in store.list(schema.CHASSIS)}


def wait_applied(store: NorthboundStore, revision: int, timeout: float) -> WaitResult:
    """Block until every registered chassis has applied `revision`, or `timeout` seconds pass.

    Revisions that only carry status reports change no switch, so a chassis that applied everything
    before them counts as having applied them too (agents never report for status alone, or their
    reports would chase each other forever).
    """
    deadline = time.monotonic() + timeout
    since = store.revision()
    while True:
        result = _effective(store, WaitResult(revision, applied_revisions(store)))
        left = deadline - time.monotonic()
        if result.done or left <= 0:
            return result
        since = store.watch(since, timeout=min(left, 1.0)).revision


def _effective(store: NorthboundStore, result: WaitResult) -> WaitResult:
    """`result` with every lagging chassis moved up to the target when only status changed since."""
    behind = [r for r in result.applied.values() if r < result.revision]
    if not behind:
        return result
    quiet_since = _last_desired_change(store, min(behind), result.revision)
    applied = {c: (result.revision if r >= quiet_since else r) for c, r in result.applied.items()}
    return WaitResult(result.revision, applied)


def _last_desired_change(store: NorthboundStore, since: int, upto: int) -> int:
    """The newest revision in (since, upto] that changed desired state (not only status)."""
    batch = store.watch(since, timeout=0)
    if batch.resync:
        return upto  # history gone: only an exact report will do
    changes = [e.revision for e in batch.events if e.revision <= upto and e.kind != schema.CHASSIS_STATUS]
    return max(changes, default=since)
