"""Fixtures of the real-Neutron tests: a Redis NB store and neutron-server with steerflow's drivers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from steerflow.nbdb import open_store
from steerflow.nbdb.api import NorthboundStore
from tests.builders.neutron_server import Neutron, NeutronServer, empty_database, missing_venv
from tests.builders.servers import RedisServer, missing


@pytest.fixture(scope="session")
def neutron_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = missing_venv() or missing("redis-server")
    if why:
        pytest.skip(why)
    return empty_database(tmp_path_factory.mktemp("neutron-schema"))


@pytest.fixture()
def redis_nb(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture()
def nb(redis_nb: RedisServer) -> Iterator[NorthboundStore]:
    with contextlib.closing(open_store(redis_nb.url)) as store:
        yield store


@pytest.fixture()
def neutron_server(tmp_path: Path, neutron_schema: Path, redis_nb: RedisServer) -> Iterator[NeutronServer]:
    server = NeutronServer(tmp_path / "neutron", redis_nb.url, neutron_schema)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture()
def neutron(neutron_server: NeutronServer) -> Iterator[Neutron]:
    with Neutron(neutron_server.url) as client:
        yield client
