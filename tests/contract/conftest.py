"""Fixtures of the NB contract suite: every test runs once per driver, on real servers we start."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from steerflow.nbdb import NorthboundStore
from steerflow.nbdb.memory import MemoryStore
from tests.builders.servers import EtcdServer, RedisServer, Server, missing
from tests.builders.stores import Driver

SERVER = pytest.mark.server
DRIVERS = ["memory", "embedded", pytest.param("redis", marks=SERVER), pytest.param("etcd", marks=SERVER)]
SERVERS = [pytest.param("redis", marks=SERVER), pytest.param("etcd", marks=SERVER)]
BINARY = {"redis": "redis-server", "etcd": "etcd"}


def _server(kind: type[Server], binary: str, workdir: Path) -> Iterator[Server]:
    reason = missing(binary)
    if reason:
        pytest.skip(reason)
    server = kind(workdir)
    try:
        server.start()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(RedisServer, "redis-server", tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(EtcdServer, "etcd", tmp_path_factory.mktemp("etcd"))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Server]:
    """A redis-server for this test alone (it may kill, restart or compact it)."""
    yield from _server(RedisServer, "redis-server", tmp_path / "redis")


@pytest.fixture
def own_etcd(tmp_path: Path) -> Iterator[Server]:
    """An etcd for this test alone (it may kill, restart or compact it)."""
    yield from _server(EtcdServer, "etcd", tmp_path / "etcd")


def server_url(server: Server, namespace: str) -> str:
    """The URL of a fresh, empty store on `server`: a key prefix of its own."""
    if isinstance(server, RedisServer):
        return f"{server.url}?prefix={namespace}:"
    assert isinstance(server, EtcdServer)
    return f"etcd://{server.endpoint}/{namespace}"


def make_driver(name: str, request: pytest.FixtureRequest, tmp_path: Path, own: bool = False) -> Driver:
    """The harness of driver `name`; `own` gives it a server of its own instead of the shared one."""
    namespace = f"t{uuid.uuid4().hex[:12]}"
    if name == "memory":
        return Driver(name, "memory://", cross_process=False, shared=MemoryStore())
    if name == "embedded":
        return Driver(name, (tmp_path / "nb.db").as_uri())
    reason = missing(BINARY[name])
    if reason:
        pytest.skip(reason)
    server: Server = request.getfixturevalue(f"own_{name}" if own else f"{name}_server")
    return Driver(name, server_url(server, namespace), dense=name != "etcd")


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    harness = make_driver(request.param, request, tmp_path)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def store(driver: Driver) -> NorthboundStore:
    return driver.open()


@pytest.fixture(params=DRIVERS)
def isolated_driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    """Like `driver`, on a server of its own: for tests that compact history (it affects every prefix)."""
    harness = make_driver(request.param, request, tmp_path, own=True)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture(params=SERVERS)
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Driver, Server]]:
    """A driver on a server of its own, with the server, so that the test can kill and restart it."""
    harness = make_driver(request.param, request, tmp_path, own=True)
    try:
        yield harness, request.getfixturevalue(f"own_{request.param}")
    finally:
        harness.close()
