"""Real redis-server and etcd processes for the contract suite: free ports, tmp dirs, killed by pid."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

START_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def listening_unix_socket(path: Path) -> Iterator[str]:
    """`unix:PATH` of a socket that accepts connections and serves nothing (no ovsdb-server): what gets
    a daemon past its socket checks to the next one."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        sock.listen()
        yield f"unix:{path}"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail the test with `what` when it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


class Server:
    """One daemon we own: started on fixed ports in its own dir, so a restart finds its data again."""

    name = "server"
    start_timeout = START_TIMEOUT

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        """The daemon's environment; None: ours."""
        return None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env())
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} did not start; log:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, like a crash: nothing gets a chance to flush that was not already durable."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


class RedisServer(Server):
    """redis-server with an fsync-always append-only file, so a SIGKILL loses no acknowledged write."""

    name = "redis"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            "redis-server",
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)),
            *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
            *("--daemonize", "no", "--protected-mode", "no"),
        ]

    def ready(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


class EtcdServer(Server):
    """A one-member etcd cluster with its data dir under the test's tmp dir; clients reach it on `host`."""

    name = "etcd"

    def __init__(self, workdir: Path, host: str = "127.0.0.1") -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.peer_port = free_port()
        self.endpoint = f"{host}:{self.port}"

    def command(self) -> list[str]:
        client = f"http://{self.endpoint}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            "etcd",
            *("--name", "contract", "--data-dir", str(self.workdir / "data"), "--log-level", "error"),
            *("--listen-client-urls", client, "--advertise-client-urls", client),
            *("--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer),
            *("--initial-cluster", f"contract={peer}"),
        ]

    def ready(self) -> bool:
        # a linearizable read only succeeds once the member has a leader (itself)
        try:
            answer = httpx.post(f"http://{self.endpoint}/v3/kv/range", json={"key": "AA=="}, timeout=1)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200


DEBIAN_PACKAGE = {"redis-server": "redis-server", "etcd": "etcd-server"}


def missing(binary: str) -> str | None:
    """Why a server test cannot run here, or None when the binary is installed."""
    if shutil.which(binary) is None:
        package = DEBIAN_PACKAGE.get(binary, binary)
        return f"{binary} is not installed (apt-get install {package}, or ./run.sh install)"
    return None


class EtcdMember(EtcdServer):
    """One member of a loopback etcd cluster; `initial_cluster` names every member's peer URL."""

    def __init__(self, workdir: Path, name: str, host: str = "127.0.0.1") -> None:
        self.name = name
        super().__init__(workdir, host)
        self.initial_cluster = ""

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def command(self) -> list[str]:
        argv = super().command()
        argv[argv.index("contract")] = self.name
        argv[argv.index("--initial-cluster") + 1] = self.initial_cluster
        # elections in a fraction of the default second, so that tests that kill the leader stay short
        return [*argv, "--heartbeat-interval", "50", "--election-timeout", "500"]

    def start_process(self) -> None:
        """Start without waiting: a member answers only once a quorum of members is up."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)

    def status(self) -> dict[str, str] | None:
        """This member's id and the leader it knows (etcd's maintenance status), None when down."""
        try:
            answer = httpx.post(f"http://{self.endpoint}/v3/maintenance/status", json={}, timeout=1)
            data = answer.json()
        except (httpx.HTTPError, ValueError):
            return None
        if answer.status_code != 200:
            return None
        return {"id": str(data["header"]["member_id"]), "leader": str(data.get("leader", ""))}


class EtcdCluster:
    """A 3-member etcd cluster on loopback, each member in its own dir; members are killed by pid.
    Clients reach the members on `host` (another local address, for agents in a lab's namespaces)."""

    def __init__(self, workdir: Path, size: int = 3, host: str = "127.0.0.1") -> None:
        self._workdir, self._size, self._host = workdir, size, host
        self.members = self._new_members(attempt=0)

    def _new_members(self, attempt: int) -> list[EtcdMember]:
        """Members on fresh free ports, in dirs of their own for this attempt."""
        members = [
            EtcdMember(self._workdir / f"m{n}-{attempt}", f"m{n}", self._host) for n in range(self._size)
        ]
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in members)
        for member in members:
            member.initial_cluster = cluster
        return members

    @property
    def url(self) -> str:
        return "etcd://" + ",".join(m.endpoint for m in self.members)

    def start(self, attempts: int = 3) -> None:
        """Start every member and wait for a leader. A member that exits at once lost its port to
        another process between `free_port` and its bind (parallel tests): start anew on fresh ports."""
        for attempt in range(attempts):
            if attempt:
                self.kill()
                self.members = self._new_members(attempt)
            for member in self.members:
                member.start_process()
            wait_until(
                lambda: self.leader() is not None or self._a_member_exited(),
                timeout=START_TIMEOUT,
                what="an etcd leader",
            )
            if not self._a_member_exited():
                return
        raise AssertionError(f"an etcd member exited at start {attempts} times (see its log)")

    def _a_member_exited(self) -> bool:
        return any(m.proc is not None and m.proc.poll() is not None for m in self.members)

    def leader(self) -> EtcdMember | None:
        """The member every live member agrees leads, once they all answer with one leader."""
        statuses = {m.name: m.status() for m in self.members if m.proc is not None}
        if not statuses or any(s is None or not s["leader"] or s["leader"] == "0" for s in statuses.values()):
            return None
        leaders = {s["leader"] for s in statuses.values() if s is not None}
        if len(leaders) != 1:
            return None
        (leader,) = leaders
        return next((m for m in self.members if (statuses.get(m.name) or {}).get("id") == leader), None)

    def kill(self) -> None:
        for member in self.members:
            member.kill()


@contextmanager
def etcd_cluster(workdir: Path, host: str = "127.0.0.1") -> Iterator[EtcdCluster]:
    """A running 3-member cluster, every member killed by pid afterwards (the test is skipped without
    etcd)."""
    reason = missing("etcd")
    if reason:
        pytest.skip(reason)
    cluster = EtcdCluster(workdir, host=host)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.kill()
