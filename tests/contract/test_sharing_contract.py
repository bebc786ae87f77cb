"""The NB store shared by many writers: other processes, racing threads, and durability of commits."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from steerflow.model import schema
from steerflow.nbdb import NorthboundStore, Put, RevisionConflict, open_store
from steerflow.nbdb.api import Operation
from steerflow.nbdb.embedded import EmbeddedStore
from tests.builders.peers import committed_revision, start_peer, stop
from tests.builders.stores import Driver

RACERS = 6


def test_two_processes_see_each_others_commits(driver: Driver, store: NorthboundStore) -> None:
    if not driver.cross_process:
        pytest.skip("the memory store lives inside one process")
    peer = start_peer(driver.url)
    try:
        theirs = committed_revision(peer)
        batch = store.watch(0, timeout=5)
        assert [(e.id, e.value) for e in batch.events] == [
            ("from-peer", {"written_by": "peer", "list": [1, 2]})
        ]
        assert batch.revision == theirs == store.revision()
        mine = store.commit([Put(schema.PORT, "from-test", {})], expected_revision=theirs)
        out, _ = peer.communicate(timeout=30)
        assert out.split() == ["saw", str(mine)] and peer.returncode == 0
    finally:
        stop(peer)


def race(stores: list[NorthboundStore], ops: list[list[Operation]], expected: int) -> list[int | None]:
    """Every store commits its ops at the same moment, all expecting `expected`; None = conflict."""
    barrier = threading.Barrier(len(stores))
    outcomes: list[int | None] = [None] * len(stores)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = stores[i].commit(ops[i], expected_revision=expected)
        except RevisionConflict:
            outcomes[i] = None

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_racing_commits_on_the_same_revision_have_exactly_one_winner(driver: Driver) -> None:
    stores = [driver.open() for _ in range(RACERS)]
    base = stores[0].commit([Put(schema.PORT, "seed", {})])
    outcomes = race(stores, [[Put(schema.PORT, f"racer{i}", {"i": i})] for i in range(RACERS)], base)
    winners = [(i, rev) for i, rev in enumerate(outcomes) if rev is not None]
    assert len(winners) == 1, outcomes
    [(winner, revision)] = winners
    assert stores[0].revision() == revision
    assert [r.id for r in stores[0].list(schema.PORT)] == sorted(["seed", f"racer{winner}"])


def test_optimistic_increments_from_many_threads_are_never_lost(driver: Driver) -> None:
    """Read-modify-write through expected_revision, as api.txn does: no update may be lost."""
    stores = [driver.open() for _ in range(4)]
    stores[0].commit([Put("counter", "c", {"n": 0})])

    def increment(store: NorthboundStore) -> None:
        for _ in range(5):
            while True:
                revision, records = store.snapshot()
                n = records[0].value["n"]
                try:
                    store.commit([Put("counter", "c", {"n": n + 1})], expected_revision=revision)
                    break
                except RevisionConflict:
                    continue

    threads = [threading.Thread(target=increment, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    record = stores[0].get("counter", "c")
    assert record is not None and record.value == {"n": 20}


def test_an_embedded_commit_survives_the_writer_being_killed(tmp_path: Path) -> None:
    url = (tmp_path / "nb.db").as_uri()
    peer = start_peer(url, "--commit-and-hang")
    try:
        revision = committed_revision(peer)
        peer.kill()  # SIGKILL right after commit returned: no close, no checkpoint
    finally:
        stop(peer)
    store = open_store(url)
    try:
        assert isinstance(store, EmbeddedStore)
        assert store.revision() == revision
        record = store.get(schema.PORT, "from-peer")
        assert record is not None and record.mod_revision == revision
    finally:
        store.close()


def test_embedded_history_is_bounded_by_whole_revisions(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "nb.db", history=8)
    try:
        for i in range(20):
            store.commit(
                [Put(schema.PORT, f"a{i}", {}), Put(schema.PORT, f"b{i}", {}), Put(schema.PORT, f"c{i}", {})]
            )
        # at most history + history // 8 events are kept, always whole revisions: here the last 2 or 3
        tail = store.watch(18, timeout=0)
        assert not tail.resync and [e.revision for e in tail.events] == [19] * 3 + [20] * 3
        behind = store.watch(16, timeout=0)
        assert behind.resync and behind.revision == 20 and len(behind.snapshot) == 60
    finally:
        store.close()


def open_files(path: Path) -> int:
    """How many descriptors of this process point at `path`."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if fd.exists() and fd.resolve() == path.resolve())


def test_embedded_connections_of_finished_threads_are_closed(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "nb.db")
    try:
        for i in range(20):
            thread = threading.Thread(target=store.commit, args=([Put(schema.PORT, f"p{i}", {})],))
            thread.start()
            thread.join()
        assert store.revision() == 20
        # the main thread's connection and the last thread's (SQLite may keep a closed one's descriptor
        # until the others release their POSIX locks), not one per thread that came and went
        assert open_files(tmp_path / "nb.db") <= 4
    finally:
        store.close()
    assert open_files(tmp_path / "nb.db") == 0
