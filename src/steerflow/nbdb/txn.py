"""Optimistic transactions over the NB store: validate against a snapshot, commit expecting its revision."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from steerflow.nbdb.api import (
    JsonDict,
    NorthboundStore,
    Operation,
    Record,
    RevisionConflict,
    StoreBusy,
    WatchBatch,
)

LOG = logging.getLogger(__name__)
T = TypeVar("T")
# a transaction that keeps losing races (to writers in other processes: those of its own process wait
# their turn) gives up after this long, and after at least MIN_ATTEMPTS tries; as does one that waited
# this long for its turn
BUSY_AFTER = 10.0
MIN_ATTEMPTS = 50
AT_LEAST_WAIT = 0.5  # seconds a retry waits to watch the winning revision arrive, before asking the store


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of the whole store at one revision."""

    revision: int
    objects: dict[str, dict[str, JsonDict]]
    # indexes derived from `objects` (see `Derived`), built on first use and carried to later snapshots
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def of(self, kind: str) -> dict[str, JsonDict]:
        """All objects of a kind, by id."""
        return self.objects.get(kind, {})

    def find(self, kind: str, id: str) -> JsonDict | None:
        return self.objects.get(kind, {}).get(id)

    def index(self, derived: Derived[D]) -> D:
        """`derived`'s value for this snapshot (built once; later snapshots update it)."""
        value = self.derived.get(derived.name)
        if value is None:
            value = self.derived[derived.name] = derived.build(self)
        return cast(D, value)

    def followed_by(
        self, revision: int, objects: dict[str, dict[str, JsonDict]], changed: set[Change]
    ) -> Snapshot:
        """The next snapshot, `changed` (kind, id)s apart: the indexes built so far are updated, not
        rebuilt (an index costs what changed, not the size of the store)."""
        after = Snapshot(revision, objects)
        for name, value in self.derived.items():
            derived = _DERIVED[name]
            if any(kind in derived.kinds for kind, _ in changed):
                value = derived.update(value, self, after, changed)
            after.derived[name] = value
        return after


Change = tuple[str, str]  # (kind, id)
D = TypeVar("D")


@dataclass(frozen=True)
class Derived(Generic[D]):
    """An index over a snapshot, kept current change by change. `update` returns a new value for
    `after` given the value for `before` (never changing it: older snapshots may still be read)."""

    name: str
    kinds: frozenset[str]  # the kinds whose changes concern it
    build: Callable[[Snapshot], D]
    update: Callable[[D, Snapshot, Snapshot, set[Change]], D]


_DERIVED: dict[str, Derived[Any]] = {}


def register(derived: Derived[D]) -> Derived[D]:
    _DERIVED[derived.name] = derived
    return derived


def take_snapshot(store: NorthboundStore) -> Snapshot:
    """The store as of now: a cached copy brought up to date with the events since it was taken, so a
    write costs what changed since the previous one, not the size of the whole store."""
    return _cache(store).take(store)


def _snapshot_reaching(store: NorthboundStore, revision: int) -> Snapshot | None:
    """The cached snapshot brought up to at least `revision`, known to be committed (a lost race's
    winner), by watching only: no request for the store's revision (with etcd, one per retry saved).
    None when it did not come within `AT_LEAST_WAIT`."""
    return _cache(store).reach(store, revision)


def _cache(store: NorthboundStore) -> _SnapshotCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = _SnapshotCache()
        return cache


class _SnapshotCache:
    """The last snapshot of one store. Snapshots handed out are never changed afterwards (an update
    copies the kinds it touches), so a plan may go on reading one while another request moves on."""

    def __init__(self) -> None:
        self.turns = _Turns()
        self._lock = threading.Lock()  # held while catching up
        self._snapshot: Snapshot | None = None
        # requests are numbered; a catch-up serves every request numbered before it began, so threads
        # that queued behind one share the next instead of each asking the store in turn
        self._counter = threading.Lock()
        self._issued = 0
        self._served = 0

    def take(self, store: NorthboundStore) -> Snapshot:
        with self._counter:
            self._issued += 1
            ticket = self._issued
        with self._lock:
            if self._snapshot is not None and self._served >= ticket:
                return self._snapshot
            with self._counter:
                covers = self._issued
            if self._snapshot is None:
                revision, records = store.snapshot()
                snap = Snapshot(revision, _index(records))
            else:
                snap = _caught_up(self._snapshot, store.watch(self._snapshot.revision, timeout=0))
            self._snapshot, self._served = snap, covers
            return snap

    def reach(self, store: NorthboundStore, revision: int) -> Snapshot | None:
        deadline = time.monotonic() + AT_LEAST_WAIT
        with self._lock:
            snap = self._snapshot
            if snap is None:
                return None
            while snap.revision < revision:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                snap = _caught_up(snap, store.watch(snap.revision, timeout=left))
                self._snapshot = snap
            return snap


class _Turns:
    """The transactions of one store handle, one at a time in arrival order (a ticket queue).

    Racing each other, the writers of one process lost all but one race per revision, and which one won
    was luck: a long plan (a bulk create) lost to every quick one until it gave up, a 503 to a request
    the API had accepted. In turn, a transaction loses only to other processes' writers. This is for
    fairness alone: uniqueness still rests on the store's compare, as several API servers share one store.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = False
        self._waiting: deque[threading.Event] = deque()
        self._issued = 0
        # (the revision the last transaction committed, the tickets issued before its commit was sent)
        self._committed: tuple[int, int] | None = None

    def take(self, timeout: float) -> int | None:
        """Wait for our turn; return a revision committed while we waited, if one was. `TimeoutError`
        after `timeout` seconds in the queue (a store that hangs would otherwise keep the last of
        many queued requests waiting for all the timeouts ahead of it)."""
        with self._lock:
            self._issued += 1
            ticket = self._issued
            if self._busy:
                gate = threading.Event()
                self._waiting.append(gate)
            else:
                self._busy, gate = True, None
        if gate is not None and not gate.wait(timeout):
            with self._lock:
                if gate in self._waiting:  # else the turn was handed to us meanwhile: take it
                    self._waiting.remove(gate)
                    raise TimeoutError(f"no turn within {timeout:.0f} s")
        with self._lock:
            committed = self._committed
        # a commit sent after we arrived made a state the store held during our call: a snapshot at
        # least that new needs no request (the commit's compare checks the rest)
        return committed[0] if committed is not None and committed[1] >= ticket else None

    def issued(self) -> int:
        """The tickets issued so far: taken just before a commit is sent."""
        with self._lock:
            return self._issued

    def give_back(self, committed: tuple[int, int] | None) -> None:
        """End our turn; `committed`: (the revision we committed, `issued()` before it was sent)."""
        with self._lock:
            if committed is not None:
                self._committed = committed
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._busy = False


def _caught_up(snap: Snapshot, batch: WatchBatch) -> Snapshot:
    if batch.resync:
        return Snapshot(batch.revision, _index(batch.snapshot))
    if batch.revision == snap.revision:
        return snap
    touched: dict[str, dict[str, JsonDict]] = {}
    changed = {(event.kind, event.id) for event in batch.events}
    for event in batch.events:
        bucket = touched.get(event.kind)
        if bucket is None:
            bucket = touched[event.kind] = dict(snap.objects.get(event.kind, {}))
        if event.value is None:
            bucket.pop(event.id, None)
        else:
            bucket[event.id] = event.value
    return snap.followed_by(batch.revision, {**snap.objects, **touched}, changed)


_CACHES: weakref.WeakKeyDictionary[NorthboundStore, _SnapshotCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _index(records: Sequence[Record]) -> dict[str, dict[str, JsonDict]]:
    out: dict[str, dict[str, JsonDict]] = {}
    for rec in records:
        out.setdefault(rec.kind, {})[rec.id] = rec.value
    return out


Plan = tuple[Sequence[Operation], T]


def transact(
    store: NorthboundStore, plan: Callable[[Snapshot], Plan[T]], *, unread: frozenset[str] = frozenset()
) -> T:
    """Run `plan` on a fresh snapshot and commit its operations atomically, retrying on a race.

    `plan` must be pure with respect to the store: it reads the snapshot, raises for bad input (nothing
    is written), or returns (operations, result). The transactions of one store handle run in turn
    (`_Turns`); when a writer elsewhere committed in between, the whole plan is re-run on a new snapshot,
    so validation always sees what it commits on; after losing for `BUSY_AFTER` seconds (and at least
    `MIN_ATTEMPTS` times), `StoreBusy`. `unread`: kinds the plan never reads; when only those were
    written in between (agents' heartbeats and reports), the same operations are committed again
    without planning again: a long plan (a bulk create of 1,000 ports) no longer loses every race to
    the chassis' status writes.
    """
    turns = _cache(store).turns
    try:
        fresh = turns.take(BUSY_AFTER)
    except TimeoutError as exc:
        raise StoreBusy(f"the northbound store is too busy: {exc} behind this server's other writes") from exc
    committed: tuple[int, int] | None = None
    try:
        result, committed = _transact_in_turn(store, plan, unread, turns, fresh)
        return result
    finally:
        turns.give_back(committed)


def _transact_in_turn(
    store: NorthboundStore,
    plan: Callable[[Snapshot], Plan[T]],
    unread: frozenset[str],
    turns: _Turns,
    fresh: int | None,
) -> tuple[T, tuple[int, int] | None]:
    """`transact` once it is this call's turn: (the plan's result, and (the revision committed, the
    tickets issued before it was sent) or None when nothing was committed)."""
    winner = fresh  # a revision known to be current enough (committed during this call), if any
    watching = True  # whether waiting for the winner's revision works (else ask the store each time)
    attempts = 0
    busy_at = time.monotonic() + BUSY_AFTER
    while attempts < MIN_ATTEMPTS or time.monotonic() < busy_at:
        # after a lost race, the winner's revision is current enough: the answer (even a refusal)
        # is one the store held during this call, and the commit's compare checks the rest
        reached = _snapshot_reaching(store, winner) if winner is not None and watching else None
        watching = watching and (winner is None or reached is not None)
        snap = reached or take_snapshot(store)
        ops, result = plan(snap)
        if not ops:
            return result, None
        expected: int | None = snap.revision
        while expected is not None:  # the same operations, while only unread kinds moved
            attempts += 1
            arrived = turns.issued()
            try:
                return result, (store.commit(ops, expected_revision=expected), arrived)
            except RevisionConflict as conflict:
                LOG.debug("NB revision moved during a transaction; retrying")
                winner = conflict.actual if conflict.actual > expected else None
                expected = _only_unread_since(store, expected, unread) if unread else None
            if attempts >= MIN_ATTEMPTS and time.monotonic() >= busy_at:
                break
    raise StoreBusy(
        f"the northbound store is too busy: {attempts} transactions lost a race in {BUSY_AFTER:.0f} s"
    )


def _only_unread_since(store: NorthboundStore, revision: int, unread: frozenset[str]) -> int | None:
    """The store's revision if every commit after `revision` wrote only `unread` kinds, else None."""
    batch = store.watch(revision, timeout=0)
    if batch.resync or any(event.kind not in unread for event in batch.events):
        return None
    return batch.revision
