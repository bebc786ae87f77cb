"""The processes a demo (or a test fabric) runs: the API server and one agent per chassis, stopped by pid.

Every process starts in a session of its own: a Ctrl-C in the terminal reaches only the demo, which then
stops them itself (and with `--keep` they outlive it). They are only ever stopped by the pid we got when
starting them, or by a pid read back from the demo's state file after checking that the process still
runs with the demo's directory on its command line (a recycled pid is never killed).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from steerflow.client import ClientError, SteerflowClient
from steerflow.lab import ChassisHandle
from steerflow.lab.procs import cmdline, kill_pids, pid_alive
from steerflow.lab.sh import in_netns

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def steerflow_argv(*args: str) -> list[str]:
    """The `steerflow` command line, run by this very interpreter (the venv need not be on PATH)."""
    return [sys.executable, "-m", "steerflow.cli", *args]


def spawn(argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start argv detached (own session, stdin closed), appending its output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal a child we started, wait for it, and SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def stop_recorded(pids: Sequence[int], marker: str) -> list[int]:
    """Stop processes recorded by another run: only those still alive with `marker` in their command
    line (SIGTERM, then SIGKILL after a grace period). Returns the pids that were stopped."""
    owned = [pid for pid in pids if pid_alive(pid) and marker in cmdline(pid)]
    kill_pids(owned)
    return owned


def log_text(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


@dataclass
class AgentProcess:
    """`steerflow agent` for one lab chassis, running inside the chassis' namespace."""

    chassis: ChassisHandle
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig)

    def log_text(self) -> str:
        return log_text(self.log)

    def wait_bridge_ready(self, offset: int = 0, timeout: float = READY_TIMEOUT) -> None:
        """Until the agent (its log after `offset`) owns br-int, so nobody races it creating the bridge."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if BRIDGE_READY in self.log_text()[offset:]:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent for {self.chassis.name} exited:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(
            f"agent for {self.chassis.name} never got br-int ready:\n{self.log_text()[-3000:]}"
        )


BRIDGE_READY = "bridge br-int ready"


def start_agent(
    chassis: ChassisHandle, nb_url: str, log: Path, *, verbose: bool = False, extra: Sequence[str] = ()
) -> AgentProcess:
    """Run `steerflow agent` for `chassis` in its namespace, on the NB store at `nb_url` (`extra`: more
    options); returns once the agent has br-int in hand."""
    args = ["agent", "--chassis", chassis.name, "--encap-ip", chassis.underlay_ip]
    # the lab's switches are userspace ones: never left to the host's kernel module
    args += ["--ovsdb", chassis.db_socket, "--nb", nb_url, "--datapath", "netdev", *extra]
    args += ["--verbose"] if verbose else []
    offset = len(log_text(log)) if log.exists() else 0
    proc = spawn(in_netns(chassis.netns, steerflow_argv(*args)), log, chassis.env)
    agent = AgentProcess(chassis, proc, log)
    try:
        agent.wait_bridge_ready(offset)
    except BaseException:
        agent.stop()
        raise
    return agent


@dataclass
class ApiProcess:
    """`steerflow api` on 127.0.0.1:`port` over the NB store at `nb_url`."""

    nb_url: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start the server and return once it answers; on failure stop it and raise with its log."""
        argv = steerflow_argv("api", "--nb", self.nb_url, "--port", str(self.port))
        self.proc = spawn(argv, self.log)
        with SteerflowClient(self.endpoint) as client:
            try:
                client.wait_ready(timeout, alive=lambda: self.proc is not None and self.proc.poll() is None)
            except ClientError as exc:
                self.stop()
                tail = log_text(self.log)[-2000:]
                raise ClientError(f"the API server did not start ({exc}); its log:\n{tail}") from exc

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def log_text(self) -> str:
        return log_text(self.log)
