"""Running the lab's system commands (ip, ovs-*, ping), optionally inside a network namespace."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

log = logging.getLogger("steerflow.lab")

DEFAULT_TIMEOUT = 30.0


class LabError(RuntimeError):
    """A lab step failed."""


class LabCommandError(LabError):
    """A system command exited non-zero; carries its argv and output for the report."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr.strip() or stdout.strip()}")


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def run(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv (inside `netns` if given; `ip netns exec` keeps our environment, so `env` reaches it)."""
    full = in_netns(netns, argv)
    merged = {**os.environ, **env} if env else None
    log.debug("run: %s", " ".join(full))
    proc = subprocess.run(
        full, input=stdin, capture_output=True, text=True, env=merged, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise LabCommandError(full, proc.returncode, proc.stdout, proc.stderr)
    return proc


def try_run(argv: Sequence[str], *, netns: str | None = None) -> bool:
    """Best-effort command for cleanup paths: failure (already gone) is fine, so only report success."""
    try:
        return run(argv, netns=netns, check=False, timeout=10.0).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def poll_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Wait for a condition we can observe, rather than sleeping a guessed amount."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)
