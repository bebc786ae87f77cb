"""One gRPC server-streaming call over a bare HTTP/2 connection: what the etcd driver's watch speaks.

etcd serves gRPC and its JSON gateway on the same port; the gateway turns every watch response into
JSON once per watcher (in etcd's process, after a gRPC hop to itself), which made etcd's CPU per
watcher several times the gRPC path's. A watch needs one request and then only reads, so the HTTP/2
it takes is small: the connection preface and settings, one HEADERS frame (HPACK literals, no
Huffman, no table), one DATA frame that also half-closes, then DATA frames read as they come, with
PINGs and SETTINGS acknowledged and the receive window replenished. Response headers are not decoded:
the call's end (trailers, RST_STREAM, GOAWAY) just ends the stream, which the caller re-opens.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

from steerflow.nbdb.etcd_wire import Interrupted, Unsent

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# frame types and flags (RFC 9113 section 6)
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM = ACK = 0x1
END_HEADERS, PADDED = 0x4, 0x8
SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE = 0x2, 0x4
CALL = 1  # the one stream this connection opens
DEFAULT_WINDOW = 65_535
# our receive window, per stream and for the connection: big enough that etcd never waits for us
WINDOW = 1 << 24
FRAME_HEADER = 9
GRPC_PREFIX = 5  # compressed flag, 4-byte length
MAX_SETTINGS = 16_384  # the largest frame a peer may send before settings say otherwise


class NotHttp2(Exception):
    """The server did not answer as HTTP/2 (its first frame must be SETTINGS): no gRPC there."""


class CallEnded(ConnectionError):
    """The server ended the call (trailers, reset or going away): the caller re-opens it."""


@contextmanager
def server_stream(
    endpoint: str,
    method: str,
    request: bytes,
    metadata: Mapping[str, str],
    connect_timeout: float,
    read_timeout: float,
) -> Iterator[tuple[str | None, Iterator[bytes]]]:
    """Call gRPC `method` (`/package.Service/Method`) on `endpoint` (`http://HOST:PORT`) with one request
    message and yield (why it was refused or None, the response messages). The call is refused when the
    server ends it before its first response (etcd: no leader). Reading raises TimeoutError after
    `read_timeout` without a frame, `CallEnded` or another OSError when the call or connection ends."""
    parts = urlsplit(endpoint)
    try:
        sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=connect_timeout)
    except OSError as exc:
        raise Unsent(f"{endpoint}: {exc!r}") from exc
    try:
        sock.settimeout(read_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        call = _Call(sock)
        try:
            sock.sendall(_opening(parts.netloc, method, request, metadata))
            call.expect_settings()
            first = call.message()
        except CallEnded as exc:
            yield str(exc), iter(())
            return
        except OSError as exc:
            raise Interrupted(f"{endpoint}: {exc!r}") from exc
        yield None, call.messages(first)
    finally:
        sock.close()


def _opening(authority: str, method: str, request: bytes, metadata: Mapping[str, str]) -> bytes:
    """Preface, settings, window, the call's headers and its one request message (half-closing)."""
    settings = _setting(SETTINGS_ENABLE_PUSH, 0) + _setting(SETTINGS_INITIAL_WINDOW_SIZE, WINDOW)
    headers = {
        ":method": "POST",
        ":scheme": "http",
        ":path": method,
        ":authority": authority,
        "content-type": "application/grpc",
        "te": "trailers",
        **{name.lower(): value for name, value in metadata.items()},
    }
    block = b"".join(_literal(name, value) for name, value in headers.items())
    message = b"\x00" + len(request).to_bytes(4, "big") + request
    return b"".join(
        (
            PREFACE,
            _frame(SETTINGS, 0, 0, settings),
            _window_update(0, WINDOW - DEFAULT_WINDOW),
            _frame(HEADERS, END_HEADERS, CALL, block),
            _frame(DATA, END_STREAM, CALL, message),
        )
    )


class _Call:
    """The reading side of the call: frames in, gRPC messages out."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._data = bytearray()  # the call's DATA payloads not yet cut into messages
        self._unacknowledged = 0  # DATA bytes received since the window was last replenished
        self._ended: str | None = None  # why the call ended, once it did

    def expect_settings(self) -> None:
        """The server's preface is a SETTINGS frame; anything else is not HTTP/2 (an HTTP/1.1 server
        answers text, which is refused here before its first bytes are taken for a frame's length)."""
        self._fill(FRAME_HEADER)
        size, kind, flags = int.from_bytes(self._buffer[0:3], "big"), self._buffer[3], self._buffer[4]
        if kind != SETTINGS or flags & ACK or size % 6 or size > MAX_SETTINGS:
            raise NotHttp2(f"the server's first bytes are not HTTP/2 settings: {bytes(self._buffer)!r}")
        self._frame()
        self._sock.sendall(_frame(SETTINGS, ACK, 0, b""))

    def messages(self, first: bytes) -> Iterator[bytes]:
        yield first
        while True:
            yield self.message()

    def message(self) -> bytes:
        """The next whole gRPC message of the call."""
        while True:
            if len(self._data) >= GRPC_PREFIX:
                size = int.from_bytes(self._data[1:GRPC_PREFIX], "big")
                if len(self._data) >= GRPC_PREFIX + size:
                    if self._data[0]:
                        raise CallEnded("a compressed gRPC message (none was asked for)")
                    message = bytes(self._data[GRPC_PREFIX : GRPC_PREFIX + size])
                    del self._data[: GRPC_PREFIX + size]
                    return message
            if self._ended is not None:
                raise CallEnded(self._ended)
            self._handle(*self._frame())

    def _handle(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == DATA and stream == CALL:
            self._received(len(payload))
            self._data += _unpadded(payload) if flags & PADDED else payload
            if flags & END_STREAM:
                self._ended = "etcd ended the call"
        elif kind == HEADERS and stream == CALL and flags & END_STREAM:
            self._ended = "etcd ended the call (gRPC status in its trailers)"
        elif kind == RST_STREAM and stream == CALL:
            self._ended = f"etcd reset the call (HTTP/2 error {int.from_bytes(payload[:4], 'big')})"
        elif kind == GOAWAY:
            self._ended = f"etcd closes the connection (HTTP/2 error {int.from_bytes(payload[4:8], 'big')})"
        elif kind == SETTINGS and not flags & ACK:
            self._sock.sendall(_frame(SETTINGS, ACK, 0, b""))
        elif kind == PING and not flags & ACK:
            self._sock.sendall(_frame(PING, ACK, 0, payload))
        # response headers, window updates, priority, continuation: nothing to do

    def _received(self, size: int) -> None:
        self._unacknowledged += size
        if self._unacknowledged >= WINDOW // 2:
            grant, self._unacknowledged = self._unacknowledged, 0
            self._sock.sendall(_window_update(0, grant) + _window_update(CALL, grant))

    def _frame(self) -> tuple[int, int, int, bytes]:
        self._fill(FRAME_HEADER)
        header = self._buffer
        size = int.from_bytes(header[0:3], "big")
        kind, flags = header[3], header[4]
        stream = int.from_bytes(header[5:9], "big") & 0x7FFF_FFFF
        self._fill(FRAME_HEADER + size)
        payload = bytes(self._buffer[FRAME_HEADER : FRAME_HEADER + size])
        del self._buffer[: FRAME_HEADER + size]
        return kind, flags, stream, payload

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            chunk = self._sock.recv(65_536)
            if not chunk:
                raise ConnectionResetError("etcd closed the connection")
            self._buffer += chunk


def _unpadded(payload: bytes) -> bytes:
    return payload[1 : len(payload) - payload[0]]


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big") + payload


def _setting(identifier: int, value: int) -> bytes:
    return identifier.to_bytes(2, "big") + value.to_bytes(4, "big")


def _window_update(stream: int, increment: int) -> bytes:
    return _frame(WINDOW_UPDATE, 0, stream, increment.to_bytes(4, "big"))


def _literal(name: str, value: str) -> bytes:
    """An HPACK literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    return b"\x00" + _hpack_string(name.encode()) + _hpack_string(value.encode())


def _hpack_string(raw: bytes) -> bytes:
    return _hpack_integer(len(raw), 7) + raw


def _hpack_integer(value: int, prefix: int) -> bytes:
    """An HPACK integer with an N-bit prefix (RFC 7541 5.1); the high bits (Huffman flag) left 0."""
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes((value,))
    out = bytearray((limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
