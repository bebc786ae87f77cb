"""The embedded store's doorbells: another process's commit wakes a watcher at once, not at a poll."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from steerflow.model import schema
from steerflow.nbdb import embedded
from steerflow.nbdb.api import Put, WatchBatch
from steerflow.nbdb.doorbell import bell_directory
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
