"""gRPC over a bare HTTP/2 connection: the etcd driver's watch (one server-streaming call) and its
unary calls (`Channel`: calls one after another on a kept connection).

etcd serves gRPC and its JSON gateway on the same port; the gateway turns every watch response into
JSON once per watcher (in etcd's process, after a gRPC hop to itself), which made etcd's CPU per
watcher several times the gRPC path's. A watch needs one request and then only reads, so the HTTP/2
it takes is small: the connection preface and settings, one HEADERS frame (HPACK literals, no
Huffman, no table), one DATA frame that also half-closes, then DATA frames read as they come, with
PINGs and SETTINGS acknowledged and the receive window replenished. Response headers are not decoded:
the call's end (trailers, RST_STREAM, GOAWAY) just ends the stream, which the caller re-opens.

A unary call needs its trailers (`grpc-status`: an etcd error such as "no leader" is only there), so a
`Channel` decodes every header block of its connection with `hpack` (the dynamic table is per
connection), and sends its request within the server's frame size and flow-control windows (a bulk
txn of a thousand ports is far over the 64 KiB a stream starts with).
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import hpack

from steerflow.nbdb.etcd_wire import Interrupted, Unsent

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# frame types and flags (RFC 9113 section 6)
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20
SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 0x2, 0x4, 0x5
CALL = 1  # the one stream this connection opens
DEFAULT_WINDOW = 65_535
# our receive window, per stream and for the connection: big enough that etcd never waits for us
WINDOW = 1 << 24
FRAME_HEADER = 9
GRPC_PREFIX = 5  # compressed flag, 4-byte length
MAX_SETTINGS = 16_384  # the largest frame a peer may send before settings say otherwise
# a channel opens a new connection before its stream ids run out (2^31)
LAST_STREAM = 1 << 30
GRPC_OK = 0
MIN_TIMEOUT = 0.001  # the shortest wait a stream read is given


class CallFailed(Exception):
    """The server answered the call with a gRPC status other than OK (etcd: its error text)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"gRPC status {code}: {message}")
        self.code = code
        self.message = message


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
) -> Iterator[tuple[str | None, Stream]]:
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
            yield str(exc), Stream(None)
            return
        except OSError as exc:
            raise Interrupted(f"{endpoint}: {exc!r}") from exc
        yield None, Stream(call, first)
    finally:
        sock.close()


class Stream:
    """A server-streaming call's response messages, read one at a time (none when the call was
    refused). A read that times out leaves the call intact (what arrived stays buffered): the next read
    goes on where it stopped, so a watching thread can read the stream itself between its deadlines."""

    def __init__(self, call: _Call | None, first: bytes | None = None) -> None:
        self._call = call
        self._first = first

    def read(self, timeout: float | None = None) -> bytes:
        """The next message; TimeoutError after `timeout` seconds (None: the call's read timeout)
        without a frame."""
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._call is None:
            raise CallEnded("the call was refused")
        if timeout is not None:
            self._call.set_timeout(timeout)
        return self._call.message()

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> bytes:
        if self._call is None:
            raise StopIteration
        return self.read()


def _opening(authority: str, method: str, request: bytes, metadata: Mapping[str, str]) -> bytes:
    """Preface, settings, window, the call's headers and its one request message (half-closing)."""
    return b"".join(
        (
            _connection_preface(),
            _frame(HEADERS, END_HEADERS, CALL, _request_headers(authority, method, metadata)),
            _frame(DATA, END_STREAM, CALL, _grpc_message(request)),
        )
    )


def _connection_preface() -> bytes:
    settings = _setting(SETTINGS_ENABLE_PUSH, 0) + _setting(SETTINGS_INITIAL_WINDOW_SIZE, WINDOW)
    return PREFACE + _frame(SETTINGS, 0, 0, settings) + _window_update(0, WINDOW - DEFAULT_WINDOW)


def _grpc_message(request: bytes) -> bytes:
    return b"\x00" + len(request).to_bytes(4, "big") + request


def _request_headers(authority: str, method: str, metadata: Mapping[str, str]) -> bytes:
    headers = {
        ":method": "POST",
        ":scheme": "http",
        ":path": method,
        ":authority": authority,
        "content-type": "application/grpc",
        "te": "trailers",
        **{name.lower(): value for name, value in metadata.items()},
    }
    return b"".join(_literal(name, value) for name, value in headers.items())


class _Frames:
    """HTTP/2 frames read off a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _frame(self) -> tuple[int, int, int, bytes]:
        """The next frame: (type, flags, stream id, payload)."""
        self._fill(FRAME_HEADER)
        header = self._buffer
        size = int.from_bytes(header[0:3], "big")
        if size > MAX_SETTINGS:  # we never allow more than the default
            raise CallEnded(f"a frame of {size} bytes, over the {MAX_SETTINGS} allowed")
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


class Channel(_Frames):
    """Unary gRPC calls to one endpoint over one kept HTTP/2 connection, one call at a time (its
    owner is one thread): stream 1, 3, 5, ... When `broken`, the owner opens another."""

    def __init__(self, endpoint: str, connect_timeout: float) -> None:
        parts = urlsplit(endpoint)
        self._authority = parts.netloc
        try:
            sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=connect_timeout)
        except OSError as exc:
            raise Unsent(f"{endpoint}: {exc!r}") from exc
        super().__init__(sock)
        self._endpoint = endpoint
        self._decoder = hpack.Decoder()
        self._stream = -1
        self._max_frame = MAX_SETTINGS
        self._stream_window = DEFAULT_WINDOW  # what a new stream may send before the server grants more
        self._send_window = DEFAULT_WINDOW  # the connection's, shared by every stream
        self._call_window = 0
        self._unacknowledged = 0
        self.broken = False
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(_connection_preface())
            self._expect_settings()
        except OSError as exc:
            sock.close()
            raise Unsent(f"{endpoint}: {exc!r}") from exc
        except NotHttp2:
            sock.close()
            raise

    def usable(self) -> bool:
        """Whether the next call may go out on this connection. What the server sent while no call ran
        is handled first (a PING answered, SETTINGS or a window update taken); after a close or a
        GOAWAY it is not, so that a write never goes out on a dying connection."""
        try:
            while not self.broken and select.select([self._sock], [], [], 0)[0]:
                chunk = self._sock.recv(65_536)
                if not chunk:
                    self.broken = True
                self._buffer += chunk
            while not self.broken and _whole_frame(self._buffer):
                self._handle(*self._frame())
        except (OSError, Unsent):
            self.broken = True
        return not self.broken

    def call(self, method: str, request: bytes, metadata: Mapping[str, str], timeout: float) -> bytes:
        """The response message of `method`; `CallFailed` when the server answered an error status,
        `Interrupted` when the call broke after it was sent (the outcome is then unknown)."""
        self._stream += 2
        if self._stream >= LAST_STREAM:
            self.broken = True
        self._sock.settimeout(timeout)
        self._call_window = self._stream_window
        headers = _request_headers(self._authority, method, metadata)
        try:
            self._sock.sendall(_frame(HEADERS, END_HEADERS, self._stream, headers))
            self._send(_grpc_message(request))
            return self._answer()
        except OSError as exc:
            self.broken = True
            raise Interrupted(f"{self._endpoint}: {exc!r}") from exc

    def close(self) -> None:
        self.broken = True
        self._sock.close()

    def _send(self, body: bytes) -> None:
        """The request's DATA within the frame size and both send windows, the last frame half-closing."""
        sent = 0
        while True:
            size = min(len(body) - sent, self._max_frame, self._call_window, self._send_window)
            if size <= 0 and sent < len(body):
                self._handle(*self._frame())  # wait for a WINDOW_UPDATE
                continue
            last = sent + size == len(body)
            self._sock.sendall(
                _frame(DATA, END_STREAM if last else 0, self._stream, body[sent : sent + size])
            )
            self._call_window -= size
            self._send_window -= size
            sent += size
            if last:
                return

    def _answer(self) -> bytes:
        data = bytearray()
        fields: dict[str, str] = {}
        block = bytearray()
        ended = False
        while True:
            kind, flags, stream, payload = self._frame()
            mine = stream == self._stream
            if mine and kind in (HEADERS, DATA):
                ended = ended or bool(flags & END_STREAM)
            if kind in (HEADERS, CONTINUATION) and mine:
                block += _header_fragment(kind, flags, payload)
                if flags & END_HEADERS:
                    fields.update(self._decoded(bytes(block)))
                    block.clear()
            elif kind == DATA and stream == self._stream:
                self._received(len(payload))
                data += _unpadded(payload) if flags & PADDED else payload
            elif kind == RST_STREAM and stream == self._stream:
                raise CallEnded(f"etcd reset the call (HTTP/2 error {int.from_bytes(payload[:4], 'big')})")
            else:
                self._handle(kind, flags, stream, payload)
            if ended and not block:
                return _unary_result(data, fields)

    def _decoded(self, block: bytes) -> dict[str, str]:
        try:
            return {str(name): str(value) for name, value in self._decoder.decode(block)}
        except hpack.HPACKError as exc:
            self.broken = True
            raise CallEnded(f"undecodable response headers: {exc}") from exc

    def _handle(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        """A frame that is not part of the call's answer."""
        if kind == SETTINGS and not flags & ACK:
            self._settings(payload)
            self._sock.sendall(_frame(SETTINGS, ACK, 0, b""))
        elif kind == PING and not flags & ACK:
            self._sock.sendall(_frame(PING, ACK, 0, payload))
        elif kind == WINDOW_UPDATE:
            grant = int.from_bytes(payload[:4], "big") & 0x7FFF_FFFF
            if stream == 0:
                self._send_window += grant
            elif stream == self._stream:
                self._call_window += grant
        elif kind == GOAWAY:
            self.broken = True
            last = int.from_bytes(payload[:4], "big") & 0x7FFF_FFFF
            if last < self._stream:
                raise Unsent(f"{self._endpoint}: the server goes away before the call (GOAWAY)")
        elif kind in (HEADERS, CONTINUATION):
            self._decoded(_header_fragment(kind, flags, payload))  # keep the table in step

    def _settings(self, payload: bytes) -> None:
        for at in range(0, len(payload) - 5, 6):
            identifier = int.from_bytes(payload[at : at + 2], "big")
            value = int.from_bytes(payload[at + 2 : at + 6], "big")
            if identifier == SETTINGS_MAX_FRAME_SIZE:
                self._max_frame = value
            elif identifier == SETTINGS_INITIAL_WINDOW_SIZE:
                self._call_window += value - self._stream_window
                self._stream_window = value

    def _expect_settings(self) -> None:
        """As `_Call.expect_settings`: an HTTP/1.1 answer is refused before it is taken for frames."""
        self._fill(FRAME_HEADER)
        size, kind, flags = int.from_bytes(self._buffer[0:3], "big"), self._buffer[3], self._buffer[4]
        if kind != SETTINGS or flags & ACK or size % 6 or size > MAX_SETTINGS:
            raise NotHttp2(f"the server's first bytes are not HTTP/2 settings: {bytes(self._buffer)!r}")
        self._settings(self._frame()[3])
        self._sock.sendall(_frame(SETTINGS, ACK, 0, b""))

    def _received(self, size: int) -> None:
        self._unacknowledged += size
        if self._unacknowledged >= WINDOW // 2:
            grant, self._unacknowledged = self._unacknowledged, 0
            self._sock.sendall(_window_update(0, grant))


def _whole_frame(buffer: bytearray) -> bool:
    return len(buffer) >= FRAME_HEADER and len(buffer) >= FRAME_HEADER + int.from_bytes(buffer[0:3], "big")


def _header_fragment(kind: int, flags: int, payload: bytes) -> bytes:
    """The header block fragment of a HEADERS (padding and priority taken off) or CONTINUATION frame."""
    if kind == CONTINUATION:
        return payload
    start, end = 0, len(payload)
    if flags & PADDED:
        start, end = 1, len(payload) - payload[0]
    if flags & PRIORITY:
        start += 5
    return payload[start:end]


def _unary_result(data: bytearray, fields: Mapping[str, str]) -> bytes:
    status = int(fields.get("grpc-status", "-1") or -1)
    if status != GRPC_OK:
        raise CallFailed(status, unquote(fields.get("grpc-message", "")) or f"HTTP {fields.get(':status')}")
    if len(data) < GRPC_PREFIX or data[0] or len(data) != GRPC_PREFIX + int.from_bytes(data[1:5], "big"):
        raise CallEnded(f"a unary answer that is not one uncompressed gRPC message ({len(data)} bytes)")
    return bytes(data[GRPC_PREFIX:])


class _Call(_Frames):
    """The reading side of the call: frames in, gRPC messages out."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._data = bytearray()  # the call's DATA payloads not yet cut into messages
        self._unacknowledged = 0  # DATA bytes received since the window was last replenished
        self._ended: str | None = None  # why the call ended, once it did
        self._timeout = sock.gettimeout()

    def expect_settings(self) -> None:
        """The server's preface is a SETTINGS frame; anything else is not HTTP/2 (an HTTP/1.1 server
        answers text, which is refused here before its first bytes are taken for a frame's length)."""
        self._fill(FRAME_HEADER)
        size, kind, flags = int.from_bytes(self._buffer[0:3], "big"), self._buffer[3], self._buffer[4]
        if kind != SETTINGS or flags & ACK or size % 6 or size > MAX_SETTINGS:
            raise NotHttp2(f"the server's first bytes are not HTTP/2 settings: {bytes(self._buffer)!r}")
        self._frame()
        self._sock.sendall(_frame(SETTINGS, ACK, 0, b""))

    def set_timeout(self, timeout: float) -> None:
        # a timeout of 0 would make the socket non-blocking: a read would then never wait
        timeout = max(timeout, MIN_TIMEOUT)
        if timeout != self._timeout:
            self._timeout = timeout
            self._sock.settimeout(timeout)

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
