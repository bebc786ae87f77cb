"""A local copy of the NB store kept current by its watch: what the agent compiles from.

A background thread follows `watch(since_revision)`; every batch is applied to the copy under a lock and
announced to a listener with the revision reached and whether anything but chassis status changed
(heartbeats are no NB object and never reach it; an older agent's report that only moved its heartbeat
is no status change either: heartbeats never make an agent compile). A watch that fails (server
restarting) is retried from the same revision, so no change is ever lost; a resync (history gone)
replaces the whole copy. `taken` lends the copy with the documents changed since the previous loan, so
the compiler recompiles only what they concern.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore, StoreError, WatchBatch
from steerflow.nbdb.concerns import ConcernLog, concerns, revision_concerns
from steerflow.nbdb.status import STATUS_KINDS, only_heartbeat_moved

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheUpdate:
    """What one applied batch did: the revision now held and whether desired state may have changed."""

    revision: int
    relevant: bool
    status: bool = False  # a chassis status report arrived (what a waiting rollout waits for)
    changed: frozenset[tuple[str, str]] | None = frozenset()  # the (kind, id)s written; None: resync
    concerned: bool = True  # a desired change among them concerns the cache's chassis (`nbdb.concerns`)


# Strings up to this length are interned: keys, ids, names, MACs, addresses (a document's keys are
# decoded afresh for every document, and an id is repeated by every document referring to it)
INTERNED_LENGTH = 64


def compact(value: Any) -> Any:
    """`value` with its keys and short strings interned: one copy per distinct string in the cache."""
    if isinstance(value, dict):
        return {sys.intern(k): compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str) and len(value) <= INTERNED_LENGTH:
        return sys.intern(value)
    return value


# Kinds no agent reads: the chassis' per-hop counters (for the API's statistics), ~1 MB on the classifying
# chassis of 10,000 chains. Today's agents write them beside the watched documents (`nbdb.counters`);
# an older agent still commits them every poll that moved a counter: interning and holding every
# chassis' copy would cost every agent CPU on each of them, and memory
# The API's concerns document is read from the events as they pass (`concerns`), never held.
UNREAD_KINDS = frozenset({schema.CHASSIS_COUNTERS, schema.CONCERNS})

Listener = Callable[[CacheUpdate], None]
Changed = set[tuple[str, str]]  # (kind, id)s; None where they are not known (load, resync): all


class NbCache:
    """kind -> id -> document, as of `revision`."""

    def __init__(
        self,
        store: NorthboundStore,
        listener: Listener,
        retry_interval: float = 0.5,
        chassis: str | None = None,
    ) -> None:
        self._store = store
        self._listener = listener
        self._retry = retry_interval
        self._lock = threading.Lock()
        self._objects: dict[str, dict[str, JsonDict]] = {}
        self._changed: Changed | None = None
        self.revision = 0
        self.desired_revision = 0  # the newest revision that changed more than chassis status
        self.chassis = chassis  # whose concern `CacheUpdate.concerned` tells (None: every change concerns)
        self.concerns = ConcernLog()  # which chassis the revisions seen concern (read under the lock)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> int:
        """Read a full snapshot (blocking) and return its revision."""
        revision, records = self._store.snapshot()
        objects: dict[str, dict[str, JsonDict]] = {}
        for rec in records:
            if rec.kind not in UNREAD_KINDS:
                objects.setdefault(rec.kind, {})[rec.id] = compact(rec.value)
        with self._lock:
            self._objects, self.revision, self._changed = objects, revision, None
            self.desired_revision = revision
            self.concerns.note(revision, None)  # what came before is not known: it concerned everyone
        LOG.info("NB cache loaded at revision %d (%d objects)", revision, len(records))
        return revision

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="nb-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @contextlib.contextmanager
    def taken(self) -> Iterator[tuple[int, Mapping[str, Mapping[str, JsonDict]], Changed | None]]:
        """The revision, the cache itself and the documents changed since the last `taken` (None:
        unknown, everything), held still while the block runs (the watch thread waits: nothing is
        lost, and nothing is copied, which would cost the size of the NB on every change). Keep the
        block short and do not keep the documents after it."""
        with self._lock:
            changed, self._changed = self._changed, set()
            yield self.revision, self._objects, changed

    @contextlib.contextmanager
    def held(self) -> Iterator[Mapping[str, Mapping[str, JsonDict]]]:
        """The cache held still, without taking its changes (what the compiler's `taken` consumes)."""
        with self._lock:
            yield self._objects

    def _follow(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._store.watch(self.revision, timeout=0.5)
            except StoreError as exc:
                LOG.warning("NB watch from revision %d failed (%s); retrying", self.revision, exc)
                self._stopping.wait(self._retry)
                continue
            if batch.revision != self.revision:
                self._listener(self._apply(batch))

    def _apply(self, batch: WatchBatch) -> CacheUpdate:
        with self._lock:
            if batch.resync:
                LOG.warning("NB history gone at %d: full resync to %d", self.revision, batch.revision)
                self._objects = {}
                for rec in batch.snapshot:
                    if rec.kind not in UNREAD_KINDS:
                        self._objects.setdefault(rec.kind, {})[rec.id] = compact(rec.value)
                self._changed = None
                relevant = status = concerned = True
                self.desired_revision = batch.revision
                self.concerns.note(batch.revision, None)
                written: frozenset[tuple[str, str]] | None = None
            else:
                status = False
                for event in batch.events:
                    if event.kind in UNREAD_KINDS:
                        continue
                    bucket = self._objects.setdefault(event.kind, {})
                    before = bucket.get(event.id)
                    if event.value is None:
                        bucket.pop(event.id, None)
                    else:
                        bucket[event.id] = compact(event.value)
                    if event.kind not in STATUS_KINDS:
                        if self._changed is not None:
                            self._changed.add((event.kind, event.id))
                    elif not only_heartbeat_moved(before, event.value):
                        status = (
                            True  # an older agent's heartbeat wakes no rollout: nothing it waits for moved
                        )
                relevant = any(e.kind not in STATUS_KINDS for e in batch.events)
                desired = [e.revision for e in batch.events if e.kind not in STATUS_KINDS]
                self.desired_revision = max(desired, default=self.desired_revision)
                written = frozenset((e.kind, e.id) for e in batch.events)
                concerned = self._note_concerns(batch)
            self.revision = batch.revision
        return CacheUpdate(batch.revision, relevant, status, written, concerned)

    def _note_concerns(self, batch: WatchBatch) -> bool:
        """Fold the batch's concerns into `concerns`; whether one of its desired changes concerns the
        cache's chassis."""
        found = revision_concerns(batch.events, STATUS_KINDS)
        self.concerns.note_all(found)
        chassis = self.chassis
        return bool(found) and (chassis is None or any(concerns(c, chassis) for c in found.values()))
