"""ASGI middlewares of the API: request-body size limit and one access-log line per request."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from steerflow import heap
from steerflow.api.errors import HTTPBadRequest, NeutronError
from steerflow.rest.errors import HTTPRequestEntityTooLarge

LOG = logging.getLogger("steerflow.rest.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 1024 * 1024
# after refusing a body, how long and how much of the rest of it we read and throw away before closing
LINGER_SECONDS = 5.0
LINGER_BYTES = 64 * MAX_BODY_BYTES


async def send_error(
    send: Send, err: NeutronError, close: bool = False, drain: Receive | None = None
) -> None:
    """Answer with a NeutronError body straight from the ASGI layer.

    With `drain` (the request's receive: a body over the limit is still coming), the answer goes out
    first; then the rest of the body is read and thrown away (at most LINGER_BYTES for LINGER_SECONDS, as
    nginx's lingering close) before the response ends and the server closes. Closing with unread bytes
    makes the kernel send a reset, and a peer still sending (a proxy forwarding the body) can lose the
    answer with it: HAProxy then told the client "server disconnected".
    """
    body = json.dumps(err.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close or drain is not None:  # the unread rest of the body makes the connection unusable
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": drain is not None})
    if drain is not None:
        await _discard_body(drain)
        await send({"type": "http.response.body", "body": b""})


async def _discard_body(receive: Receive) -> None:
    discarded = 0
    try:
        async with asyncio.timeout(LINGER_SECONDS):
            while discarded <= LINGER_BYTES:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                discarded += len(message.get("body", b""))
    except TimeoutError:
        return


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length header as an int; -1 when it is present but not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


class BodyLimit:
    """Rejects bodies over `limit` bytes with 413 before the app sees them.

    A declared Content-Length is checked before reading anything; a chunked body is read (buffered) up
    to the limit and refused as soon as it goes over, so a hostile client cannot make us hold more.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared == -1:
            await send_error(send, HTTPBadRequest("Invalid Content-Length header"), close=True)
            return
        if declared is not None and declared > self.limit:
            await send_error(send, HTTPRequestEntityTooLarge(), drain=receive)
            return
        body = await self._read(receive)
        if body is None:
            await send_error(send, HTTPRequestEntityTooLarge(), drain=receive)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # the client went away; let the app see the disconnect
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class AccessLog:
    """Logs every request at INFO: method, path, status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the app raises before responding
        start = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            # as sent (percent-encoded): a decoded path could carry newlines into the log
            raw = scope.get("raw_path")
            path = raw.decode("latin-1") if isinstance(raw, bytes) else scope.get("path", "")
            if scope.get("query_string"):
                path = f"{path}?{scope['query_string'].decode('latin-1')}"
            millis = (time.perf_counter() - start) * 1000
            chain = CHAIN_PATH.match(scope.get("path", ""))
            extra = {"chain_id": chain.group(1)} if chain else None  # JSON logs carry it (`steerflow.logs`)
            LOG.info("%s %s %d %.1fms", scope.get("method", "?"), path, status, millis, extra=extra)


CHAIN_PATH = re.compile(r"/v2\.0/sfc/port_chains/([^/?]+)")


class SettleHeap:
    """After each write, moves the long-lived heap (cached snapshot, derived values) out of the garbage
    collector's sight (`steerflow.heap`): the API of a big NB must not pause for a full collection in
    the middle of a request. For a server process only (it freezes the whole process' heap)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope.get("method") not in ("GET", "HEAD"):
                heap.settle()
