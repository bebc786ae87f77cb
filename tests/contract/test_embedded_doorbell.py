"""The embedded store's doorbells: a commit wakes every watcher at once with its events, and a lost or
unreadable announcement loses nothing (the watcher reads the file)."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from steerflow.model import schema
from steerflow.nbdb import embedded
from steerflow.nbdb.api import Delete, Put, WatchBatch
from steerflow.nbdb.doorbell import MAX_ANNOUNCEMENT, bell_directory, queue_limit
from steerflow.nbdb.embedded import EmbeddedStore
from tests.builders.peers import committed_revision, start_peer, stop

NEVER = 60.0  # a poll interval no test waits for


def test_a_commit_in_another_process_wakes_a_watcher_without_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "POLL_INTERVAL", NEVER)
    store = EmbeddedStore(tmp_path / "nb.db")
    try:
        store.watch(0, timeout=0.01)  # starts listening
        got: list[WatchBatch] = []
        watcher = threading.Thread(target=lambda: got.append(store.watch(0, timeout=NEVER / 2)))
        started = time.monotonic()
        watcher.start()
        peer = start_peer((tmp_path / "nb.db").as_uri(), "--commit-and-hang")
        try:
            theirs = committed_revision(peer)
            watcher.join(timeout=NEVER)
        finally:
            stop(peer)
        assert got and got[0].revision == theirs
        assert [e.id for e in got[0].events] == ["from-peer"]
        assert time.monotonic() - started < NEVER / 4  # woken by the ring, not by the end of the wait
    finally:
        store.close()


def test_a_bell_left_by_a_dead_process_is_removed_by_the_next_ring(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "nb.db")
    try:
        directory = bell_directory(tmp_path / "nb.db")
        directory.mkdir(parents=True, exist_ok=True)
        stale = directory / "999999999-1"
        orphan = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        orphan.bind(str(stale))
        orphan.close()  # the file stays, nobody listens: like a process killed with SIGKILL
        store.commit([Put(schema.PORT, "p", {})])
        assert not stale.exists()
    finally:
        store.close()


def test_closing_the_store_removes_its_bell(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "nb.db")
    store.watch(0, timeout=0.01)
    directory = bell_directory(tmp_path / "nb.db")
    assert len(list(directory.iterdir())) == 1
    store.close()
    assert list(directory.iterdir()) == []


def test_a_watch_reads_only_the_new_events_through_the_revision_index(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "nb.db")
    try:
        for i in range(50):
            store.commit([Put(schema.PORT, f"p{i}", {"n": i})])
        batch = store.watch(48, timeout=0)
        assert [(e.revision, e.id) for e in batch.events] == [(49, "p48"), (50, "p49")]
        with sqlite3.connect(tmp_path / "nb.db") as conn:
            plan = conn.execute(f"EXPLAIN QUERY PLAN {embedded.EVENTS_SINCE}", (48,)).fetchall()
        assert any("USING INDEX events_by_revision" in str(step) for step in plan), plan
    finally:
        store.close()


def test_a_commit_measures_the_history_without_scanning_it(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "nb.db", history=10)
    try:
        for i in range(30):
            store.commit([Put(schema.PORT, f"p{i}", {"n": i})])
        assert [e.revision for e in store.watch(27, timeout=0).events] == [28, 29, 30]
        with sqlite3.connect(tmp_path / "nb.db") as conn:
            plan = [str(step) for step in conn.execute(f"EXPLAIN QUERY PLAN {embedded.EVENTS_SPAN}")]
            kept = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        assert not any("SCAN events" in step for step in plan), plan
        assert 10 <= kept <= 10 + 10 // 8 + 1
    finally:
        store.close()


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """An embedded store whose doorbell listens (a watch with a timeout has begun)."""
    store = EmbeddedStore(tmp_path / "nb.db")
    try:
        store.watch(0, timeout=0.01)
        yield store
    finally:
        store.close()


def _follow(store: EmbeddedStore, since: int, until: int, timeout: float = 5.0) -> list[tuple[int, str]]:
    """(revision, id) of every event a watcher from `since` sees until it reaches `until`."""
    seen: list[tuple[int, str]] = []
    deadline = time.monotonic() + timeout
    while since < until and time.monotonic() < deadline:
        batch = store.watch(since, timeout=0.5)
        seen += [(e.revision, e.id) for e in batch.events]
        since = batch.revision
    return seen


def test_a_watcher_takes_the_commit_from_its_announcement_without_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EmbeddedStore(tmp_path / "nb.db")
    try:
        first = store.commit([Put(schema.PORT, "p0", {"n": 0})])
        store.watch(first, timeout=0.01)  # listening, and current
        second = store.commit([Put(schema.PORT, "p1", {"n": 1, "name": "x"})])
        monkeypatch.setattr(store, "_changes_since", lambda since: pytest.fail("read the file"))
        batch = store.watch(first, timeout=1)
        assert batch.revision == second
        assert [(e.kind, e.id, e.value) for e in batch.events] == [(schema.PORT, "p1", {"n": 1, "name": "x"})]
    finally:
        store.close()


def test_a_lost_announcement_is_read_from_the_file_in_order(
    listening: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bell = listening._doorbell
    ring = bell.ring
    monkeypatch.setattr(bell, "ring", lambda announcement: None)
    listening.commit([Put(schema.PORT, "lost", {})])  # its datagram never arrives
    monkeypatch.setattr(bell, "ring", ring)
    last = listening.commit([Put(schema.PORT, "heard", {}), Delete(schema.PORT, "lost")])
    assert _follow(listening, 0, last) == [(1, "lost"), (2, "heard"), (2, "lost")]


def test_the_last_commit_is_seen_even_when_its_announcement_is_lost(
    listening: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listening._doorbell, "ring", lambda announcement: None)
    last = listening.commit([Put(schema.PORT, "silent", {})])
    started = time.monotonic()
    assert _follow(listening, 0, last) == [(1, "silent")]
    assert time.monotonic() - started < 10 * embedded.POLL_INTERVAL  # the slow poll, not forever


def test_a_full_bell_loses_no_commit(listening: EmbeddedStore) -> None:
    commits = 5 * queue_limit()  # the socket refuses the datagrams past its queue
    for i in range(commits):
        listening.commit([Put(schema.PORT, f"p{i}", {"n": i})])
    assert _follow(listening, 0, commits) == [(i + 1, f"p{i}") for i in range(commits)]


def test_a_commit_too_big_for_a_datagram_is_read_from_the_file(listening: EmbeddedStore) -> None:
    big = {"blob": "x" * MAX_ANNOUNCEMENT}
    listening.commit([Put(schema.PORT, "big", big)])
    batch = listening.watch(0, timeout=1)
    assert [(e.id, e.value) for e in batch.events] == [("big", big)]


def test_a_one_byte_ring_of_an_older_release_makes_the_watcher_read_the_file(
    listening: EmbeddedStore, tmp_path: Path
) -> None:
    older = sqlite3.connect(tmp_path / "nb.db", isolation_level=None)
    try:
        older.execute("UPDATE meta SET value = 1 WHERE name = 'revision'")  # a commit we never announce
        older.execute("INSERT INTO events (revision, kind, id, value) VALUES (1, 'port', 'old', '{}')")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ringer:
            for bell in bell_directory(tmp_path / "nb.db").iterdir():
                ringer.sendto(b"!", str(bell))
        batch = listening.watch(0, timeout=NEVER / 2)
        assert [(e.revision, e.id) for e in batch.events] == [(1, "old")]
    finally:
        older.close()


def test_threads_of_one_store_each_see_every_commit(listening: EmbeddedStore) -> None:
    seen: list[list[tuple[int, str]]] = [[], [], []]
    threads = [threading.Thread(target=lambda out=out: out.extend(_follow(listening, 0, 30))) for out in seen]
    for thread in threads:
        thread.start()
    for i in range(30):
        listening.commit([Put(schema.PORT, f"p{i}", {})])
        time.sleep(0.002)
    for thread in threads:
        thread.join(timeout=10)
    assert seen == [[(i + 1, f"p{i}") for i in range(30)]] * 3


def test_listeners_that_never_read_cost_the_others_no_announcement(
    listening: EmbeddedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = bell_directory(tmp_path / "nb.db")
    stuck = []
    for n in range(64):  # sockets of watchers that are alive but never read: their queues fill up
        bell = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bell.bind(str(directory / f"stuck-{n}"))
        stuck.append(bell)
    try:
        since = listening.revision()
        monkeypatch.setattr(listening, "_changes_since", lambda since: pytest.fail("read the file"))
        big = {"blob": "x" * (MAX_ANNOUNCEMENT - 1000)}  # 64 full queues of these: MBs unread
        for i in range(3 * queue_limit()):
            revision = listening.commit([Put(schema.PORT, f"p{i}", big)])
            batch = listening.watch(since, timeout=1)
            assert (batch.revision, [e.id for e in batch.events]) == (revision, [f"p{i}"])
            since = batch.revision
    finally:
        for bell in stuck:
            bell.close()
