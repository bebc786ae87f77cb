"""The NB watch contract, run against every driver: timeouts, wake-ups, replay and resync."""

from __future__ import annotations

import threading
import time

from steerflow.model import schema
from steerflow.nbdb import Delete, Event, NorthboundStore, Put, WatchBatch
from steerflow.nbdb.concerns import concern_put, revision_concerns
from steerflow.nbdb.status import STATUS_KINDS
from tests.builders.servers import wait_until
from tests.builders.stores import BlockedWatch, Driver


def ids(batch: WatchBatch) -> list[tuple[str, str, bool]]:
    return [(e.kind, e.id, e.deleted) for e in batch.events]


def test_watch_times_out_with_an_empty_batch(store: NorthboundStore) -> None:
    revision = store.commit([Put(schema.PORT, "a", {})])
    started = time.monotonic()
    batch = store.watch(revision, timeout=0.3)
    elapsed = time.monotonic() - started
    assert batch == WatchBatch(revision=revision)
    assert 0.25 <= elapsed < 1.5


def test_watch_with_zero_timeout_returns_at_once(store: NorthboundStore) -> None:
    started = time.monotonic()
    assert store.watch(0, timeout=0) == WatchBatch(revision=0)
    assert time.monotonic() - started < 0.5


def test_a_blocked_watch_wakes_on_a_commit(driver: Driver, store: NorthboundStore) -> None:
    writer = driver.open()
    base = store.commit([Put(schema.PORT, "a", {})])
    watcher = BlockedWatch(store, base, timeout=10)
    time.sleep(0.2)  # not synchronisation: makes sure the watcher is already blocked when we commit
    revision = writer.commit([Put(schema.PORT, "b", {"v": 1})])
    batch, elapsed = watcher.result()
    assert batch.events == [Event(revision, schema.PORT, "b", {"v": 1})] and batch.revision == revision
    assert elapsed < 2


def test_a_watcher_sees_a_whole_commit_in_one_batch(store: NorthboundStore) -> None:
    base = store.commit([Put(schema.PORT, "c", {})])
    revision = store.commit(
        [Put(schema.PORT, "a", {"x": 1}), Put(schema.PORT_PAIR, "b", {}), Delete(schema.PORT, "c")]
    )
    batch = store.watch(base, timeout=2)
    assert batch.revision == revision and not batch.resync
    assert ids(batch) == [(schema.PORT, "a", False), (schema.PORT_PAIR, "b", False), (schema.PORT, "c", True)]
    assert {e.revision for e in batch.events} == {revision}
    assert batch.events[0].value == {"x": 1} and batch.events[2].value is None


def test_watch_from_an_old_revision_replays_exactly_the_missed_events(store: NorthboundStore) -> None:
    first = store.commit([Put(schema.PORT, "a", {"v": 1})])
    missed = [
        store.commit([Put(schema.PORT, "a", {"v": 2})]),
        store.commit([Put(schema.PORT, "b", {"v": 1}), Put(schema.NETWORK, "n", {})]),
        store.commit([Delete(schema.PORT, "a")]),
    ]
    batch = store.watch(first, timeout=2)
    assert not batch.resync and batch.revision == missed[-1]
    assert [(e.revision, e.kind, e.id, e.value) for e in batch.events] == [
        (missed[0], schema.PORT, "a", {"v": 2}),
        (missed[1], schema.PORT, "b", {"v": 1}),
        (missed[1], schema.NETWORK, "n", {}),
        (missed[2], schema.PORT, "a", None),
    ]
    assert store.watch(batch.revision, timeout=0) == WatchBatch(revision=batch.revision)
    everything = store.watch(0, timeout=2)
    assert [e.revision for e in everything.events] == [first, *missed[:2], missed[1], missed[2]]


def test_a_watch_loop_sees_every_commit_once_in_order(driver: Driver, store: NorthboundStore) -> None:
    writer = driver.open()
    seen: list[Event] = []
    done = threading.Event()

    def follow() -> None:
        since = 0
        while not done.is_set():
            batch = store.watch(since, timeout=0.2)
            seen.extend(batch.events)
            since = batch.revision

    watcher = threading.Thread(target=follow)
    watcher.start()
    try:
        written = [writer.commit([Put(schema.PORT, f"p{i}", {"i": i})]) for i in range(30)]
        wait_until(lambda: len(seen) >= 30, what="the watcher to see 30 commits")
    finally:
        done.set()
        watcher.join(timeout=10)
    assert [(e.revision, e.id) for e in seen] == [(r, f"p{i}") for i, r in enumerate(written)]


def test_a_watcher_behind_the_kept_history_gets_a_snapshot(isolated_driver: Driver) -> None:
    store = isolated_driver.open(history=2) if isolated_driver.name != "etcd" else isolated_driver.open()
    for i in range(5):
        store.commit([Put(schema.PORT, f"p{i}", {"i": i})])
    store.commit([Delete(schema.PORT, "p0")])
    isolated_driver.compact(store)
    batch = store.watch(0, timeout=2)
    revision, records = store.snapshot()
    assert batch.resync and list(batch.events) == []
    assert batch.revision == revision and list(batch.snapshot) == records
    assert [r.id for r in batch.snapshot] == ["p1", "p2", "p3", "p4"]
    late = store.commit([Put(schema.PORT, "late", {})])
    resumed = store.watch(batch.revision, timeout=2)
    assert not resumed.resync and ids(resumed) == [(schema.PORT, "late", False)] and resumed.revision == late


def test_the_history_keeps_each_revisions_concerns_document_also_when_rewritten_alike(
    store: NorthboundStore,
) -> None:
    """One document rewritten by every API write (`nbdb.concerns`): a watcher reading the history
    learns each revision's value, the same value twice included."""
    first = store.commit([Put(schema.PORT_CHAIN, "c1", {}), concern_put(["ch1"])])
    second = store.commit([Put(schema.PORT_CHAIN, "c2", {}), concern_put(["ch1"])])
    third = store.commit([Put(schema.NETWORK, "n1", {})])
    fourth = store.commit([Put(schema.PORT_CHAIN, "c3", {}), concern_put(None)])
    found = revision_concerns(store.watch(first - 1, timeout=0).events, STATUS_KINDS)
    ch1 = frozenset({"ch1"})
    assert found == {first: ch1, second: ch1, third: None, fourth: None}
