"""A real API server process (uvicorn on a fresh NB) and a Neutron-style client of its REST API."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from steerflow.model import schema
from steerflow.nbdb.api import Delete, NorthboundStore
from steerflow.nbdb.url import open_store
from tests.builders.balancer import haproxy

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3  # a free port can be taken by someone else between our probe and uvicorn's bind
API_SERVERS_ENV = "STEERFLOW_TEST_API_SERVERS"  # how many servers `start_api_server` runs behind HAProxy


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ApiServer:
    """One running `python -m steerflow.rest` process, and our own handle on the store it serves."""

    url: str
    nb_url: str
    pid: int
    log: Path
    store: NorthboundStore
    more_logs: tuple[Path, ...] = ()  # the other servers' logs, when requests are spread (below)

    def log_text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in (self.log, *self.more_logs))

    def reset(self) -> None:
        """Empty the store (the server reads it on every request, so it starts afresh too)."""
        _revision, records = self.store.snapshot()
        if records:
            self.store.commit([Delete(r.kind, r.id) for r in records])


@dataclass(frozen=True)
class TokenFile:
    """A token file and its tokens: `admin` (project "ops"), `alice` (project "alice"), `bob` ("bob")."""

    path: Path
    admin: str = "admin-token"
    alice: str = "alice-token"
    bob: str = "bob-token"

    def headers(self, token: str) -> dict[str, str]:
        return {"X-Auth-Token": token}


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)


def _launch(
    workdir: Path, nb_url: str, token_file: Path | None, extra_args: Sequence[str] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server; return it once it answers, or raise with its log if it never does."""
    port = free_port()
    argv = [sys.executable, "-m", "steerflow.rest", "--nb", nb_url, "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    if token_file is not None:
        argv += ["--token-file", str(token_file)]
    argv += extra_args
    log = workdir / "api.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"the API server did not start; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)
    return proc, url


@contextmanager
def start_api_server(
    workdir: Path,
    nb_url: str | None = None,
    token_file: Path | None = None,
    extra_args: Sequence[str] = (),
    servers: int | None = None,
) -> Iterator[ApiServer]:
    """A real API server over `nb_url` (default: an embedded store in `workdir`), always stopped;
    `extra_args` go to `python -m steerflow.rest` (e.g. `--pagination-max-limit 4`).

    With `servers` N > 1 (default: $STEERFLOW_TEST_API_SERVERS, else 1), N servers on that one store
    behind HAProxy, which spreads requests over them one by one: the same suites then prove the
    servers keep no state."""
    workdir.mkdir(parents=True, exist_ok=True)
    nb = nb_url or (workdir / "nb.db").as_uri()
    count = servers or int(os.environ.get(API_SERVERS_ENV) or 1)
    with contextlib.ExitStack() as stack:
        procs: list[subprocess.Popen[bytes]] = []
        urls: list[str] = []
        wheres = [workdir] if count == 1 else [workdir / f"api{n}" for n in range(count)]
        for where in wheres:
            where.mkdir(exist_ok=True)
            proc, url = _launch_retrying(where, nb, token_file, extra_args)
            stack.callback(_stop, proc)
            procs.append(proc)
            urls.append(url)
        if count > 1:
            urls = [stack.enter_context(haproxy(workdir / "haproxy", urls))]
        store = open_store(nb)
        stack.callback(store.close)
        logs = [where / "api.log" for where in wheres]
        yield ApiServer(urls[0], nb, procs[0].pid, logs[0], store, tuple(logs[1:]))


def _launch_retrying(
    workdir: Path, nb: str, token_file: Path | None, extra_args: Sequence[str]
) -> tuple[subprocess.Popen[bytes], str]:
    for attempt in range(START_ATTEMPTS):
        try:
            return _launch(workdir, nb, token_file, extra_args)
        except RuntimeError:
            if attempt == START_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


SINGULAR = {
    "networks": schema.NETWORK,
    "subnets": schema.SUBNET,
    "ports": schema.PORT,
    "port_pairs": schema.PORT_PAIR,
    "port_pair_groups": schema.PORT_PAIR_GROUP,
    "port_chains": schema.PORT_CHAIN,
    "flow_classifiers": schema.FLOW_CLASSIFIER,
    "service_graphs": schema.SERVICE_GRAPH,
}


SFC_COLLECTIONS = frozenset(
    {"port_pairs", "port_pair_groups", "port_chains", "flow_classifiers", "service_graphs"}
)


class Rest:
    """A thin HTTP client of one server for tests: raw responses, plus `create` for the happy path."""

    def __init__(self, url: str, token: str | None = None) -> None:
        headers = {"X-Auth-Token": token} if token else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=30.0)

    @staticmethod
    def path(collection: str, id: str | None = None) -> str:
        prefix = "/sfc" if collection in SFC_COLLECTIONS else ""
        base = f"/v2.0{prefix}/{collection}"
        return base if id is None else f"{base}/{id}"

    def create(self, collection: str, **attrs: Any) -> dict[str, Any]:
        """POST one object; it must succeed (201)."""
        resource = SINGULAR[collection]
        resp = self.http.post(self.path(collection), json={resource: attrs})
        assert resp.status_code == 201, resp.text
        obj: dict[str, Any] = resp.json()[resource]
        return obj

    def list(self, collection: str, **params: Any) -> list[dict[str, Any]]:
        resp = self.http.get(self.path(collection), params=params)
        assert resp.status_code == 200, resp.text
        objs: list[dict[str, Any]] = resp.json()[collection]
        return objs

    def close(self) -> None:
        self.http.close()
