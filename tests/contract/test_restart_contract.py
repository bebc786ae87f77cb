"""A watch across a server crash (redis, etcd): outage calls fail fast, and nothing is lost or repeated."""

from __future__ import annotations

import threading
import time

import pytest

from steerflow.model import schema
from steerflow.nbdb import Event, NorthboundStore, Put, StoreError
from tests.builders.servers import Server, wait_until
from tests.builders.stores import Driver


class Follower:
    """A watcher thread that keeps resuming from its last revision, as an agent does."""

    def __init__(self, store: NorthboundStore) -> None:
        self.store = store
        self.seen: list[Event] = []
        self.outages = 0
        self.resyncs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        since = 0
        while not self._stop.is_set():
            try:
                batch = self.store.watch(since, timeout=0.5)
            except StoreError:
                self.outages += 1
                self._stop.wait(0.05)  # retry pacing while the server is down
                continue
            self.resyncs += batch.resync
            self.seen.extend(batch.events)
            since = batch.revision

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def commit_once_up(store: NorthboundStore, put: Put) -> int:
    """Commit after the server answers reads again (a commit is never retried blindly)."""

    def answers() -> bool:
        try:
            store.revision()
        except StoreError:
            return False
        return True

    wait_until(answers, timeout=20, what="the restarted server to answer")
    return store.commit([put])


def test_a_watch_survives_a_server_restart(restartable: tuple[Driver, Server]) -> None:
    driver, server = restartable
    writer, reader = driver.open(), driver.open()
    with Follower(reader) as follower:
        before = [writer.commit([Put(schema.PORT, "before-1", {"n": 1})])]
        wait_until(lambda: len(follower.seen) == 1, what="the first event")
        before.append(writer.commit([Put(schema.PORT, "before-2", {"n": 2})]))
        server.kill()
        started = time.monotonic()
        with pytest.raises(StoreError):
            writer.revision()
        assert time.monotonic() - started < 3, "a call during an outage must fail fast, not hang"
        wait_until(lambda: follower.outages > 0, what="the blocked watcher to notice the outage")
        server.start()
        after = [commit_once_up(writer, Put(schema.PORT, "after-1", {"n": 3}))]
        after.append(writer.commit([Put(schema.PORT, "after-2", {"n": 4})]))
        wait_until(lambda: len(follower.seen) >= 4, what="all four events")
    expected = list(zip(before + after, ["before-1", "before-2", "after-1", "after-2"], strict=True))
    assert [(e.revision, e.id) for e in follower.seen] == expected
    assert follower.resyncs == 0
