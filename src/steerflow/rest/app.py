"""The Neutron-compatible REST application: routes generated from the resource handler registry."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from steerflow.api.resource import ResourceHandler
from steerflow.api.sfc_statistics import chain_statistics
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore
from steerflow.rest import discovery
from steerflow.rest.auth import Authenticator, NoAuth
from steerflow.rest.docs import install_docs
from steerflow.rest.errors import ExtensionNotFound, as_neutron_error, error_response, install_error_handlers
from steerflow.rest.middleware import MAX_BODY_BYTES, AccessLog, BodyLimit, SettleHeap
from steerflow.rest.openapi import install_openapi
from steerflow.rest.routes import JSON_SUFFIX, ResourceRoutes, statistics_path
from steerflow.rest.ui import Tracer, install_ui

LOG = logging.getLogger(__name__)
Gate = Callable[[Request], Awaitable[None]]
OPENAPI_URL = "/openapi.json"


def default_handlers(store: NorthboundStore) -> list[ResourceHandler]:
    """Neutron core resources, plus networking-sfc's when that service layer is installed."""
    from steerflow.api.core import core_handlers

    handlers: list[ResourceHandler] = list(core_handlers(store))
    try:
        from steerflow.api.sfc import sfc_handlers
    except ModuleNotFoundError as exc:
        if exc.name != "steerflow.api.sfc":
            raise
        LOG.warning("steerflow.api.sfc is not available: serving the Neutron core resources only")
        return handlers
    return [*handlers, *sfc_handlers(store)]


def build_app(
    store: NorthboundStore,
    auth: Authenticator,
    handlers: Sequence[ResourceHandler] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    settle_heap: bool = False,
    pagination_max_limit: int | None = None,
    tracer: Tracer | None = None,
) -> FastAPI:
    """The ASGI app serving `handlers` (None = every resource steerflow has) over `store`;
    `settle_heap`: the app owns its process (see `middleware.SettleHeap`); `pagination_max_limit`:
    Neutron's option of that name, the largest page a list answers (None: no limit); `tracer`: what
    the web view's chain trace runs (None: the page shows no trace)."""
    chosen = list(handlers) if handlers is not None else default_handlers(store)
    _check_unique(chosen)
    app = FastAPI(
        title="steerflow API",
        version="2.0",
        description="Neutron-compatible API (networking-sfc and the Neutron core resources chains need).",
        docs_url=None,  # our own /docs: Swagger UI from local assets (rest/docs.py)
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        redirect_slashes=False,
    )
    app.state.store = store
    app.state.handlers = chosen
    install_error_handlers(app)
    _add_discovery_routes(app, chosen, auth)
    for handler in chosen:
        _add_resource_routes(app, ResourceRoutes(handler, auth, store, pagination_max_limit))
    _add_statistics_route(app, chosen, auth, store)
    install_ui(app, store, auth, next((h for h in chosen if h.resource == schema.PORT_CHAIN), None), tracer)
    install_openapi(app, chosen, tokens=not isinstance(auth, NoAuth))
    install_docs(app, OPENAPI_URL)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    if settle_heap:
        app.add_middleware(SettleHeap)
    app.add_middleware(AccessLog)  # outermost, so that refused requests are logged too
    return app


def _check_unique(handlers: Sequence[ResourceHandler]) -> None:
    seen: set[str] = set()
    for h in handlers:
        path = f"{h.path_prefix}/{h.collection}"
        if path in seen:
            raise ValueError(f"two handlers serve /v2.0{path}")
        seen.add(path)


def _add_resource_routes(app: FastAPI, routes: ResourceRoutes) -> None:
    base = routes.base_path
    for path in (base, base + "/", base + JSON_SUFFIX):
        app.add_route(
            path, routes.collection, methods=list(routes.collection_methods), include_in_schema=False
        )
    app.add_route(base + "/{id}", routes.member, methods=list(routes.member_methods), include_in_schema=False)


def _add_statistics_route(
    app: FastAPI, handlers: Sequence[ResourceHandler], auth: Authenticator, store: NorthboundStore
) -> None:
    """GET a port chain's per-hop counters (`api.sfc_statistics`): who may see the chain may see them."""
    path = statistics_path(handlers)
    chains = next((h for h in handlers if h.resource == schema.PORT_CHAIN), None)
    if path is None or chains is None:
        return

    async def statistics(request: Request) -> Response:
        try:
            ctx = await run_in_threadpool(auth.authenticate, request.headers)
            chain = await run_in_threadpool(chains.get, ctx, request.path_params["id"])
            body = await run_in_threadpool(chain_statistics, store, chain)
        except Exception as exc:
            return error_response(as_neutron_error(exc))
        return JSONResponse(body)

    app.add_route(path, statistics, methods=["GET"], include_in_schema=False)


def _add_discovery_routes(app: FastAPI, handlers: Sequence[ResourceHandler], auth: Authenticator) -> None:
    async def authenticated(request: Request) -> None:
        await run_in_threadpool(auth.authenticate, request.headers)

    @app.get("/", tags=["discovery"], summary="API versions (no authentication)")
    async def versions(request: Request) -> JsonDict:
        return discovery.versions(str(request.base_url))

    @app.get("/v2.0/", tags=["discovery"], summary="Core resources of API v2.0")
    @app.get("/v2.0", include_in_schema=False)
    async def resources(request: Request) -> Response:
        return await _guarded(request, authenticated, discovery.resources(str(request.base_url), handlers))

    @app.get("/v2.0/extensions", tags=["discovery"], summary="Supported API extensions")
    @app.get("/v2.0/extensions/", include_in_schema=False)
    @app.get("/v2.0/extensions.json", include_in_schema=False)
    async def extensions(request: Request) -> Response:
        body = {"extensions": [e.body() for e in discovery.EXTENSIONS]}
        return await _guarded(request, authenticated, body)

    @app.get("/v2.0/extensions/{alias}", tags=["discovery"], summary="One API extension")
    async def extension(request: Request, alias: str) -> Response:
        alias = alias.removesuffix(JSON_SUFFIX)
        found = discovery.find_extension(alias)
        if found is None:
            return await _guarded(request, authenticated, ExtensionNotFound(alias=alias))
        return await _guarded(request, authenticated, {"extension": found.body()})


async def _guarded(request: Request, authenticated: Gate, result: JsonDict | Exception) -> Response:
    """`result` as JSON once the caller is authenticated (an error result becomes its NeutronError)."""
    try:
        await authenticated(request)
        if isinstance(result, Exception):
            raise result
    except Exception as exc:
        return error_response(as_neutron_error(exc))
    return JSONResponse(result)
