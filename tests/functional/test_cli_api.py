"""`steerflow api` as a real process: the embedded store it opens, token mode, and bad arguments."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from steerflow.cli.main import app
from steerflow.client import ApiError, SteerflowClient
from steerflow.model import schema
from tests.builders.api_server import free_port

pytestmark = pytest.mark.server

runner = CliRunner()
TOKENS = {
    "admin-secret": {"project_id": "ops", "roles": ["admin"], "user_id": "root"},
    "alice-secret": {"project_id": "alice", "roles": ["member"], "user_id": "alice"},
}


@contextmanager
def running_api(workdir: Path, token_file: Path | None = None) -> Iterator[str]:
    """`steerflow api` on an embedded store in `workdir`; yields its URL and always stops it (by pid)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "steerflow.cli",
        "api",
        "--nb",
        (workdir / "nb.db").as_uri(),
        "--port",
        str(port),
    ]
    if token_file is not None:
        argv += ["--token-file", str(token_file)]
    log = workdir / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        # uvicorn listens only once the app is built, so a connection means ready
        _wait_listening(port, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"steerflow api did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def sf(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(
        app, list(args), env={"STEERFLOW_TOKEN": "", "STEERFLOW_ENDPOINT": "", **(env or {})}
    )
    return result.exit_code, result.stdout, result.stderr


def test_api_serves_the_embedded_store_it_was_given(tmp_path: Path) -> None:
    with running_api(tmp_path) as url:
        code, out, err = sf("--endpoint", url, "network", "create", "-f", "json", "persisted")
        assert code == 0, err
        net_id = json.loads(out)["id"]
        with SteerflowClient(url) as client:
            # not the NB schema: extension aliases
            assert {"sfc", "flow_classifier", "service_graph"} <= set(client.extensions())
    # a second server on the same file sees what the first one wrote
    with running_api(tmp_path) as url, SteerflowClient(url) as client:
        assert client.find(schema.NETWORK, "persisted")["id"] == net_id


def test_token_mode(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    with running_api(tmp_path, tokens) as url:
        code, _, err = sf("--endpoint", url, "network", "list")
        assert code == 1 and err.startswith("Error: Unauthorized: ") and len(err.strip().splitlines()) == 1
        code, out, err = sf(
            "--endpoint", url, "--token", "alice-secret", "network", "create", "-f", "json", "mine"
        )
        assert code == 0, err
        assert json.loads(out)["project_id"] == "alice"
        env = {"STEERFLOW_TOKEN": "admin-secret", "STEERFLOW_ENDPOINT": url}
        code, out, err = sf("network", "list", "-f", "json", env=env)
        assert code == 0, err
        assert [n["name"] for n in json.loads(out)] == ["mine"]
        with SteerflowClient(url, token="wrong") as client, pytest.raises(ApiError) as caught:
            client.list(schema.NETWORK)
        assert caught.value.status == 401


def test_bad_store_url_is_one_red_line(tmp_path: Path) -> None:
    code, _, err = sf("api", "--nb", "gopher://nowhere", "--port", str(free_port()))
    assert code == 2
    assert "Error: unsupported northbound store URL 'gopher://nowhere'" in err
