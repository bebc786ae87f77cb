"""OvsSandbox: a private ovsdb-server + userspace ovs-vswitchd with bridge br-int, and its pytest fixture.

Everything lives in a fresh run dir (OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR point there), so the bridge's
management socket is `<rundir>/br-int.mgmt`. ovs-vswitchd runs under `unshare --net`: a netdev
bridge creates persistent tap devices ("ovs-netdev", "br-int") that would collide with any other
sandbox on the machine and outlive the daemon; in a private network namespace they vanish with it.
Daemons are our children, stopped by pid (never by name: other test runs share the machine), and
get SIGKILL from the kernel if this process dies first.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
BINARIES = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "unshare")
_PR_SET_PDEATHSIG = 1


def ovs_missing() -> str | None:
    """Why an OVS sandbox cannot run here, or None if it can."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return f"missing binaries: {', '.join(missing)}"
    if not SCHEMA.exists():
        return f"missing {SCHEMA}"
    if os.geteuid() != 0:
        return "needs root (unshare --net for ovs-vswitchd)"
    return None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: a crashed test run must not leak daemons.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def accepts_connections(path: Path) -> bool:
    """Whether a unix socket at `path` takes connections (a stale socket file does not)."""
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


class OvsSandbox:
    """One emulated switch; `start()` returns when br-int answers on its management socket."""

    def __init__(self, rundir: Path, *, bridge: str = "br-int", datapath_id: int | None = 0xA1) -> None:
        self.rundir = rundir
        self.bridge = bridge
        self.datapath_id = datapath_id
        self.db_sock = rundir / "db.sock"
        self.mgmt_sock = rundir / f"{bridge}.mgmt"
        self.env = {
            **os.environ,
            "OVS_RUNDIR": str(rundir),
            "OVS_DBDIR": str(rundir),
            "OVS_LOGDIR": str(rundir),
            "OVS_SYSCONFDIR": str(rundir),
        }
        self.ovsdb: subprocess.Popen[bytes] | None = None
        self.vswitchd: subprocess.Popen[bytes] | None = None

    @property
    def db_target(self) -> str:
        return f"unix:{self.db_sock}"

    @property
    def mgmt_target(self) -> str:
        return f"unix:{self.mgmt_sock}"

    def start(self) -> OvsSandbox:
        self.run("ovsdb-tool", "create", str(self.rundir / "conf.db"), str(SCHEMA))
        self.ovsdb = self._spawn(
            "ovsdb-server",
            str(self.rundir / "conf.db"),
            f"--remote=punix:{self.db_sock}",
            f"--unixctl={self.rundir / 'ovsdb-server.ctl'}",
        )
        wait_until(lambda: accepts_connections(self.db_sock), 10, "ovsdb-server")
        self.vsctl("--no-wait", "init")
        self.start_vswitchd()
        bridge = ["add-br", self.bridge, "--", "set", "bridge", self.bridge]
        bridge += ["datapath_type=netdev", "fail_mode=secure"]
        if self.datapath_id is not None:
            bridge.append(f"other_config:datapath-id={self.datapath_id:016x}")
        self.vsctl(*bridge)
        wait_until(lambda: accepts_connections(self.mgmt_sock), 10, f"{self.mgmt_sock}")
        return self

    def start_vswitchd(self) -> None:
        self.vswitchd = self._spawn(
            "unshare",
            "--net",
            "ovs-vswitchd",
            self.db_target,
            "--disable-system",
            "--disable-system-route",
            f"--unixctl={self.rundir / 'ovs-vswitchd.ctl'}",
        )

    def kill_vswitchd(self) -> None:
        """Crash ovs-vswitchd (SIGKILL by pid), as a restart test needs."""
        _stop(self.vswitchd, signal.SIGKILL)
        self.vswitchd = None

    def restart_vswitchd(self) -> None:
        self.kill_vswitchd()
        self.start_vswitchd()
        # the old socket file refuses connections: this returns once the new daemon made the bridge
        wait_until(lambda: accepts_connections(self.mgmt_sock), 10, f"{self.mgmt_sock} after restart")

    def stop(self) -> None:
        _stop(self.vswitchd, signal.SIGTERM)
        _stop(self.ovsdb, signal.SIGTERM)
        self.vswitchd = self.ovsdb = None

    def __enter__(self) -> OvsSandbox:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, *argv: str) -> str:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def vsctl(self, *args: str) -> str:
        return self.run("ovs-vsctl", f"--db={self.db_target}", "--timeout=10", *args)

    def ofctl(self, command: str, *args: str) -> str:
        return self.run("ovs-ofctl", "-O", "OpenFlow13", command, self.mgmt_target, *args)

    def _spawn(self, *argv: str) -> subprocess.Popen[bytes]:
        name = Path(argv[2] if argv[0] == "unshare" else argv[0]).name
        log = ["--no-chdir", "-vconsole:off", f"--log-file={self.rundir / (name + '.log')}"]
        return subprocess.Popen(
            [*argv, *log],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )


def _stop(proc: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextlib.contextmanager
def ovs_sandbox(*, bridge: str = "br-int", datapath_id: int | None = 0xA1) -> Iterator[OvsSandbox]:
    """A started sandbox in a fresh short run dir (unix socket paths must stay under 108 bytes)."""
    rundir = Path(tempfile.mkdtemp(prefix="sf-ovs-", dir="/tmp"))
    try:
        with OvsSandbox(rundir, bridge=bridge, datapath_id=datapath_id) as sandbox:
            yield sandbox
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


def sandbox_or_skip() -> Iterator[OvsSandbox]:
    """Body of a fixture: a fresh started sandbox, or a pytest skip when OVS or root is unavailable."""
    reason = ovs_missing()
    if reason:
        pytest.skip(f"OVS sandbox unavailable: {reason}")
    with ovs_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def ovs_switch() -> Iterator[OvsSandbox]:
    """A fresh private switch per test; register with `pytest_plugins = ["tests.builders.ovs_fixtures"]`,
    or wrap sandbox_or_skip() in a local fixture."""
    yield from sandbox_or_skip()
