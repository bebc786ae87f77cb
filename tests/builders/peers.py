"""Another process on the same store: tests/builders/peer.py started, read and stopped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_peer(url: str, *flags: str) -> subprocess.Popen[str]:
    """tests/builders/peer.py in a new Python process on the same store."""
    command = [sys.executable, "-m", "tests.builders.peer", url, *flags]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def committed_revision(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line[:1] == ["committed"], f"the peer process failed (exit {proc.poll()})"
    return int(line[1])
