"""A watch across a server crash (redis, etcd): outage calls fail fast, and nothing is lost or repeated."""

from __future__ import annotations

import time

import pytest

from steerflow.model import schema
from steerflow.nbdb import NorthboundStore, Put, StoreError
from tests.builders.servers import Server, wait_until
from tests.builders.stores import Driver, Follower


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
