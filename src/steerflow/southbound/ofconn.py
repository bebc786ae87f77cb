"""OpenFlowConnection: one asyncio OpenFlow 1.3 session to a switch (handshake, reader, xids, writes).

The reader task decodes what the switch sends, answers echo requests, and hands each reply to the
request waiting on its xid; an OFPT_ERROR becomes an exception on that request. Writes are batched:
everything queued in one loop iteration leaves in one transport write. OpenFlowChannel
(openflow.py) adds bundles, state dumps and reconnection on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from steerflow.southbound import ofcodec
from steerflow.southbound.ofcodec import HEADER
from steerflow.southbound.oferrors import (
    BatchFailed,
    ChannelClosed,
    ChannelError,
    ErrorReply,
    HandshakeFailed,
    OpenFlowError,
)

log = logging.getLogger(__name__)

_FLUSH_BYTES = 256 * 1024  # flush early past this much: keeps the switch busy while we frame more
_WRITE_HIGH_WATER = 4 * 1024 * 1024  # how far ahead of the switch a bundle may run before drain() waits
_MAX_XID = 0xFFFFFFFF
_MAX_KEPT_ERRORS = 10_000


@dataclass
class ChannelStats:
    sessions: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    echo_requests_answered: int = 0
    errors_received: int = 0


@dataclass(eq=False)
class _Session:
    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_rx: float
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


BodySink = Callable[[memoryview], None]


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[Any]
    raw: bool = False  # multipart bodies as bytes, skipping os-ken's (slow) decoding
    parts: list[Any] = field(default_factory=list)
    sink: BodySink | None = None  # raw bodies handed over one by one as they arrive, never kept
    failure: Exception | None = None  # what the sink raised: the request fails once its last part is in


@dataclass(eq=False)
class XidRange:
    """The xids of one bundle's add messages: their errors are collected here, not raised one by one."""

    first: int
    count: int
    errors: list[ErrorReply] = field(default_factory=list)

    def __contains__(self, xid: int) -> bool:
        return 0 <= xid - self.first < self.count


def _parse_target(target: str) -> tuple[str, str, int]:
    kind, _, rest = target.partition(":")
    if kind == "unix" and rest:
        return kind, rest, 0
    host, _, port = rest.rpartition(":")
    if kind == "tcp" and host and port.isdigit():
        return kind, host, int(port)
    raise ValueError(f"OpenFlow target must be unix:PATH or tcp:HOST:PORT, not {target!r}")


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Marks the exception as seen: a request abandoned by its caller must not log "never retrieved".
    if not future.cancelled():
        future.exception()


def _take_part(waiter: _Waiter, frame: bytes) -> None:
    """One raw multipart reply: kept, or handed to the sink (a sink's error waits for the last part,
    so the rest of the reply is still recognised as this request's)."""
    if waiter.sink is None:
        waiter.parts.append(frame[ofcodec.OFP_MULTIPART_REPLY_SIZE :])
    elif waiter.failure is None:
        try:
            waiter.sink(memoryview(frame)[ofcodec.OFP_MULTIPART_REPLY_SIZE :])
        except Exception as exc:
            waiter.failure = exc


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(HEADER.size)
    length = HEADER.unpack(header)[2]
    if length < HEADER.size:
        raise ChannelError(f"OpenFlow message with impossible length {length}")
    return header + await reader.readexactly(length - HEADER.size) if length > HEADER.size else header


class OpenFlowConnection:
    """An OF1.3 session to one switch: connect(), requests and fire-and-forget sends, close()."""

    def __init__(
        self,
        target: str,
        *,
        connect_timeout: float = 5.0,
        request_timeout: float = 60.0,
        probe_interval: float = 15.0,
        on_message: Callable[[Any], None] | None = None,
    ) -> None:
        self.target = target
        self._endpoint = _parse_target(target)
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.probe_interval = probe_interval
        self.on_message = on_message
        # the unsolicited message types on_message is given (None: all); the others are not decoded
        self.message_types: frozenset[int] | None = None
        self.datapath_id: int | None = None
        self.n_tables = 0
        self.stats = ChannelStats()
        self._session: _Session | None = None
        self._connected = asyncio.Event()
        self._pending: dict[int, _Waiter] = {}
        self._xid_ranges: list[XidRange] = []
        self._async_errors: list[ErrorReply] = []
        self._out: list[bytes | bytearray] = []
        self._out_bytes = 0
        self._flush_scheduled = False
        self._xid = 0

    # ---- session state -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def session(self) -> int:
        """Number of the current (or last) session: it grows by one on every (re)connection."""
        return self.stats.sessions

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def wait_disconnected(self) -> None:
        if self._session is not None:
            await self._session.closed.wait()

    # ---- connect -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection and finish the OF1.3 handshake (HELLO, FEATURES) or raise."""
        if self._session is not None:
            return
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await self._open()
            try:
                self.datapath_id, self.n_tables = await self._handshake(reader, writer)
            except BaseException:
                writer.close()
                raise
        writer.transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        self.stats.sessions += 1
        loop = asyncio.get_running_loop()
        session = _Session(self.stats.sessions, reader, writer, loop.time())
        session.tasks.append(loop.create_task(self._read_loop(session), name=f"of-reader-{self.target}"))
        if self.probe_interval > 0:
            session.tasks.append(loop.create_task(self._keepalive(session), name=f"of-probe-{self.target}"))
        self._session = session
        self._connected.set()
        log.info(
            "OpenFlow connected to %s: datapath %016x, %d tables, session %d",
            self.target,
            self.datapath_id,
            self.n_tables,
            session.number,
        )

    async def close(self) -> None:
        """Drop the connection; pending requests fail with ChannelClosed."""
        session = self._session
        if session is not None:
            self._end_session(session, "closed by us")
            with contextlib.suppress(ConnectionError, OSError):
                await session.writer.wait_closed()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        kind, where, port = self._endpoint
        if kind == "unix":
            return await asyncio.open_unix_connection(where)
        return await asyncio.open_connection(where, port)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, int]:
        """HELLO (OF1.3 only) and FEATURES_REQUEST in one write; returns (datapath id, n_tables)."""
        features_xid = self._next_xid()
        features = ofcodec.features_request(features_xid)
        try:
            writer.write(ofcodec.hello(self._next_xid()) + features)
            frame = await _read_frame(reader)
            if frame[1] != ofcodec.OFPT_HELLO or not ofcodec.hello_accepts_of13(frame):
                raise HandshakeFailed(f"{self.target} does not offer OpenFlow 1.3 (bridge protocols?)")
            return await self._await_features(reader, writer, features_xid)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise HandshakeFailed(f"{self.target} closed the connection during the handshake") from exc

    async def _await_features(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, features_xid: int
    ) -> tuple[int, int]:
        while True:
            frame = await _read_frame(reader)
            version, msg_type, _, xid = HEADER.unpack_from(frame)
            if msg_type == ofcodec.OFPT_ERROR:
                raise HandshakeFailed(str(OpenFlowError(ErrorReply.decode(frame), "handshake")))
            if version != ofcodec.OFP_VERSION:
                raise HandshakeFailed(f"{self.target} answered with OpenFlow version {version}")
            if msg_type == ofcodec.OFPT_ECHO_REQUEST:
                writer.write(ofcodec.echo(ofcodec.OFPT_ECHO_REPLY, xid, frame[HEADER.size :]))
            elif msg_type == ofcodec.OFPT_FEATURES_REPLY and xid == features_xid:
                return ofcodec.features(frame)

    # ---- reading -------------------------------------------------------------------------------

    async def _read_loop(self, session: _Session) -> None:
        reason = "connection closed by the switch"
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await _read_frame(session.reader)
                session.last_rx = loop.time()
                self.stats.messages_received += 1
                self._dispatch(frame)
        except asyncio.CancelledError:
            raise
        except asyncio.IncompleteReadError:
            pass
        except (ConnectionError, OSError) as exc:
            reason = f"connection lost: {exc}"
        except Exception as exc:
            log.exception("OpenFlow reader for %s failed", self.target)
            reason = f"reader failed: {exc}"
        self._end_session(session, reason)

    def _dispatch(self, frame: bytes) -> None:
        _, msg_type, _, xid = HEADER.unpack_from(frame)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <- %s xid=%d len=%d", self.target, ofcodec.type_name(msg_type), xid, len(frame))
        if msg_type == ofcodec.OFPT_ECHO_REQUEST:
            self._write(ofcodec.echo(ofcodec.OFPT_ECHO_REPLY, xid, frame[HEADER.size :]))
            self.stats.echo_requests_answered += 1
        elif msg_type == ofcodec.OFPT_ERROR:
            self._on_error(ErrorReply.decode(frame))
        elif (waiter := self._pending.get(xid)) is not None:
            self._on_reply(xid, msg_type, frame, waiter)
        elif self.on_message is not None and (self.message_types is None or msg_type in self.message_types):
            self._deliver_unsolicited(frame)

    def _on_reply(self, xid: int, msg_type: int, frame: bytes, waiter: _Waiter) -> None:
        if msg_type in (ofcodec.OFPT_BARRIER_REPLY, ofcodec.OFPT_ECHO_REPLY) or ofcodec.is_bundle_ctrl(frame):
            result: Any = frame
        elif msg_type == ofcodec.OFPT_MULTIPART_REPLY and waiter.raw:
            _take_part(waiter, frame)
            if ofcodec.MULTIPART_REPLY.unpack_from(frame, HEADER.size)[1] & ofcodec.OFPMPF_REPLY_MORE:
                return
            if waiter.failure is not None:
                self._fail_waiter(xid, waiter.failure)
                return
            result = waiter.parts
        else:
            result = ofcodec.decode(frame)
            if result is None:
                self._fail_waiter(xid, ChannelError(f"undecodable {ofcodec.type_name(msg_type)} reply"))
                return
            if msg_type == ofcodec.OFPT_MULTIPART_REPLY:
                body = result.body
                if isinstance(body, list):
                    waiter.parts.extend(body)
                else:
                    waiter.parts.append(body)
                if result.flags & ofcodec.OFPMPF_REPLY_MORE:
                    return
                result = waiter.parts
        del self._pending[xid]
        if not waiter.future.done():
            waiter.future.set_result(result)

    def _on_error(self, error: ErrorReply) -> None:
        self.stats.errors_received += 1
        if error.xid in self._pending:
            self._fail_waiter(error.xid, OpenFlowError(error))
            return
        for xids in self._xid_ranges:
            if error.xid in xids:
                xids.errors.append(error)
                return
        log.warning("%s: error for a message sent without waiting: %s", self.target, error)
        if len(self._async_errors) < _MAX_KEPT_ERRORS:
            self._async_errors.append(error)

    def _fail_waiter(self, xid: int, exc: Exception) -> None:
        waiter = self._pending.pop(xid)
        if not waiter.future.done():
            waiter.future.set_exception(exc)

    def _deliver_unsolicited(self, frame: bytes) -> None:
        assert self.on_message is not None
        try:
            self.on_message(ofcodec.decode(frame))
        except Exception:
            log.exception("on_message callback for %s raised", self.target)

    async def _keepalive(self, session: _Session) -> None:
        """Probe a silent switch with an echo; a hung one (no reply) gets its session dropped."""
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - session.last_rx
            if idle < self.probe_interval:
                await asyncio.sleep(self.probe_interval - idle)
                continue
            try:
                async with asyncio.timeout(self.probe_interval):
                    await self.echo()
            except TimeoutError:
                log.warning("%s: no echo reply within %.1fs", self.target, self.probe_interval)
                self._end_session(session, "echo timeout")
                return
            except ChannelError:
                return

    def _end_session(self, session: _Session, reason: str) -> None:
        if session.closed.is_set():
            return
        session.closed.set()
        if self._session is session:
            self._session = None
            self._connected.clear()
            self._out.clear()
            self._out_bytes = 0
            self._async_errors.clear()  # they were for messages of a session that is gone
        session.writer.close()
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        lost = ChannelClosed(f"OpenFlow connection to {self.target} lost: {reason}")
        for waiter in self._pending.values():
            if not waiter.future.done():
                waiter.future.set_exception(lost)
        self._pending.clear()
        log.info("OpenFlow disconnected from %s (session %d): %s", self.target, session.number, reason)

    # ---- writing -------------------------------------------------------------------------------

    def send(self, msg: Any) -> int:
        """Queue an os-ken message (fire and forget); returns its xid. Errors surface in barrier()."""
        xid = self._next_xid()
        self._write(ofcodec.serialize(msg, xid))
        return xid

    def send_raw(self, data: bytes | bytearray | memoryview) -> int:
        """Queue one pre-serialized OF1.3 message, patched with a fresh xid; returns that xid."""
        xid = self._next_xid()
        self._write(ofcodec.with_xid(data, xid))
        return xid

    async def drain(self) -> None:
        """Flush queued messages and wait until the transport's buffer is below its high-water mark."""
        session = self._require_session()
        self._flush()
        try:
            await session.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ChannelClosed(f"OpenFlow connection to {self.target} lost: {exc}") from exc

    def _write(self, data: bytes | bytearray) -> None:
        self._require_session()
        if log.isEnabledFor(logging.DEBUG):
            _, msg_type, length, xid = HEADER.unpack_from(data)
            log.debug("%s -> %s xid=%d len=%d", self.target, ofcodec.type_name(msg_type), xid, length)
        self._out.append(data)
        self._out_bytes += len(data)
        self.stats.messages_sent += 1
        if self._out_bytes >= _FLUSH_BYTES:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out or self._session is None:
            return
        data = b"".join(self._out)
        self._out.clear()
        self._out_bytes = 0
        self._session.writer.write(data)

    def _require_session(self) -> _Session:
        if self._session is None:
            raise ChannelClosed(f"OpenFlow channel to {self.target} is not connected")
        return self._session

    def _next_xid(self) -> int:
        self._xid = self._xid % _MAX_XID + 1
        return self._xid

    def _reserve_xids(self, count: int) -> int:
        """`count` consecutive xids (never wrapping inside the block); returns the first."""
        if self._xid + count > _MAX_XID:
            self._xid = 0
        first = self._xid + 1
        self._xid += count
        return first

    # ---- requests ------------------------------------------------------------------------------

    def _send_expecting(
        self, data: bytes | bytearray, xid: int, raw: bool = False, sink: BodySink | None = None
    ) -> asyncio.Future[Any]:
        self._require_session()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._pending[xid] = _Waiter(future, raw or sink is not None, sink=sink)
        self._write(data)
        return future

    async def _reply(self, xid: int, future: asyncio.Future[Any], what: str) -> Any:
        try:
            async with asyncio.timeout(self.request_timeout):
                return await future
        except TimeoutError:
            raise TimeoutError(
                f"{self.target}: no reply to {what} (xid {xid}) in {self.request_timeout}s"
            ) from None
        finally:
            self._pending.pop(xid, None)

    async def request(self, msg: Any) -> Any:
        """Send an os-ken request and return the decoded reply (a list of bodies for multipart)."""
        xid = self._next_xid()
        future = self._send_expecting(ofcodec.serialize(msg, xid), xid)
        return await self._reply(xid, future, msg.__class__.__name__)

    async def request_raw(self, msg: Any) -> list[bytes]:
        """Send a multipart request (an os-ken message, or one pre-serialized as bytes); return the
        reply bodies undecoded, one per message."""
        xid = self._next_xid()
        frame, what = self._framed(msg, xid)
        future = self._send_expecting(frame, xid, raw=True)
        parts: list[bytes] = await self._reply(xid, future, what)
        return parts

    @staticmethod
    def _framed(msg: Any, xid: int) -> tuple[bytes | bytearray, str]:
        """A request as sent with `xid` (an os-ken message, or one pre-serialized as bytes), and its
        name for errors."""
        if isinstance(msg, bytes | bytearray):
            return ofcodec.with_xid(msg, xid), ofcodec.type_name(msg[1])
        return ofcodec.serialize(msg, xid), msg.__class__.__name__

    async def request_stream(self, msg: Any, on_body: BodySink) -> None:
        """Send a multipart request (an os-ken message, or one pre-serialized as bytes); hand each reply
        body to `on_body` as it arrives, undecoded.

        Nothing of the reply is kept here: a dump of 100,000 flows costs the memory of one message
        at a time, plus whatever `on_body` keeps. If `on_body` raises, the request raises that error
        once the reply is complete."""
        xid = self._next_xid()
        frame, what = self._framed(msg, xid)
        future = self._send_expecting(frame, xid, sink=on_body)
        await self._reply(xid, future, what)

    async def barrier(self) -> None:
        """Wait until the switch has processed everything sent before; raise BatchFailed if any failed.

        OVS handles a connection's messages in order, so every error for an earlier message has
        arrived by the time the barrier reply does.
        """
        xid = self._next_xid()
        frame = HEADER.pack(ofcodec.OFP_VERSION, ofcodec.OFPT_BARRIER_REQUEST, HEADER.size, xid)
        await self._reply(xid, self._send_expecting(frame, xid), "barrier")
        errors, self._async_errors = self._async_errors, []
        if errors:
            raise BatchFailed(errors)

    async def echo(self, data: bytes = b"") -> float:
        """Round trip an echo request; returns the round-trip time in seconds."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        xid = self._next_xid()
        frame = ofcodec.echo(ofcodec.OFPT_ECHO_REQUEST, xid, data)
        await self._reply(xid, self._send_expecting(frame, xid), "echo")
        return loop.time() - start
