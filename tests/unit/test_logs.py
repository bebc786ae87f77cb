"""Daemon logs: text or one JSON object per line, context fields, per-module levels; sd_notify."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from steerflow import logs, sdnotify
from steerflow.southbound.ovsdb import choose_datapath

CHASSIS = "chassis"  # not the NB schema: a log field


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logging configured into a buffer; the root logger and the touched levels restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("steerflow.agent").level)
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("steerflow.agent").setLevel(saved[2])
    logs._process.clear()


def test_json_lines_carry_the_context(captured: io.StringIO) -> None:
    logs.configure("json", "info", stream=captured)
    logs.set_process_field(CHASSIS, "hv1")
    log = logging.getLogger("steerflow.agent.agent")
    log.info("plain")
    with logs.context(nb_revision=42):
        log.warning("applied %d flows", 3, extra={"chain_id": "c-1"})
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [set(line) for line in lines] == [
        {"time", "level", "logger", "message", CHASSIS},
        {"time", "level", "logger", "message", CHASSIS, "nb_revision", "chain_id"},
    ]
    assert lines[1] | {"time": None} == {
        "time": None, "level": "warning", "logger": "steerflow.agent.agent", "message": "applied 3 flows",
        CHASSIS: "hv1", "nb_revision": 42, "chain_id": "c-1",
    }  # fmt: skip
    assert lines[0]["time"].endswith("Z") and lines[0]["time"][10] == "T"


def test_a_field_reaches_threads_started_from_its_task(captured: io.StringIO) -> None:
    logs.configure("json", "info", stream=captured)

    def in_thread() -> None:
        logging.getLogger("steerflow.x").info("in a thread")

    with logs.context(nb_revision=7):
        import contextvars

        thread = threading.Thread(target=contextvars.copy_context().run, args=(in_thread,))
        thread.start()
        thread.join()
    assert json.loads(captured.getvalue())["nb_revision"] == 7


def test_exceptions_stay_on_one_json_line(captured: io.StringIO) -> None:
    logs.configure("json", "info", stream=captured)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("steerflow.x").exception("failed")
    (line,) = captured.getvalue().splitlines()
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def test_text_is_human_readable_with_the_context_in_brackets(captured: io.StringIO) -> None:
    logs.configure("text", "info", stream=captured)
    logging.getLogger("steerflow.api").info("no context")
    with logs.context(chassis="hv2", nb_revision=3):
        logging.getLogger("steerflow.agent").info("bridge br-int ready")
    first, second = captured.getvalue().splitlines()
    assert first.endswith(" INFO steerflow.api: no context")
    assert second.endswith(" INFO steerflow.agent [chassis=hv2 nb_revision=3]: bridge br-int ready")


def test_levels_per_module(captured: io.StringIO) -> None:
    logs.configure("text", "warning,steerflow.agent=debug", stream=captured)
    logging.getLogger("steerflow.agent.binding").debug("agent detail")
    logging.getLogger("steerflow.rest").info("api chatter")
    logging.getLogger("steerflow.rest").warning("api warning")
    shown = captured.getvalue()
    assert "agent detail" in shown and "api warning" in shown and "api chatter" not in shown


@pytest.mark.parametrize(
    ("spec", "levels"),
    [
        ("info", {"": logging.INFO}),
        ("DEBUG", {"": logging.DEBUG}),
        ("info,steerflow.agent=debug", {"": logging.INFO, "steerflow.agent": logging.DEBUG}),
        ("steerflow.rest=warning", {"steerflow.rest": logging.WARNING}),
        ("info,debug", {"": logging.DEBUG}),  # the last root level wins (--verbose appends debug)
    ],
)
def test_parse_levels(spec: str, levels: dict[str, int]) -> None:
    assert logs.parse_levels(spec) == levels


@pytest.mark.parametrize("spec", ["loud", "steerflow.agent=", "=debug", "info,steerflow=verbose"])
def test_bad_levels_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="bad log level"):
        logs.parse_levels(spec)


@pytest.mark.parametrize(
    ("supported", "module", "chosen", "why"),
    [
        (("netdev", "system"), True, "system", "the openvswitch kernel module is loaded"),
        (("netdev", "system"), False, "netdev", "the openvswitch kernel module is not loaded"),
        (("netdev",), True, "netdev", "does not list system among its datapath types (netdev)"),
        ((), False, "netdev", "(none listed yet)"),
    ],
)
def test_datapath_follows_the_host(supported: tuple[str, ...], module: bool, chosen: str, why: str) -> None:
    datapath, reason = choose_datapath(supported, module)
    assert datapath == chosen and why in reason


def test_readiness_is_one_datagram_to_notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert sdnotify.ready("serving")
        assert manager.recv(4096) == b"READY=1\nSTATUS=serving"
        monkeypatch.delenv("NOTIFY_SOCKET")
        assert not sdnotify.ready("nobody listens")
        manager.settimeout(0.05)
        with pytest.raises(TimeoutError):
            manager.recv(4096)


def test_a_gone_notify_socket_is_a_warning_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert not sdnotify.ready("nobody there")


def test_the_api_access_log_names_the_chain(captured: io.StringIO) -> None:
    import asyncio

    from steerflow.rest.middleware import AccessLog

    async def app(
        scope: dict[str, object], receive: object, send: Callable[[dict[str, object]], Any]
    ) -> None:
        await send({"type": "http.response.start", "status": 204})

    async def send(message: dict[str, object]) -> None:
        return None

    logs.configure("json", "info", stream=captured)
    for path in ("/v2.0/sfc/port_chains/c-42", "/v2.0/networks"):
        scope = {"type": "http", "method": "DELETE", "path": path, "raw_path": path.encode()}
        asyncio.run(AccessLog(app)(scope, None, send))  # type: ignore[arg-type]
    chain, network = (json.loads(line) for line in captured.getvalue().splitlines())
    assert chain["message"].startswith("DELETE /v2.0/sfc/port_chains/c-42 204 ")
    assert chain["chain_id"] == "c-42" and "chain_id" not in network
