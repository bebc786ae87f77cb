"""The northbound store contract: revisioned objects, atomic multi-object commits and a resumable watch.

Every driver (embedded, redis, etcd) implements `NorthboundStore`. Objects are JSON documents keyed by
(kind, id). Every successful commit advances one store-wide revision; all the objects a commit writes carry
that revision, and a watcher sees the commit's events together. A watcher that remembers the last revision
it saw can always resume from it; when a driver no longer has that history, `watch` says so
(`WatchBatch.resync`) and hands back a full snapshot instead, so nothing is ever silently lost.

Beside the objects, every driver keeps side maps (`put_side`, `side`): per kind, member -> a JSON value
its writer re-sends every few seconds (heartbeats: `beat`, `beats`; an agent's counters). A side entry is
no object: it moves no revision and no watcher sees it, so it costs one write and nothing per watcher.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from steerflow.model import schema

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Record:
    """One stored object: its kind, id, JSON value and the revision of the commit that last wrote it."""

    kind: str
    id: str
    value: JsonDict
    mod_revision: int


@dataclass(frozen=True)
class Put:
    """Write (create or replace) one object."""

    kind: str
    id: str
    value: JsonDict


@dataclass(frozen=True)
class Delete:
    """Remove one object; deleting an absent object is not an error."""

    kind: str
    id: str


Operation = Put | Delete


@dataclass(frozen=True)
class Event:
    """One change seen by a watcher. `value` is None for a delete."""

    revision: int
    kind: str
    id: str
    value: JsonDict | None

    @property
    def deleted(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class WatchBatch:
    """What one `watch` call returns.

    `revision` is the store revision the watcher has now caught up to: pass it to the next `watch` call.
    When `resync` is true the history since the requested revision is gone; `snapshot` then holds every
    object as of `revision` and `events` is empty: the watcher must replace its whole cache.
    """

    revision: int
    events: Sequence[Event] = ()
    resync: bool = False
    snapshot: Sequence[Record] = field(default_factory=tuple)


class StoreError(Exception):
    """The store could not be reached or answered something unexpected."""


class StoreBusy(StoreError):
    """A transaction lost its race against other writers too many times in a row: retry later."""


class RevisionConflict(StoreError):
    """A commit's `expected_revision` was no longer the store's revision: re-read and try again."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"store revision is {actual}, commit expected {expected}")
        self.expected = expected
        self.actual = actual


@runtime_checkable
class NorthboundStore(Protocol):
    """The interface every NB driver implements; all methods are thread-safe and blocking."""

    def revision(self) -> int:
        """The store-wide revision of the last commit (0 for an empty, never written store)."""
        ...

    def get(self, kind: str, id: str) -> Record | None:
        """One object, or None."""
        ...

    def list(self, kind: str) -> list[Record]:
        """All objects of one kind, in id order."""
        ...

    def snapshot(self) -> tuple[int, builtins.list[Record]]:
        """Every object of every kind, consistent as of the returned revision."""
        ...

    def commit(self, ops: Sequence[Operation], expected_revision: int | None = None) -> int:
        """Apply all `ops` atomically as one new revision and return it.

        With `expected_revision`, the commit happens only if the store is still at that revision, else
        `RevisionConflict` is raised and nothing is written (optimistic concurrency: validate against a
        snapshot, then commit expecting its revision).
        """
        ...

    def watch(self, since_revision: int, timeout: float = 1.0) -> WatchBatch:
        """Changes committed after `since_revision`, waiting up to `timeout` seconds for the first one.

        Returns an empty batch (revision == since_revision) on timeout. Survives server restarts: a
        call during an outage raises `StoreError`; the caller retries with the same revision.
        """
        ...

    def put_side(self, kind: str, member: str, value: Any) -> None:
        """Replace `member`'s entry in the side map `kind` with `value` (JSON; None drops the entry).

        Not a commit: the revision stays, no watcher wakes. Durable where the driver is, though a crash
        may lose the newest entries (their writers re-send them).
        """
        ...

    def side(self, kind: str) -> dict[str, Any]:
        """member -> its value in the side map `kind`. A driver may forget a member of `beats` silent
        for minutes (etcd: a lease), so readers treat a missing member as not heard from."""
        ...

    def beat(self, member: str, at: float) -> None:
        """Record that `member` (a chassis) was alive at `at` (epoch seconds), replacing its last beat.

        Not a commit: the revision stays, no watcher wakes. Durable where the driver is, though a crash
        may lose the newest beats (they are re-sent every few seconds).
        """
        ...

    def beats(self) -> dict[str, float]:
        """member -> its last beat's `at` (the side map `beats`)."""
        ...

    def close(self) -> None:
        """Release connections; the store object is unusable afterwards."""
        ...


class BeatsBeside:
    """Heartbeats as the side map `beats`: what every driver's `beat` and `beats` are (mixed in)."""

    def put_side(self, kind: str, member: str, value: Any) -> None:
        raise NotImplementedError

    def side(self, kind: str) -> dict[str, Any]:
        raise NotImplementedError

    def beat(self, member: str, at: float) -> None:
        self.put_side(schema.BEATS, member, float(at))

    def beats(self) -> dict[str, float]:
        return {member: float(at) for member, at in self.side(schema.BEATS).items()}


def group_by_kind(records: Sequence[Record]) -> Mapping[str, list[Record]]:
    """Records bucketed by kind (handy for building caches from a snapshot)."""
    out: dict[str, list[Record]] = {}
    for rec in records:
        out.setdefault(rec.kind, []).append(rec)
    return out
