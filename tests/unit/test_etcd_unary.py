"""Unary gRPC calls on a kept HTTP/2 connection (`etcd_h2.Channel`) against a scripted server on loopback:
answers and their trailers decoded (Huffman, a dynamic table kept across calls), error statuses, a
request sent within the server's frame size and flow-control windows, and a server that is no HTTP/2."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import hpack
import pytest

from steerflow.nbdb.etcd_h2 import CallFailed, Channel, NotHttp2

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, PING, WINDOW_UPDATE = 0, 1, 4, 6, 8
END_STREAM, END_HEADERS = 0x1, 0x4
MAX_FRAME, INITIAL_WINDOW = 0x5, 0x4
Frame = tuple[int, int, int, bytes]
# what the server answers to one request (its stream id and body): the frames it sends back
Responder = Callable[[int, bytes, hpack.Encoder], bytes]


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def grpc(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def setting(identifier: int, value: int) -> bytes:
    return identifier.to_bytes(2, "big") + value.to_bytes(4, "big")


def ok(message: bytes) -> Responder:
    def respond(stream: int, _body: bytes, encoder: hpack.Encoder) -> bytes:
        head = encoder.encode([(":status", "200"), ("content-type", "application/grpc")], huffman=True)
        tail = encoder.encode([("grpc-status", "0"), ("grpc-message", "")], huffman=True)
        return (
            frame(HEADERS, END_HEADERS, stream, head)
            + frame(DATA, 0, stream, grpc(message))
            + frame(HEADERS, END_HEADERS | END_STREAM, stream, tail)
        )

    return respond


class Server:
    """Sends its settings, then answers each request (HEADERS + DATA up to END_STREAM) with `respond`;
    with `window`, it grants the client that much flow-control window at a time, as it reads."""

    def __init__(
        self,
        respond: Responder,
        settings: bytes = b"",
        window: int = 0,
        credit: int = 1 << 30,
        close_after: int = 0,
    ) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.respond, self.settings, self.window, self.credit = respond, settings, window, credit
        self.close_after = close_after  # close the connection after this many answers (0: never)
        self.frames: list[Frame] = []
        self.bodies: list[bytes] = []
        self.overdrawn = 0  # DATA bytes received beyond the window the client was given
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        encoder = hpack.Encoder()
        buffer = b""
        body = b""
        with conn:
            conn.sendall(frame(SETTINGS, 0, 0, self.settings))
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                if buffer.startswith(PREFACE):
                    buffer = buffer[len(PREFACE) :]
                while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                    size = int.from_bytes(buffer[:3], "big")
                    kind, flags, stream = buffer[3], buffer[4], int.from_bytes(buffer[5:9], "big")
                    payload, buffer = buffer[9 : 9 + size], buffer[9 + size :]
                    self.frames.append((kind, flags, stream, payload))
                    if kind != DATA:
                        continue
                    body += payload
                    self.credit -= len(payload)
                    self.overdrawn = max(self.overdrawn, -self.credit)
                    if self.window:
                        self.credit += len(payload)
                        grant = len(payload).to_bytes(4, "big")
                        conn.sendall(
                            frame(WINDOW_UPDATE, 0, 0, grant) + frame(WINDOW_UPDATE, 0, stream, grant)
                        )
                    if flags & END_STREAM:
                        self.bodies.append(body)
                        conn.sendall(self.respond(stream, body, encoder))
                        body = b""
                        if len(self.bodies) == self.close_after:
                            return


def test_calls_on_one_connection_take_streams_1_3_and_keep_the_header_table() -> None:
    server = Server(ok(b"answer"))
    channel = Channel(server.endpoint, 1.0)
    try:
        assert channel.call("/etcdserverpb.KV/Range", b"first", {"hasleader": "true"}, 2.0) == b"answer"
        assert channel.call("/etcdserverpb.KV/Txn", b"second", {}, 2.0) == b"answer"
        assert not channel.broken
    finally:
        channel.close()
    server.thread.join(timeout=5)
    assert [(k, s) for k, _f, s, _p in server.frames if k in (HEADERS, DATA)] == [
        (HEADERS, 1),
        (DATA, 1),
        (HEADERS, 3),
        (DATA, 3),
    ]
    assert server.bodies == [grpc(b"first"), grpc(b"second")]


def test_what_the_server_sends_between_calls_is_handled_and_the_connection_kept() -> None:
    def answer_then_ping(stream: int, body: bytes, encoder: hpack.Encoder) -> bytes:
        return ok(b"answer")(stream, body, encoder) + frame(PING, 0, 0, b"between!")

    server = Server(answer_then_ping)
    channel = Channel(server.endpoint, 1.0)
    try:
        assert channel.call("/etcdserverpb.KV/Range", b"first", {}, 2.0) == b"answer"
        time.sleep(0.1)  # the PING is in
        assert channel.usable()
        assert channel.call("/etcdserverpb.KV/Range", b"second", {}, 2.0) == b"answer"
    finally:
        channel.close()
    server.thread.join(timeout=5)
    assert (PING, 1, 0, b"between!") in server.frames and server.bodies == [grpc(b"first"), grpc(b"second")]


def test_a_connection_the_server_closed_is_not_used() -> None:
    server = Server(ok(b"answer"), close_after=1)
    channel = Channel(server.endpoint, 1.0)
    try:
        assert channel.call("/etcdserverpb.KV/Range", b"first", {}, 2.0) == b"answer"
        server.thread.join(timeout=5)  # the server closed its side
        assert not channel.usable() and channel.broken
    finally:
        channel.close()


def test_an_error_status_is_a_failed_call_with_its_message() -> None:
    def refuse(stream: int, _body: bytes, encoder: hpack.Encoder) -> bytes:
        fields = [(":status", "200"), ("grpc-status", "14"), ("grpc-message", "etcdserver: no%20leader")]
        return frame(HEADERS, END_HEADERS | END_STREAM, stream, encoder.encode(fields, huffman=True))

    channel = Channel(Server(refuse).endpoint, 1.0)
    try:
        with pytest.raises(CallFailed) as failed:
            channel.call("/etcdserverpb.KV/Put", b"x", {}, 2.0)
        assert (failed.value.code, failed.value.message) == (14, "etcdserver: no leader")
    finally:
        channel.close()


def test_a_big_request_waits_for_the_window_and_respects_the_frame_size() -> None:
    settings = setting(MAX_FRAME, 16_384) + setting(INITIAL_WINDOW, 20_000)
    server = Server(ok(b"done"), settings=settings, window=1, credit=20_000)
    request = bytes(range(256)) * 1000  # 256 KB: over both windows (20,000 and the connection's 65,535)
    channel = Channel(server.endpoint, 1.0)
    try:
        assert channel.call("/etcdserverpb.KV/Txn", request, {}, 5.0) == b"done"
    finally:
        channel.close()
    assert server.bodies == [grpc(request)] and server.overdrawn == 0
    sizes = [len(p) for k, _f, _s, p in server.frames if k == DATA]
    assert max(sizes) <= 16_384 and len(sizes) > len(request) // 16_384


def test_a_server_that_answers_http1_is_not_taken_for_grpc() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with pytest.raises(NotHttp2):
        Channel(f"http://127.0.0.1:{listener.getsockname()[1]}", 1.0)
    thread.join(timeout=5)
    listener.close()
