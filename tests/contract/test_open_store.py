"""`open_store(url)`: every scheme opens a working store; bad URLs name the accepted forms."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from steerflow.model import schema
from steerflow.nbdb import DEFAULT_NB_URL, Delete, NorthboundStore, Put, default_nb_url, open_store
from steerflow.nbdb.embedded import EmbeddedStore
from steerflow.nbdb.etcd_store import EtcdStore
from steerflow.nbdb.memory import MemoryStore
from steerflow.nbdb.redis_store import RedisStore
from tests.builders.servers import EtcdServer, RedisServer, Server


def round_trip(store: NorthboundStore) -> None:
    try:
        revision = store.commit([Put(schema.CHASSIS, "host-1", {"ok": True})])
        record = store.get(schema.CHASSIS, "host-1")
        assert record is not None and record.value == {"ok": True} and record.mod_revision == revision
    finally:
        store.close()


def test_memory_url(tmp_path: Path) -> None:
    store = open_store("memory://")
    assert isinstance(store, MemoryStore)
    round_trip(store)


@pytest.mark.parametrize("form", ["file_url", "absolute_path", "relative_path"])
def test_embedded_urls(form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = {
        "file_url": (tmp_path / "a" / "nb.db").as_uri() + "?history=10",
        "absolute_path": str(tmp_path / "nb.db"),
        "relative_path": "nb.db",
    }[form]
    store = open_store(url)
    assert isinstance(store, EmbeddedStore)
    round_trip(store)


@pytest.mark.server
def test_redis_url(redis_server: Server) -> None:
    assert isinstance(redis_server, RedisServer)
    store = open_store(f"{redis_server.url}?prefix=smoke:&history=50")
    assert isinstance(store, RedisStore) and store.prefix == "smoke:" and store.history == 50
    round_trip(store)


@pytest.mark.server
def test_etcd_url_with_a_dead_endpoint_first(etcd_server: Server) -> None:
    assert isinstance(etcd_server, EtcdServer)
    store = open_store(f"etcd://127.0.0.1:1,{etcd_server.endpoint}/smoke")
    assert isinstance(store, EtcdStore) and store.prefix == "/smoke/" and store.watch_transport == "grpc"
    round_trip(store)


@pytest.mark.server
@pytest.mark.parametrize("transport", ["grpc", "gateway"])
def test_etcd_watches_over_either_transport(etcd_server: Server, transport: str) -> None:
    assert isinstance(etcd_server, EtcdServer)
    store = open_store(f"etcd://{etcd_server.endpoint}/{transport}-{os.getpid()}?watch={transport}")
    writer = open_store(f"etcd://{etcd_server.endpoint}/{transport}-{os.getpid()}")
    try:
        assert isinstance(store, EtcdStore) and store.watch_transport == transport
        first = writer.commit([Put(schema.PORT, "a", {"n": 1}), Put(schema.PORT, "b", {"n": 2})])
        assert store.watch(0, timeout=0).revision == first  # the feed is open from here
        second = writer.commit([Delete(schema.PORT, "a")])
        batch = store.watch(first, timeout=2)
        assert [(e.revision, e.id, e.value) for e in batch.events] == [(second, "a", None)]
    finally:
        store.close()
        writer.close()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/nb",
        "file://relative/nb.db",
        "file:///tmp/nb.db?histroy=5",
        "memory://?history=0",
        "redis:///0",
        "etcd://",
        "etcd://localhost",
        "etcd://localhost:2379?watch=http",
        "etcd://localhost:2379?calls=http",
    ],
)
def test_bad_urls_name_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match="accepted forms: file:///"):
        open_store(url)


def test_the_default_url_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STEERFLOW_NB", "memory://")
    assert default_nb_url() == "memory://"
    assert isinstance(open_store(), MemoryStore)
    monkeypatch.delenv("STEERFLOW_NB")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    expected = DEFAULT_NB_URL if os.geteuid() == 0 else (tmp_path / "steerflow" / "nb.db").as_uri()
    assert default_nb_url() == expected
