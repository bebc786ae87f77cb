"""Several threads watching through one etcd store handle: the stream has no thread of its own (the
watching thread that finds it free reads it), and every thread still sees every commit once, in order."""

from __future__ import annotations

import os
import threading

import pytest

from steerflow.model import schema
from steerflow.nbdb import Put, open_store
from tests.builders.servers import EtcdServer, Server

pytestmark = pytest.mark.server
THREADS = 3
COMMITS = 30


@pytest.mark.parametrize("transport", ["grpc", "gateway"])
def test_threads_of_one_handle_each_see_every_commit_once(etcd_server: Server, transport: str) -> None:
    assert isinstance(etcd_server, EtcdServer)
    url = f"etcd://{etcd_server.endpoint}/threads-{transport}-{os.getpid()}"
    store = open_store(f"{url}?watch={transport}")
    writer = open_store(url)
    before = {t.name for t in threading.enumerate()}
    seen: list[list[tuple[int, str]]] = [[] for _ in range(THREADS)]
    since = store.watch(0, timeout=0).revision

    def follow(mine: list[tuple[int, str]]) -> None:
        revision = since
        while len(mine) < COMMITS:
            batch = store.watch(revision, timeout=0.2)
            mine += [(e.revision, e.id) for e in batch.events]
            revision = batch.revision

    threads = [threading.Thread(target=follow, args=(mine,), daemon=True) for mine in seen]
    try:
        for thread in threads:
            thread.start()
        written = [(writer.commit([Put(schema.PORT, f"p{n}", {"n": n})]), f"p{n}") for n in range(COMMITS)]
        for thread in threads:
            thread.join(timeout=20)
        assert all(mine == written for mine in seen)
        feeds = {t.name for t in threading.enumerate()} - before - {t.name for t in threads}
        assert feeds == (set() if transport == "grpc" else {"etcd-gateway-watch"})
    finally:
        store.close()
        writer.close()
