"""Chassis status: each agent reports which NB revision its switch holds; callers wait until all do.

Everything about the `chassis_status` kind lives here: its attributes, how an agent writes its report,
how the API, the compiler's rollout and waiters read it. Agents and stores treat the kind as status, not
desired state: a report makes another agent compile only while one of its chains waits for it
(`compiler.rollout`), so reports cannot chase each other around the cluster. Two revisions are
reported: `installed_revision`, what the switch holds (changed chains included, not yet in force: other
chassis wait for this before sending to them) and `applied_revision`, the newest revision whose changes
are all in force (what `wait_applied`, `?wait` and the CLI wait for).

Heartbeats are not in that document: an agent beats through the store's liveness map (`store.beat`, the
agent's wall clock), which moves no revision and wakes no watcher, so a beat costs one write and nothing
per watcher (a beat written as a commit reached every agent and every waiter: N² deliveries at N
chassis). A chassis not heard from (no beat, no report) for `down_after` seconds is down; waits skip it
(and say so) rather than block on it. Reports written by older agents carry their beat as
`heartbeat_at`: still read, so an NB from before keeps working.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import NorthboundStore, Put, WatchBatch
from steerflow.nbdb.concerns import ConcernLog, revision_concerns

APPLIED_ATTR = "applied_revision"  # in a report: every change up to it is in force (what waiters wait for)
INSTALLED_ATTR = "installed_revision"  # in a report: the switch holds it, changes not yet in force included
HEARTBEAT_ATTR = "heartbeat_at"  # in a report of an older agent: its wall clock when it last beat
REPORTED_AT = "reported_at"  # in a report: when the revisions last moved (a sign of life too)
DEFAULT_HEARTBEAT_INTERVAL = 3.0  # seconds between an agent's heartbeats (`steerflow agent --heartbeat`)
DEFAULT_DOWN_AFTER = 10.0  # a chassis not heard from for this long is down: three beats missed, and some
DOWN_AFTER_ENV = "STEERFLOW_CHASSIS_DOWN_AFTER"  # the API's and `steerflow wait`'s down-after, seconds
Clock = Callable[[], float]
# Kinds that report state rather than ask for it: re-derivable, so a store may write them without waiting
# for the disk; agents compile for them only while one of their chains waits for another chassis
# (`compiler.rollout`). Today's agents write their counters into a side map (`nbdb.counters`): no commit;
# the kind stays for the documents older agents commit during an upgrade. The API's concerns document
# (`nbdb.concerns`) is no desired state either: it says which chassis its commit's other writes concern.
STATUS_KINDS = frozenset({schema.CHASSIS_STATUS, schema.CHASSIS_COUNTERS, schema.CONCERNS})


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
    now = time.time()
    doc = {"id": chassis, schema.CHASSIS: chassis, APPLIED_ATTR: revision, INSTALLED_ATTR: installed}
    doc[REPORTED_AT] = now  # a report is a sign of life too
    store.commit([Put(schema.CHASSIS_STATUS, chassis, doc)])


def heartbeat(store: NorthboundStore, chassis: str, now: float | None = None) -> None:
    """Record that `chassis`' agent is alive at `now` (default: this machine's clock): a beat, not a
    commit (no revision, no watcher woken, its status document untouched)."""
    store.beat(chassis, time.time() if now is None else now)


def only_heartbeat_moved(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> bool:
    """Whether a status document changed only its heartbeat (what no compiler needs to see): older
    agents beat by rewriting it."""
    if before is None or after is None:
        return False
    return reported_revisions(before) == reported_revisions(after)


def down_after_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """The down-after time from $STEERFLOW_CHASSIS_DOWN_AFTER (seconds > 0), else the default."""
    raw = environ.get(DOWN_AFTER_ENV, "").strip()
    if not raw:
        return DEFAULT_DOWN_AFTER
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"${DOWN_AFTER_ENV} takes seconds, got {raw!r}") from None
    if not seconds > 0:
        raise ValueError(f"${DOWN_AFTER_ENV} must be more than 0 seconds, got {raw!r}")
    return seconds


@dataclass(frozen=True)
class Liveness:
    """What the heartbeats say about one chassis at a given time."""

    alive: bool
    last_seen: float | None  # epoch seconds of the last heartbeat or report; None: never heard from
    age: float | None  # seconds since then (never negative: a clock ahead of ours reads as just now)


def liveness(
    report: Mapping[str, Any] | None, now: float, down_after: float, beat: float | None = None
) -> Liveness:
    """Alive when its agent beat (`beat`, from `store.beats()`) or reported within `down_after` seconds
    before `now`; a chassis that never did is down."""
    seen = _last_seen(report or {}, beat)
    if seen is None:
        return Liveness(False, None, None)
    age = max(0.0, now - seen)
    return Liveness(age <= down_after, seen, age)


def _last_seen(report: Mapping[str, Any], beat: float | None) -> float | None:
    stamps = [
        float(report[k]) for k in (HEARTBEAT_ATTR, REPORTED_AT) if isinstance(report.get(k), int | float)
    ]
    return max([*stamps, beat] if beat is not None else stamps, default=None)


def liveness_of(
    chassis: Iterable[str],
    reports: Mapping[str, Mapping[str, Any]],
    beats: Mapping[str, float],
    now: float,
    down_after: float,
) -> dict[str, Liveness]:
    """The liveness of each of `chassis` from the status `reports` and the store's `beats`."""
    return {c: liveness(reports.get(c), now, down_after, beats.get(c)) for c in chassis}


def chassis_liveness(
    store: NorthboundStore, down_after: float | None = None, now: float | None = None
) -> dict[str, Liveness]:
    """Every registered chassis and its liveness (defaults: `down_after_seconds()`, this clock)."""
    limit = down_after_seconds() if down_after is None else down_after
    at = time.time() if now is None else now
    reports = {r.id: r.value for r in store.list(schema.CHASSIS_STATUS)}
    chassis = [c.id for c in store.list(schema.CHASSIS)]
    return liveness_of(chassis, reports, store.beats(), at, limit)


@dataclass(frozen=True)
class WaitResult:
    revision: int
    applied: Mapping[str, int]  # live chassis -> applied revision when the wait ended
    skipped: tuple[str, ...] = field(default=())  # chassis down (not heard from): not waited for

    @property
    def done(self) -> bool:
        return all(r >= self.revision for r in self.applied.values())

    @property
    def lagging(self) -> list[str]:
        return sorted(c for c, r in self.applied.items() if r < self.revision)


def wait_applied(
    store: NorthboundStore,
    revision: int,
    timeout: float,
    down_after: float | None = None,
    clock: Clock = time.time,
) -> WaitResult:
    """Block until every live chassis has applied `revision`, or `timeout` seconds pass.

    A chassis down (not heard from for `down_after` seconds, default `down_after_seconds()`) is skipped
    and named in the result: a dead agent must not hold every writer for the whole timeout. A chassis
    that applied every revision concerning it (`nbdb.concerns`: the API names the chassis each write
    concerns; status reports concern none) counts as having applied the later ones too: agents report
    only what concerns them (or their reports would chase each other forever, and every write would
    wait for the slowest of all chassis).

    The chassis and their reports are read once, then kept current from the watch's events (every
    agent's report wakes the waiter: re-reading them all, and the history, on each wake cost O(chassis²)
    per write, and the history holds the agents' counters, up to a megabyte each).
    """
    limit = down_after_seconds() if down_after is None else down_after
    deadline = time.monotonic() + timeout
    since = store.revision()
    held = _Held.read(store)
    quiet = _Quiet(store, revision)
    while True:
        result = quiet.effective(held.result(revision, store.beats(), limit, clock()))
        left = deadline - time.monotonic()
        if result.done or left <= 0:
            return result
        # beats wake no watcher: at most a second between liveness reads, so a dying chassis is noticed
        batch = store.watch(since, timeout=min(left, 1.0))
        held.follow(store, batch)
        since = batch.revision


@dataclass
class _Held:
    """The registered chassis and their status documents, as of the last watch batch."""

    chassis: set[str]
    reports: dict[str, Mapping[str, Any]]

    @classmethod
    def read(cls, store: NorthboundStore) -> _Held:
        reports: dict[str, Mapping[str, Any]] = {r.id: r.value for r in store.list(schema.CHASSIS_STATUS)}
        return cls({c.id for c in store.list(schema.CHASSIS)}, reports)

    def follow(self, store: NorthboundStore, batch: WatchBatch) -> None:
        if batch.resync:
            fresh = _Held.read(store)
            self.chassis, self.reports = fresh.chassis, fresh.reports
            return
        for event in batch.events:
            if event.kind == schema.CHASSIS:
                (self.chassis.discard if event.value is None else self.chassis.add)(event.id)
            elif event.kind == schema.CHASSIS_STATUS:
                if event.value is None:
                    self.reports.pop(event.id, None)
                else:
                    self.reports[event.id] = event.value

    def result(self, revision: int, beats: Mapping[str, float], down_after: float, now: float) -> WaitResult:
        """The applied revisions of the held chassis alive at `now` (by the reports and `beats`); the
        others listed as skipped."""
        alive = liveness_of(self.chassis, self.reports, beats, now, down_after)
        skipped = tuple(sorted(c for c, life in alive.items() if not life.alive))
        applied = {
            c: reported_revisions(self.reports[c])[0] if c in self.reports else 0
            for c in self.chassis
            if c not in skipped
        }
        return WaitResult(revision, applied, skipped)


@dataclass
class _Quiet:
    """Which revisions up to the waited one concern which chassis: history, read once (`effective`)."""

    store: NorthboundStore
    revision: int
    floor: int | None = None  # the lowest lagging revision the history was read from
    log: ConcernLog = field(default_factory=ConcernLog)  # the revisions in (floor, revision]

    def effective(self, result: WaitResult) -> WaitResult:
        """`result` with every lagging chassis moved up to the target when no revision after its report
        concerns it."""
        behind = [r for r in result.applied.values() if r < result.revision]
        if not behind:
            return result
        since = min(behind)
        if self.floor is None or since < self.floor:  # first read, or a chassis further behind came up
            self.floor, self.log = since, _concerns_since(self.store, since, self.revision)
        applied = {
            c: (result.revision if r < result.revision and self.log.holds_all(c, r) else r)
            for c, r in result.applied.items()
        }
        return WaitResult(result.revision, applied, result.skipped)


def _concerns_since(store: NorthboundStore, since: int, upto: int) -> ConcernLog:
    """The chassis each revision in (since, upto] that changed desired state concerns."""
    batch = store.watch(since, timeout=0)
    log = ConcernLog()
    if batch.resync:
        log.note(upto, None)  # history gone: only an exact report will do
        return log
    log.note_all({r: c for r, c in revision_concerns(batch.events, STATUS_KINDS).items() if r <= upto})
    return log
