"""The lab's daemons as pids: liveness, ownership checks and termination by pid (never by name)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("steerflow.lab")


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie (a detached daemon's parent may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """A process' resident memory now and its highest since it started (VmRSS, VmHWM), in MB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def owned_pid(pidfile: Path) -> int | None:
    """The pid in an OVS daemon's pidfile, only if that process still runs with `--pidfile=<this file>` on its
    command line: a stale pidfile must never make us kill an unrelated process that reused the pid."""
    pid = read_pidfile(pidfile)
    if pid is None or not pid_alive(pid) or f"--pidfile={pidfile}" not in cmdline(pid):
        return None
    return pid


def kill_pids(pids: Iterable[int], grace: float = 5.0) -> None:
    """SIGTERM each pid, wait for all to exit, then SIGKILL whatever is left."""
    pending = {p for p in pids if p > 1 and p != os.getpid()}
    for pid in sorted(pending):
        log.info("stopping pid %d (%s)", pid, cmdline(pid).split(" ", 1)[0] or "?")
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if pid_alive(p)}
        if pending:
            time.sleep(0.02)
    for pid in sorted(pending):
        log.warning("pid %d ignored SIGTERM for %.1fs; sending SIGKILL", pid, grace)
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if pid_alive(p)}
        if pending:
            time.sleep(0.02)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
