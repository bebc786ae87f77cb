"""In-process northbound store: the reference implementation of the contract, used by unit tests."""

from __future__ import annotations

import builtins
import copy
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from steerflow.nbdb.api import (
    BeatsBeside,
    Delete,
    Event,
    Operation,
    Put,
    Record,
    RevisionConflict,
    WatchBatch,
)


class MemoryStore(BeatsBeside):
    """A `NorthboundStore` held in this process's memory; `history` bounds the replayable events."""

    def __init__(self, history: int = 100_000) -> None:
        self._objects: dict[tuple[str, str], Record] = {}
        self._events: deque[Event] = deque(maxlen=history)
        self._revision = 0
        self._sides: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()

    def revision(self) -> int:
        with self._changed:
            return self._revision

    def get(self, kind: str, id: str) -> Record | None:
        with self._changed:
            rec = self._objects.get((kind, id))
            return copy.deepcopy(rec)

    def list(self, kind: str) -> list[Record]:
        with self._changed:
            found = [r for (k, _), r in self._objects.items() if k == kind]
            return copy.deepcopy(sorted(found, key=lambda r: r.id))

    def snapshot(self) -> tuple[int, builtins.list[Record]]:
        with self._changed:
            records = sorted(self._objects.values(), key=lambda r: (r.kind, r.id))
            return self._revision, copy.deepcopy(records)

    def commit(self, ops: Sequence[Operation], expected_revision: int | None = None) -> int:
        with self._changed:
            if expected_revision is not None and expected_revision != self._revision:
                raise RevisionConflict(expected_revision, self._revision)
            self._revision += 1
            for op in ops:
                self._apply(op)
            self._changed.notify_all()
            return self._revision

    def _apply(self, op: Operation) -> None:
        key = (op.kind, op.id)
        if isinstance(op, Put):
            value = copy.deepcopy(op.value)
            self._objects[key] = Record(op.kind, op.id, value, self._revision)
            self._events.append(Event(self._revision, op.kind, op.id, copy.deepcopy(value)))
        elif isinstance(op, Delete):
            self._objects.pop(key, None)
            self._events.append(Event(self._revision, op.kind, op.id, None))

    def watch(self, since_revision: int, timeout: float = 1.0) -> WatchBatch:
        with self._changed:
            self._changed.wait_for(lambda: self._revision > since_revision, timeout=timeout)
            if self._revision <= since_revision:
                return WatchBatch(revision=since_revision)
            oldest = self._events[0].revision if self._events else self._revision + 1
            if since_revision + 1 < oldest:
                records = sorted(self._objects.values(), key=lambda r: (r.kind, r.id))
                return WatchBatch(self._revision, resync=True, snapshot=copy.deepcopy(records))
            events = [copy.deepcopy(e) for e in self._events if e.revision > since_revision]
            return WatchBatch(self._revision, events=events)

    def put_side(self, kind: str, member: str, value: Any) -> None:
        with self._changed:  # no notify: a side entry wakes no watcher
            entries = self._sides.setdefault(kind, {})
            if value is None:
                entries.pop(member, None)
            else:
                entries[member] = copy.deepcopy(value)

    def side(self, kind: str) -> dict[str, Any]:
        with self._changed:
            return copy.deepcopy(self._sides.get(kind, {}))

    def close(self) -> None:
        """Nothing to release."""
