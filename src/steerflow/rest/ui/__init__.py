"""The web view: /ui (the built page, `dist/`), its topology, live feed (SSE) and chain trace endpoints.

The page is built from `web/` (`npm ci && npm run build`) into `dist/` beside this file, and shipped in
the wheel; without it /ui answers a 503 page saying how to build it. Nothing is fetched from a CDN.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from steerflow.api.context import Context
from steerflow.api.resource import ResourceHandler
from steerflow.api.topology import live_state, topology, visible_ids, visible_live
from steerflow.api.traffic import TrafficRates
from steerflow.nbdb.api import JsonDict, NorthboundStore
from steerflow.rest.auth import Authenticator
from steerflow.rest.errors import HTTPNotFound, as_neutron_error, error_response

LOG = logging.getLogger(__name__)
UI_URL = "/ui"
TOPOLOGY_URL = "/v2.0/steerflow/topology"
LIVE_URL = "/v2.0/steerflow/live"
TRACE_URL = "/v2.0/sfc/port_chains/{id}/trace"
TICK_SECONDS = 1.0
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# A chain's sample packet traced through the compiled state: port chain -> described path. Given by the
# `steerflow api` command (cli layer), since `rest` may not import the compiler that trace needs.
Tracer = Callable[[NorthboundStore, JsonDict], JsonDict]
NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>steerflow: web view not built</title></head>
<body><main><h1>The web view is not built</h1>
<p>This steerflow was installed without its web page. Build it from a source tree:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>(<code>./run.sh install</code> does it), then reinstall or restart <code>steerflow api</code>.
The API itself works: <a href="../docs">/docs</a>.</p></main></body></html>
"""


def dist_files() -> dict[str, bytes]:
    """The built page's files by name (empty when it was not built)."""
    folder = resources.files(__name__) / "dist"
    if not folder.is_dir():
        return {}
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()}


@cache
def _cached_dist() -> dict[str, bytes]:
    return dist_files()


def install_ui(
    app: FastAPI,
    store: NorthboundStore,
    auth: Authenticator,
    chains: ResourceHandler | None,
    tracer: Tracer | None,
) -> None:
    """The page at /ui/ and the read-only endpoints it reads (docs/ui.md)."""
    _install_static(app)
    feed = LiveFeed(store)

    async def context(request: Request) -> Context:
        return await run_in_threadpool(auth.authenticate, request.headers)

    @app.get(TOPOLOGY_URL, include_in_schema=False)
    async def topology_view(request: Request) -> Response:
        try:
            ctx = await context(request)
            body = await run_in_threadpool(topology, store, ctx)
        except Exception as exc:
            return error_response(as_neutron_error(exc))
        return JSONResponse(body)

    @app.get(LIVE_URL, include_in_schema=False)
    async def live(request: Request) -> Response:
        try:
            ctx = await context(request)
        except Exception as exc:
            return error_response(as_neutron_error(exc))
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(feed.events(request, ctx), media_type="text/event-stream", headers=headers)

    if chains is not None:
        _install_trace(app, store, auth, chains, tracer)


def _install_static(app: FastAPI) -> None:
    @app.get(UI_URL, include_in_schema=False)
    async def ui_root() -> Response:
        return RedirectResponse(UI_URL + "/", status_code=308)  # the page's asset URLs are relative

    @app.get(UI_URL + "/", include_in_schema=False)
    async def ui_index() -> Response:
        return _asset("index.html")

    @app.get(UI_URL + "/{name}", include_in_schema=False)
    async def ui_asset(name: str) -> Response:
        return _asset(name)


def _asset(name: str) -> Response:
    files = _cached_dist()
    if "index.html" not in files:
        _cached_dist.cache_clear()  # built while the server runs: found on the next request
        return HTMLResponse(NOT_BUILT, status_code=503, headers={"Retry-After": "60"})
    suffix = name[name.rfind(".") :] if "." in name else ""
    if name not in files or suffix not in MEDIA_TYPES:
        return error_response(HTTPNotFound())
    cache_control = "no-cache" if name == "index.html" else "max-age=3600"
    return Response(files[name], media_type=MEDIA_TYPES[suffix], headers={"Cache-Control": cache_control})


def _install_trace(
    app: FastAPI, store: NorthboundStore, auth: Authenticator, chains: ResourceHandler, tracer: Tracer | None
) -> None:
    @app.get(TRACE_URL, include_in_schema=False)
    async def trace(request: Request) -> Response:
        try:
            ctx = await run_in_threadpool(auth.authenticate, request.headers)
            chain = await run_in_threadpool(chains.get, ctx, request.path_params["id"])
            if tracer is None:
                return JSONResponse({"trace": None, "reason": "this server was started without trace"})
            body = await run_in_threadpool(tracer, store, chain)
        except Exception as exc:
            return error_response(as_neutron_error(exc))
        return JSONResponse({"trace": body})


class LiveFeed:
    """One live state per tick shared by every open page (computed in a thread: the event loop never
    waits on the store), then filtered per caller."""

    def __init__(self, store: NorthboundStore, tick: float = TICK_SECONDS) -> None:
        self.store = store
        self.tick = tick
        self.traffic = TrafficRates()
        self._state: JsonDict | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> JsonDict:
        async with self._lock:
            now = time.time()
            if self._state is None or now - float(self._state["at"]) >= self.tick * 0.9:
                self._state = await run_in_threadpool(live_state, self.store, self.traffic, now)
            return self._state

    async def events(self, request: Request, ctx: Context) -> AsyncIterator[str]:
        """`data:` lines, one live state a tick, until the page goes away."""
        scope: tuple[str, set[str] | None] = ("", None)
        while not await request.is_disconnected():
            try:
                state = await self.current()
                scope = await self._scope(ctx, state, scope)
                yield _event(visible_live(state, scope[1]))
            except Exception as exc:  # a store hiccup: say so to the page, keep the stream
                LOG.warning("live feed: %s", exc)
                yield _event({"error": str(as_neutron_error(exc))})
            await asyncio.sleep(self.tick)

    async def _scope(
        self, ctx: Context, state: Mapping[str, Any], held: tuple[str, set[str] | None]
    ) -> tuple[str, set[str] | None]:
        """The ids a member may hear about, re-read when the drawn objects change (admins: all)."""
        if ctx.is_admin or held[0] == state["fingerprint"]:
            return held
        body = await run_in_threadpool(topology, self.store, ctx)
        return str(state["fingerprint"]), visible_ids(body)


def _event(body: Mapping[str, Any]) -> str:
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"
