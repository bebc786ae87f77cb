"""systemd readiness (Type=notify): `steerflow api` and `steerflow agent` send READY=1 to $NOTIFY_SOCKET
when, and only when, they are ready (the API answers; the agent has its bridge and the NB). The agent's
bridge takes the datapath the host supports when none is configured."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from steerflow.southbound.ovsdb import KERNEL_MODULE, choose_datapath
from tests.builders.api_server import free_port
from tests.builders.ovs_fixtures import ovs_missing, ovs_sandbox

pytestmark = pytest.mark.server


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[socket.socket]:
    """A unix datagram socket standing for systemd's notify socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify.sock"))
        yield sock


def steerflow(manager: socket.socket, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NOTIFY_SOCKET": manager.getsockname(), "STEERFLOW_NB": ""}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "steerflow.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def received(manager: socket.socket, timeout: float) -> bytes | None:
    manager.settimeout(timeout)
    try:
        return manager.recv(4096)
    except TimeoutError:
        return None


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_api_is_ready_when_it_answers(manager: socket.socket, tmp_path: Path) -> None:
    port = free_port()
    proc = steerflow(manager, tmp_path / "api.log", "api", "--nb", "memory://", "--port", str(port))
    try:
        message = received(manager, 60)
        assert message == f"READY=1\nSTATUS=serving on 127.0.0.1:{port}".encode()
        assert httpx.get(f"http://127.0.0.1:{port}/v2.0/networks").json() == {"networks": []}
        assert received(manager, 0.2) is None  # once
    finally:
        stop(proc)


def test_an_api_that_cannot_start_never_says_ready(manager: socket.socket, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = steerflow(manager, tmp_path / "api.log", "api", "--nb", "memory://", "--port", str(port))
        assert proc.wait(timeout=60) == 2
    assert received(manager, 0.5) is None


@pytest.mark.root
def test_the_agent_is_ready_with_its_bridge_on_the_hosts_datapath(
    manager: socket.socket, tmp_path: Path
) -> None:
    reason = ovs_missing()
    if reason:
        pytest.skip(f"OVS sandbox unavailable: {reason}")
    nb = (tmp_path / "nb.db").as_uri()
    with ovs_sandbox(bridge="br-sbx") as switch:  # br-int is the agent's to create, on no --datapath
        log = tmp_path / "agent.log"
        args = ["agent", "--chassis", "hv1", "--encap-ip", "198.51.100.7", "--ovsdb", switch.db_target]
        proc = steerflow(manager, log, *args, "--nb", nb, "--stats-interval", "0")
        try:
            message = received(manager, 60)
            assert message is not None and message.startswith(b"READY=1\nSTATUS=chassis hv1: bridge br-int")
            supported = switch.vsctl("get", "Open_vSwitch", ".", "datapath_types").strip("[]\n").split(", ")
            expected, why = choose_datapath(supported, Path(KERNEL_MODULE).exists())
            assert switch.vsctl("get", "Bridge", "br-int", "datapath_type").strip() == expected
            assert f"bridge br-int: datapath_type {expected} ({why})" in log.read_text()
            # stopped at once, while its first OpenFlow session may still be being set up (systemctl stop
            # right after start): it must still end promptly, saying so
            stop(proc)
            assert received(manager, 5) == b"STOPPING=1"
        finally:
            stop(proc)


def test_an_agent_that_cannot_start_never_says_ready(manager: socket.socket, tmp_path: Path) -> None:
    args = ["agent", "--chassis", "hv1", "--encap-ip", "198.51.100.7", "--ovsdb", f"unix:{tmp_path}/none"]
    proc = steerflow(manager, tmp_path / "agent.log", *args, "--nb", (tmp_path / "nb.db").as_uri())
    assert proc.wait(timeout=60) == 2
    assert received(manager, 0.5) is None


def test_the_api_serves_an_older_nb_and_says_to_migrate(manager: socket.socket, tmp_path: Path) -> None:
    from steerflow.model import schema
    from steerflow.nbdb import open_store
    from steerflow.nbdb.api import Put

    nb = (tmp_path / "nb.db").as_uri()
    store = open_store(nb)
    try:  # written before schema versions: no version document
        store.commit([Put(schema.NETWORK, "n1", {"id": "n1", "name": "net1"})])
    finally:
        store.close()
    port = free_port()
    log = tmp_path / "api.log"
    proc = steerflow(manager, log, "api", "--nb", nb, "--port", str(port), "--log-format", "json")
    try:
        assert received(manager, 60) is not None
        assert [
            n["name"] for n in httpx.get(f"http://127.0.0.1:{port}/v2.0/networks").json()["networks"]
        ] == ["net1"]
    finally:
        stop(proc)
    warnings = [line for line in log.read_text().splitlines() if '"level": "warning"' in line]
    assert any("schema version 1, older than 2: run `steerflow nb migrate`" in line for line in warnings)
