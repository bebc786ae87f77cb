"""A chassis whose agent died: reported down after the configured time, skipped by `?wait` and
`steerflow wait` (and named), and forgotten with `steerflow chassis delete`, which unbinds its ports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from steerflow.model import schema
from tests.builders.api_server import start_api_server
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

DOWN_AFTER = 2.0  # seconds: the API's and `steerflow wait`'s down-after in this test
HEARTBEAT = 0.5  # the agents' heartbeat interval


def _steerflow(*args: str, endpoint: str = "") -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "steerflow.cli", *(("--endpoint", endpoint) if endpoint else ()), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _alive(endpoint: str) -> dict[str, bool]:
    done = _steerflow(schema.CHASSIS, "list", "-f", "json", endpoint=endpoint)
    assert done.returncode == 0, done.stderr
    return {c["id"]: c["alive"] for c in json.loads(done.stdout)}


def test_a_dead_agent_is_skipped_then_its_chassis_deleted(
    fabric: Fabric, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEERFLOW_CHASSIS_DOWN_AFTER", str(DOWN_AFTER))  # the API server inherits it
    fabric.agent_args = ("--heartbeat", str(HEARTBEAT))
    for i in (1, 2):
        fabric.add_chassis(f"ch{i}", f"198.51.100.{10 + i}")
    net = fabric.network("net", "203.0.113.0/24")
    fabric.plug_vm("ch1", "a", net)
    fabric.plug_vm("ch2", "b", net)
    port_b = _port_id(fabric, "b")
    fabric.wait_applied()
    with start_api_server(tmp_path / "api", fabric.nb_url) as api:
        assert _alive(api.url) == {"ch1": True, "ch2": True}
        idle = fabric.store.revision()
        time.sleep(DOWN_AFTER + 1)
        assert _alive(api.url) == {"ch1": True, "ch2": True}  # heartbeats keep them alive
        assert fabric.store.revision() == idle  # ... without a commit: no watcher woke for them

        fabric.agents["ch2"].stop(signal.SIGKILL)
        deadline = time.monotonic() + DOWN_AFTER + 5
        while _alive(api.url)["ch2"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(api.url) == {"ch1": True, "ch2": False}

        with httpx.Client(base_url=api.url, timeout=30) as http:
            started = time.monotonic()
            r = http.post("/v2.0/networks?wait=20", json={schema.NETWORK: {"name": "later"}})
            assert r.status_code == 201
            assert time.monotonic() - started < 10  # ch1 applies it; nobody waits for ch2
            assert (r.headers["X-Steerflow-Applied"], r.headers["X-Steerflow-Skipped"]) == ("true", "ch2")

        waited = _steerflow("wait", "--nb", fabric.nb_url, "--timeout", "20", "--down-after", str(DOWN_AFTER))
        assert waited.returncode == 0, waited.stderr
        assert waited.stdout.strip().endswith("applied by 1 chassis (skipped, down: ch2)")

        assert fabric.store.get(schema.PORT_BINDING, port_b) is not None
        deleted = _steerflow(schema.CHASSIS, "delete", "ch2", "nope", endpoint=api.url)
        assert deleted.returncode == 1  # no warning for ch2: it was down; each failure named, then counted
        assert deleted.stderr.splitlines() == [
            "Error: failed to delete chassis with name or ID 'nope': no chassis found for 'nope'",
            "Error: 1 of 2 chassis failed to delete.",
        ]
        assert fabric.store.get(schema.PORT_BINDING, port_b) is None
        port = fabric.store.get(schema.PORT, port_b)
        assert port is not None and port.value["status"] == "DOWN"
        assert _alive(api.url) == {"ch1": True}
        shown = _steerflow(schema.CHASSIS, "show", "ch2", endpoint=api.url)
        assert (shown.returncode, shown.stderr) == (1, "Error: no chassis found for 'ch2'\n")

        # a live agent comes back: its chassis registers again within a heartbeat
        fabric.start_agent("ch2")
        deadline = time.monotonic() + 20
        while "ch2" not in _alive(api.url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(api.url) == {"ch1": True, "ch2": True}
        fabric.wait_bound(port_b, "ch2")


def _port_id(fabric: Fabric, name: str) -> str:
    return next(r.id for r in fabric.store.list(schema.PORT) if r.value.get("name") == name)


def test_deleting_a_live_chassis_warns_and_its_agent_registers_it_again(
    fabric: Fabric, tmp_path: Path
) -> None:
    fabric.agent_args = ("--heartbeat", str(HEARTBEAT))
    fabric.add_chassis("ch1", "198.51.100.11")
    fabric.wait_applied()
    with start_api_server(tmp_path / "api", fabric.nb_url) as api:
        deleted = _steerflow(schema.CHASSIS, "delete", "ch1", endpoint=api.url)
        assert deleted.returncode == 0
        assert deleted.stderr.startswith("Warning: chassis ch1 was alive: its agent registers it again")
        deadline = time.monotonic() + 20
        while "ch1" not in _alive(api.url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(api.url) == {"ch1": True}
