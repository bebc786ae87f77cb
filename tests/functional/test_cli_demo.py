"""`steerflow demo` end to end as a subprocess: it builds the chain, shows it, and leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from steerflow.client import SteerflowClient, UnreachableError

pytestmark = pytest.mark.server


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "200"}
    env.pop("STEERFLOW_ENDPOINT", None)
    argv = [sys.executable, "-m", "steerflow.cli", "demo", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def server_of(output: str) -> tuple[str, int]:
    found = re.search(r"API ready at (http://127\.0\.0\.1:\d+) \(pid (\d+)\)", output)
    assert found, output
    return found.group(1), int(found.group(2))


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_demo_builds_and_shows_the_chain_then_cleans_up(tmp_path: Path) -> None:
    done = run_demo(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "[10/10] Create the port chain" in out
    assert "$ steerflow port-chain create --port-pair-group hop1 --flow-classifier udp-to-server" in out
    assert re.search(r"created port-chain 'udp-chain' id=[0-9a-f-]{36}\s+chain_id=1", out), out
    assert "$ steerflow port-chain show udp-chain" in out
    assert "Chain udp-chain:" in out and "sf1" in out
    endpoint, pid = server_of(out)
    assert process_gone(pid)
    with SteerflowClient(endpoint, timeout=2) as client, pytest.raises(UnreachableError):
        client.list("port_chain")
    assert list(tmp_path.iterdir()) == []  # the store and the log went with it


def test_demo_keep_leaves_a_usable_api(tmp_path: Path) -> None:
    done = run_demo(tmp_path, "--keep")
    endpoint, pid = server_of(done.stdout)
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"export STEERFLOW_ENDPOINT={endpoint}" in done.stdout
        assert f"kill {pid}" in done.stdout
        with SteerflowClient(endpoint) as client:
            chain = client.find("port_chain", "udp-chain")
            fc = client.find("flow_classifier", "udp-to-server")
            group = client.find("port_pair_group", "hop1")
        assert chain["flow_classifiers"] == [fc["id"]] and chain["port_pair_groups"] == [group["id"]]
        assert (fc["protocol"], fc["destination_ip_prefix"]) == ("udp", "10.0.0.20/32")
    finally:
        if not process_gone(pid):
            os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid):
            os.kill(pid, signal.SIGKILL)
