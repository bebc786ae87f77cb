"""The bare HTTP/2 gRPC call the etcd watch speaks, against a scripted server on loopback: what it sends,
messages cut out of any framing, PINGs and SETTINGS acknowledged, the window replenished, and how a
call ends (trailers, refusal before the first message, a server that is not HTTP/2, silence)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from steerflow.nbdb import etcd_h2
from steerflow.nbdb.etcd_h2 import CallEnded, NotHttp2, server_stream

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, PING, WINDOW_UPDATE = 0, 1, 4, 6, 8
Frame = tuple[int, int, int, bytes]


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def grpc(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def parse(raw: bytes) -> list[Frame]:
    frames: list[Frame] = []
    while raw:
        size = int.from_bytes(raw[:3], "big")
        frames.append((raw[3], raw[4], int.from_bytes(raw[5:9], "big"), raw[9 : 9 + size]))
        raw = raw[9 + size :]
    return frames


def literals(block: bytes) -> dict[str, str]:
    """An HPACK block of literals without indexing, short plain strings (what the client sends)."""
    fields: dict[str, str] = {}
    while block:
        assert block[0] == 0
        name_end = 2 + block[1]
        value_end = name_end + 1 + block[name_end]
        fields[block[2:name_end].decode()] = block[name_end + 1 : value_end].decode()
        block = block[value_end:]
    return fields


class Server:
    """A loopback server that sends `answer` once the client's request is in, then records everything
    the client sends until it closes."""

    def __init__(self, answer: bytes) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.answer = answer
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                self.received += chunk
                if self.answer and self._request_complete():
                    conn.sendall(self.answer)
                    self.answer = b""

    def _request_complete(self) -> bool:
        frames = parse(self.received[len(PREFACE) :]) if len(self.received) > len(PREFACE) else []
        return any(kind == DATA and flags & 1 for kind, flags, _, _ in frames)

    def frames(self) -> list[Frame]:
        self.thread.join(timeout=5)
        self.listener.close()
        assert self.received.startswith(PREFACE)
        return parse(self.received[len(PREFACE) :])


@contextmanager
def call(server: Server, read_timeout: float = 2.0) -> Iterator[tuple[str | None, Iterator[bytes]]]:
    with server_stream(
        server.endpoint, "/pkg.Service/Method", b"abc", {"hasleader": "true"}, 1.0, read_timeout
    ) as opened:
        yield opened


def read_all(messages: Iterator[bytes]) -> list[bytes]:
    out: list[bytes] = []
    with pytest.raises(CallEnded, match="trailers"):
        for message in messages:
            out.append(message)
    return out


def test_a_call_sends_its_request_and_reads_messages_however_framed() -> None:
    one, two, three = b"x" * 40, b"second", b"third"
    padded = bytes([3]) + grpc(two) + grpc(three) + b"\x00\x00\x00"
    server = Server(
        frame(SETTINGS, 0, 0, b"")
        + frame(PING, 0, 0, b"12345678")
        + frame(HEADERS, 4, 1, b"\x88")  # response headers (:status 200), not decoded
        + frame(DATA, 0, 1, grpc(one)[:10])
        + frame(DATA, 0, 1, grpc(one)[10:])
        + frame(DATA, 0x8, 1, padded)
        + frame(HEADERS, 5, 1, b"\x40\x0bgrpc-status\x010")  # trailers
    )
    with call(server) as (refusal, messages):
        assert refusal is None
        assert read_all(messages) == [one, two, three]
    sent = server.frames()
    assert [(kind, flags, stream) for kind, flags, stream, _ in sent[:4]] == [
        (SETTINGS, 0, 0),
        (WINDOW_UPDATE, 0, 0),
        (HEADERS, 4, 1),
        (DATA, 1, 1),
    ]
    assert literals(sent[2][3]) == {
        ":method": "POST",
        ":scheme": "http",
        ":path": "/pkg.Service/Method",
        ":authority": server.endpoint.removeprefix("http://"),
        "content-type": "application/grpc",
        "te": "trailers",
        "hasleader": "true",
    }
    assert sent[3][3] == grpc(b"abc")
    assert (SETTINGS, 1, 0, b"") in sent[4:] and (PING, 1, 0, b"12345678") in sent[4:]


def test_the_receive_window_is_replenished(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(etcd_h2, "WINDOW", 65_536)  # replenished after 32 KiB
    message = b"m" * 12_000
    server = Server(
        frame(SETTINGS, 0, 0, b"")
        + b"".join(frame(DATA, 0, 1, grpc(message)) for _ in range(3))
        + frame(HEADERS, 5, 1, b"")
    )
    with call(server) as (_refusal, messages):
        assert read_all(messages) == [message] * 3
    updates = [(stream, int.from_bytes(p, "big")) for kind, _, stream, p in server.frames() if kind == 8]
    assert updates == [(0, 1), (0, 3 * 12_005), (1, 3 * 12_005)]


def test_a_call_ended_before_its_first_message_is_refused() -> None:
    server = Server(frame(SETTINGS, 0, 0, b"") + frame(HEADERS, 5, 1, b"\x40\x0bgrpc-status\x0214"))
    with call(server) as (refusal, messages):
        assert refusal is not None and "trailers" in refusal
        assert list(messages) == []
    assert server.frames()[-1] == (SETTINGS, 1, 0, b"")


def test_a_server_that_answers_http1_is_not_taken_for_grpc() -> None:
    server = Server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(NotHttp2), call(server):
        pass
    assert server.frames()[0][0] == SETTINGS


def test_a_silent_call_times_out() -> None:
    server = Server(frame(SETTINGS, 0, 0, b"") + frame(DATA, 0, 1, grpc(b"created")))
    with call(server, read_timeout=0.2) as (_refusal, messages):
        assert next(messages) == b"created"
        with pytest.raises(TimeoutError):
            next(messages)
    assert server.frames()[-1] == (SETTINGS, 1, 0, b"")
