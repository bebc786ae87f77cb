"""`steerflow api` and `steerflow agent` as processes that cannot start: one line, exit 2, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders.api_server import free_port
from tests.builders.servers import listening_unix_socket

pytestmark = pytest.mark.server

AGENT = ("agent", "--chassis", "ch1", "--encap-ip", "198.51.100.1")


def fails_in_one_line(*args: str, env: dict[str, str] | None = None) -> str:
    """Run `steerflow ARGS`; it must exit 2 with exactly one `Error:` line on stderr; returns it."""
    done = subprocess.run(
        [sys.executable, "-m", "steerflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STEERFLOW_NB": "", **(env or {})},
        check=False,
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[str]:
    """A listening unix socket that is no ovsdb-server (the agent must fail before it talks to it)."""
    with listening_unix_socket(tmp_path / "db.sock") as target:
        yield target


def test_api_port_in_use(busy_port: int) -> None:
    line = fails_in_one_line("api", "--nb", "memory://", "--port", str(busy_port))
    assert (
        line
        == f"Error: cannot listen on 127.0.0.1:{busy_port}: the port is in use (choose another with --port)"
    )


def test_api_address_not_local_or_unknown() -> None:
    port = str(free_port())
    assert "no interface of this machine has that address" in fails_in_one_line(
        "api", "--nb", "memory://", "--host", "192.0.2.77", "--port", port
    )
    assert "unknown host" in fails_in_one_line(
        "api", "--nb", "memory://", "--host", "no-such-host.invalid", "--port", port
    )


def test_api_bad_store_url_and_token_file(tmp_path: Path) -> None:
    port = str(free_port())
    assert "unsupported northbound store URL 'gopher://x'" in fails_in_one_line(
        "api", "--nb", "gopher://x", "--port", port
    )
    assert "token file" in fails_in_one_line(
        "api", "--nb", "memory://", "--port", port, "--token-file", str(tmp_path / "missing.json")
    )


def test_agent_refuses_a_memory_store(unix_socket: str) -> None:
    line = fails_in_one_line(*AGENT, "--ovsdb", unix_socket, "--nb", "memory://")
    assert line.startswith("Error: the agent cannot use memory://: a memory store lives inside one process")
    from_env = fails_in_one_line(*AGENT, "--ovsdb", unix_socket, env={"STEERFLOW_NB": "memory://?history=5"})
    assert "cannot use memory://?history=5" in from_env


def test_agent_unreachable_sockets_and_store(tmp_path: Path, unix_socket: str) -> None:
    nb = (tmp_path / "nb.db").as_uri()
    missing = tmp_path / "nowhere.sock"
    line = fails_in_one_line(*AGENT, "--ovsdb", f"unix:{missing}", "--nb", nb)
    assert (
        line
        == f"Error: cannot reach ovsdb-server at unix:{missing} (--ovsdb): no socket there (is it running?)"
    )
    assert not (tmp_path / "nb.db").exists()  # refused before the chassis was registered anywhere
    assert "(--openflow): no socket there" in fails_in_one_line(
        *AGENT, "--ovsdb", unix_socket, "--openflow", f"unix:{missing}", "--nb", nb
    )
    assert "unsupported northbound store URL" in fails_in_one_line(
        *AGENT, "--ovsdb", unix_socket, "--nb", "gopher://x"
    )
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    assert "redis unreachable" in fails_in_one_line(*AGENT, "--ovsdb", unix_socket, "--nb", unreachable)
    assert "redis unreachable" in fails_in_one_line("wait", "--nb", unreachable, "--timeout", "1")


def test_agent_on_a_socket_that_is_no_ovsdb_server_registers_nothing(tmp_path: Path) -> None:
    """A wrong --ovsdb (a socket file nobody serves, as a dead ovsdb-server leaves behind): the agent
    gives up preparing its bridge in one line, and never registered its chassis, which would then be
    waited for by every `?wait`."""
    from steerflow.model import schema
    from steerflow.nbdb.url import open_store

    stale = tmp_path / "db.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))  # closed at once: the file stays, connecting is refused
    nb = (tmp_path / "nb.db").as_uri()
    line = fails_in_one_line(*AGENT, "--ovsdb", f"unix:{stale}", "--nb", nb)
    assert (
        line
        == f"Error: cannot reach ovsdb-server at unix:{stale} (--ovsdb): Connection refused (is it running?)"
    )
    if (tmp_path / "nb.db").exists():
        store = open_store(nb)
        try:
            assert (store.list(schema.CHASSIS), store.list(schema.CHASSIS_STATUS)) == ([], [])
        finally:
            store.close()
