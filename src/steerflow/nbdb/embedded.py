"""Embedded northbound store: one SQLite file (WAL) shared by the processes of one host, no server."""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from steerflow.nbdb.api import (
    BeatsBeside,
    Event,
    Operation,
    Put,
    Record,
    RevisionConflict,
    StoreError,
    WatchBatch,
)
from steerflow.nbdb.doorbell import Doorbell
from steerflow.nbdb.feed import Feed, announcement
from steerflow.nbdb.status import STATUS_KINDS

DEFAULT_HISTORY = 100_000
# Every commit rings the doorbell of every watching store instance, this process's too (`doorbell`),
# with its events; a watcher silent this long reads the file anyway (a lost ring).
POLL_INTERVAL = 0.1
LOG = logging.getLogger(__name__)
BUSY_TIMEOUT = 30.0
CLOSE_WAIT = 2.0  # seconds `close` waits for a thread to finish its statement on a connection

# Ordered by (revision, seq), which the revision index serves: a watch costs what is new, not the size
# of the history (ORDER BY seq alone makes SQLite scan every event kept, on every watch of every process).
EVENTS_SINCE = "SELECT revision, kind, id, value FROM events WHERE revision > ? ORDER BY revision, seq"
# Two scalar subqueries: SQLite answers a lone MIN or MAX from the key's b-tree, but scans the whole
# table for `SELECT MIN(seq), MAX(seq)` (every commit paid for the whole history that way).
EVENTS_SPAN = "SELECT (SELECT MIN(seq) FROM events), (SELECT MAX(seq) FROM events)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, mod_revision INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, revision INTEGER NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT
);
CREATE INDEX IF NOT EXISTS events_by_revision ON events (revision);
CREATE TABLE IF NOT EXISTS side (
    kind TEXT NOT NULL, member TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, member)
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);
"""

_Row = tuple[str, str, str | None]


class EmbeddedStore(BeatsBeside):
    """A `NorthboundStore` in a SQLite database file.

    Durable (WAL + synchronous=FULL: a commit that returned survives a crash; status reports excepted,
    see `_write`), and safe to share between
    processes: commits are serialized by SQLite's write lock (BEGIN IMMEDIATE) and every process's
    watchers see every commit. `history` bounds the events kept for resuming watchers; compaction drops
    whole revisions, oldest first, and records the newest dropped one in meta `compacted`.
    """

    def __init__(self, path: str | Path, history: int = DEFAULT_HISTORY) -> None:
        if history < 1:
            raise ValueError("history must keep at least one event")
        self.path = Path(path)
        self.history = history
        self._local = threading.local()
        # each thread's connection, and the lock it holds while using it: `close` takes it before closing
        # (closing a connection another thread is stepping a statement on crashed the process)
        self._connections: dict[threading.Thread, tuple[sqlite3.Connection, threading.RLock]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._doorbell = Doorbell(self.path)
        self._feed = Feed(self._doorbell)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._write() as conn:
                for statement in _SCHEMA.split(";"):
                    conn.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the embedded store {self.path}: {exc}") from exc

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, held for the block (sqlite3 connections must not be used by two
        threads at once, nor closed while in use)."""
        held: tuple[sqlite3.Connection, threading.RLock] | None = getattr(self._local, "held", None)
        if held is None:
            held = self._connect()
            self._local.held = held
        conn, busy = held
        with busy:
            yield conn

    def _connect(self) -> tuple[sqlite3.Connection, threading.RLock]:
        with self._lock:
            if self._closed:
                raise StoreError("the embedded store is closed")
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._forget_finished_threads()
            held = (conn, threading.RLock())
            self._connections[threading.current_thread()] = held
        return held

    def _forget_finished_threads(self) -> None:
        """Close the connections of threads that have ended (short-lived threads must not leak them)."""
        for thread in [t for t in self._connections if not t.is_alive()]:
            self._connections.pop(thread)[0].close()

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front so checks stay valid.

        Not `durable` (status reports only): committed without waiting for the disk (WAL with
        synchronous=NORMAL: consistent after a crash, the newest reports may be lost), so the write
        lock is held for microseconds instead of an fsync while API writes wait for it."""
        with self._using() as conn:
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every SELECT inside sees the same committed state."""
        try:
            with self._using() as conn:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"embedded store {self.path}: {exc}") from exc

    def revision(self) -> int:
        with self._read() as conn:
            return _meta(conn, "revision")

    def get(self, kind: str, id: str) -> Record | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT kind, id, value, mod_revision FROM objects WHERE kind = ? AND id = ?", (kind, id)
            ).fetchone()
        return _record(row) if row else None

    def list(self, kind: str) -> list[Record]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT kind, id, value, mod_revision FROM objects WHERE kind = ? ORDER BY id", (kind,)
            ).fetchall()
        return [_record(row) for row in rows]

    def snapshot(self) -> tuple[int, builtins.list[Record]]:
        with self._read() as conn:
            return _meta(conn, "revision"), _all_records(conn)

    def commit(self, ops: Sequence[Operation], expected_revision: int | None = None) -> int:
        rows: list[_Row] = [
            (op.kind, op.id, json.dumps(op.value) if isinstance(op, Put) else None) for op in ops
        ]
        relaxed = all(op.kind in STATUS_KINDS for op in ops)
        try:
            with self._write(durable=not relaxed) as conn:
                revision = _meta(conn, "revision")
                if expected_revision is not None and expected_revision != revision:
                    raise RevisionConflict(expected_revision, revision)
                revision += 1
                _apply(conn, revision, rows)
                self._compact(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"embedded store {self.path}: commit failed: {exc}") from exc
        self._doorbell.ring(announcement(revision, rows))
        if not self._doorbell.listening:
            self._feed.check()  # this process's watchers have no bell to hear it on
        return revision

    def put_side(self, kind: str, member: str, value: Any) -> None:
        """A row of `side`, outside the revisioned tables: no revision, no event, no doorbell; written
        like a status report (not waiting for the disk: a crash may lose the newest entries)."""
        try:
            with self._write(durable=False) as conn:
                if value is None:
                    conn.execute("DELETE FROM side WHERE kind = ? AND member = ?", (kind, member))
                else:
                    row = (kind, member, json.dumps(value))
                    conn.execute("INSERT OR REPLACE INTO side (kind, member, value) VALUES (?, ?, ?)", row)
        except sqlite3.Error as exc:
            raise StoreError(f"embedded store {self.path}: writing {kind} of {member} failed: {exc}") from exc

    def side(self, kind: str) -> dict[str, Any]:
        with self._read() as conn:
            rows = conn.execute("SELECT member, value FROM side WHERE kind = ?", (kind,)).fetchall()
        return {member: json.loads(value) for member, value in rows}

    def _compact(self, conn: sqlite3.Connection) -> None:
        """Keep at most `history` events, dropping whole revisions so no watcher sees half a commit."""
        first, last = conn.execute(EVENTS_SPAN).fetchone()
        # seq only grows and only a prefix is ever deleted, so the span is the event count
        if first is None or last - first + 1 <= self.history + self.history // 8:
            return
        (cutoff,) = conn.execute(
            "SELECT revision FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?", (self.history,)
        ).fetchone()
        conn.execute("DELETE FROM events WHERE revision <= ?", (cutoff,))
        conn.execute("UPDATE meta SET value = ? WHERE name = 'compacted'", (cutoff,))

    def watch(self, since_revision: int, timeout: float = 1.0) -> WatchBatch:
        if timeout <= 0:  # exact: everything committed until now, from the file
            return self._read_file(since_revision) or WatchBatch(revision=since_revision)
        deadline = time.monotonic() + timeout
        self._doorbell.listen()
        while True:
            look = self._feed.take(since_revision)
            batch = look.batch if look.covered else self._read_file(since_revision)
            if batch is not None:
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return WatchBatch(revision=since_revision)
            self._feed.wait(look.generation, min(remaining, POLL_INTERVAL))

    def _read_file(self, since: int) -> WatchBatch | None:
        """The batch a watcher at `since` gets from the file now (None: nothing newer), also logged."""
        asked = self._feed.asked
        revision, batch = self._changes_since(since)
        self._feed.learn(since, revision, batch, asked)
        return batch

    def _changes_since(self, since: int) -> tuple[int, WatchBatch | None]:
        """The store's revision and the batch a watcher at `since` gets now (None: nothing newer)."""
        with self._read() as conn:
            revision = _meta(conn, "revision")
            if revision <= since:
                return revision, None
            if since < _meta(conn, "compacted"):
                return revision, WatchBatch(revision, resync=True, snapshot=_all_records(conn))
            rows = conn.execute(EVENTS_SINCE, (since,)).fetchall()
        events = [
            Event(rev, kind, id, None if value is None else json.loads(value))
            for rev, kind, id, value in rows
        ]
        return revision, WatchBatch(revision, events=events)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, {}
        for conn, busy in connections.values():
            if busy.acquire(timeout=CLOSE_WAIT):  # a thread mid-statement finishes it first
                try:
                    conn.close()
                finally:
                    busy.release()
            else:  # a thread stuck in SQLite's busy wait: its connection is left to the collector
                LOG.warning(
                    "embedded store %s: a connection still in use after %.0f s, not closed",
                    self.path,
                    CLOSE_WAIT,
                )
        self._doorbell.close()


def _meta(conn: sqlite3.Connection, name: str) -> int:
    (value,) = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return int(value)


def _apply(conn: sqlite3.Connection, revision: int, rows: Sequence[_Row]) -> None:
    conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (revision,))
    for kind, id, value in rows:
        if value is None:
            conn.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, id))
        else:
            conn.execute(
                "INSERT OR REPLACE INTO objects (kind, id, value, mod_revision) VALUES (?, ?, ?, ?)",
                (kind, id, value, revision),
            )
    conn.executemany(
        "INSERT INTO events (revision, kind, id, value) VALUES (?, ?, ?, ?)",
        [(revision, kind, id, value) for kind, id, value in rows],
    )


def _record(row: tuple[str, str, str, int]) -> Record:
    kind, id, value, mod_revision = row
    return Record(kind, id, json.loads(value), mod_revision)


def _all_records(conn: sqlite3.Connection) -> list[Record]:
    rows = conn.execute("SELECT kind, id, value, mod_revision FROM objects ORDER BY kind, id").fetchall()
    return [_record(row) for row in rows]
