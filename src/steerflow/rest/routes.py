"""The HTTP face of one resource handler: Neutron's collection and member routes, envelopes and codes."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from steerflow.api import paging
from steerflow.api.context import Context
from steerflow.api.errors import HTTPBadRequest, NeutronError
from steerflow.api.resource import ResourceHandler
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore
from steerflow.nbdb.status import wait_applied
from steerflow.rest.auth import Authenticator
from steerflow.rest.body import decode_json, unwrap_create, unwrap_update
from steerflow.rest.errors import as_neutron_error, error_response

LOG = logging.getLogger(__name__)

# Query parameters that are not attribute filters (Neutron's field selection, paging and sorting).
RESERVED_PARAMS = frozenset({"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir", "wait"})
DEFAULT_WAIT_SECONDS = 30.0
MAX_WAIT_SECONDS = 300.0
JSON_SUFFIX = ".json"


def select_fields(obj: JsonDict, fields: Sequence[str]) -> JsonDict:
    """Neutron's `fields=`: only the requested attributes (unknown ones are skipped; none asked = all)."""
    if not fields:
        return obj
    return {k: v for k, v in obj.items() if k in fields}


def requested_fields(request: Request) -> list[str]:
    return [f for f in request.query_params.getlist("fields") if f]


def list_filters(request: Request) -> dict[str, builtins.list[str]]:
    """Equality filters from the query string; a repeated key means any of its values."""
    filters: dict[str, builtins.list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key not in RESERVED_PARAMS:
            filters.setdefault(key, []).append(value)
    return filters


def list_query(request: Request, handler: ResourceHandler, max_limit: int | None = None) -> paging.ListQuery:
    """The paging and sorting a list request asks for (Neutron's rules; the last `limit` counts)."""
    params = request.query_params
    return paging.ListQuery(
        limit=paging.parse_limit(params.get("limit"), max_limit),
        marker=params.get("marker") or None,
        reverse=paging.parse_page_reverse(params.get("page_reverse")),
        sorts=paging.parse_sorts(
            params.getlist("sort_key"), params.getlist("sort_dir"), getattr(handler, "sort_keys", frozenset())
        ),
    )


def page_url(request: Request) -> str:
    """The URL the page links repeat: the request's, without its query (scheme as the proxy saw it)."""
    url = request.url.replace(query="")
    proto = request.headers.get("x-forwarded-proto")
    return str(url.replace(scheme=proto) if proto in ("http", "https") else url)


def member_id(request: Request) -> str:
    """The id in a member path, without the `.json` suffix some clients append."""
    raw = str(request.path_params["id"])
    return raw.removesuffix(JSON_SUFFIX) if raw.endswith(JSON_SUFFIX) else raw


def create_all(handler: ResourceHandler, ctx: Context, bodies: Sequence[JsonDict]) -> list[JsonDict]:
    """Bulk create, all or nothing: atomic when the handler offers `create_bulk`, else compensated."""
    bulk: Callable[[Context, Sequence[JsonDict]], list[JsonDict]] | None = getattr(
        handler, "create_bulk", None
    )
    if bulk is not None:
        return bulk(ctx, bodies)
    created: list[JsonDict] = []
    try:
        for body in bodies:
            created.append(handler.create(ctx, body))
    except BaseException:
        _roll_back(handler, ctx, created)
        raise
    return created


def _roll_back(handler: ResourceHandler, ctx: Context, created: Sequence[JsonDict]) -> None:
    for obj in reversed(created):
        try:
            handler.delete(ctx, str(obj["id"]))
        except Exception:
            LOG.exception("bulk create of %s: could not roll back %s", handler.collection, obj.get("id"))


class ResourceRoutes:
    """Endpoints of one collection: GET/POST on the collection, GET/PUT/DELETE on a member."""

    def __init__(
        self,
        handler: ResourceHandler,
        auth: Authenticator,
        store: NorthboundStore | None = None,
        max_limit: int | None = None,
    ) -> None:
        self.handler = handler
        self.auth = auth
        self.store = store
        self.max_limit = max_limit  # Neutron's pagination_max_limit: every list is paged by it
        # a read-only handler (chassis) is routed for GET (and DELETE if `deletable`) alone: other
        # methods are a 405 with `Allow`
        self.read_only: bool = getattr(handler, "read_only", False)
        self.deletable: bool = getattr(handler, "deletable", False)

    @property
    def collection_methods(self) -> tuple[str, ...]:
        return ("GET",) if self.read_only else ("GET", "POST")

    @property
    def member_methods(self) -> tuple[str, ...]:
        if self.read_only:
            return ("GET", "DELETE") if self.deletable else ("GET",)
        return ("GET", "PUT", "DELETE")

    @property
    def base_path(self) -> str:
        return f"/v2.0{self.handler.path_prefix}/{self.handler.collection}"

    async def _authenticate(self, request: Request) -> Context:
        # off the event loop: an authenticator may do I/O (e.g. ask Keystone about a token)
        return await run_in_threadpool(self.auth.authenticate, request.headers)

    async def collection(self, request: Request) -> Response:
        try:
            ctx = await self._authenticate(request)
            if request.method == "POST":
                wait = wait_seconds(request)  # checked before writing: bad input writes nothing
                return await self._applied(wait, await self._create(request, ctx))
            return await self._list(request, ctx)
        except Exception as exc:
            return error_response(as_neutron_error(exc))

    async def member(self, request: Request) -> Response:
        try:
            ctx = await self._authenticate(request)
            if request.method in ("PUT", "DELETE"):
                wait = wait_seconds(request)
                write = self._update if request.method == "PUT" else self._delete
                return await self._applied(wait, await write(request, ctx))
            return await self._show(request, ctx)
        except Exception as exc:
            return error_response(as_neutron_error(exc))

    async def _applied(self, timeout: float | None, response: Response) -> Response:
        """With `?wait[=SECONDS]`, hold the answer until every live chassis has applied this change.

        The change is committed either way; headers say which NB revision holds it and whether every
        live chassis had installed it when the answer left (`X-Steerflow-Applied`), else who lags, and
        which chassis were down and not waited for (`X-Steerflow-Skipped`).
        """
        if timeout is None or self.store is None:
            return response
        store = self.store
        revision = await run_in_threadpool(store.revision)
        result = await run_in_threadpool(lambda: wait_applied(store, revision, timeout))
        response.headers["X-Steerflow-Revision"] = str(revision)
        response.headers["X-Steerflow-Applied"] = "true" if result.done else "false"
        if not result.done:
            response.headers["X-Steerflow-Lagging"] = ",".join(result.lagging)
        if result.skipped:
            response.headers["X-Steerflow-Skipped"] = ",".join(result.skipped)
        return response

    async def _list(self, request: Request, ctx: Context) -> Response:
        """Filter, then (as neutron-server checks them, in this order) page and sort; `fields` last, so
        that sort keys and the marker's id need not be among them."""
        filters, fields = list_filters(request), requested_fields(request)
        objs = await run_in_threadpool(lambda: self.handler.list(ctx, filters))
        query = list_query(request, self.handler, self.max_limit)
        page = await run_in_threadpool(lambda: self._page(ctx, objs, query))
        collection = self.handler.collection
        body: JsonDict = {collection: [select_fields(o, fields) for o in page]}
        links = paging.page_links(page_url(request), request.query_params.multi_items(), page, query)
        if links:
            body[f"{collection}_links"] = links
        return JSONResponse(body)

    def _page(self, ctx: Context, objs: list[JsonDict], query: paging.ListQuery) -> list[JsonDict]:
        if not getattr(self.handler, "native_pagination", False):
            return paging.emulated_page(objs, query)
        # native: the marker must be an object the caller may see (else its 404), filtered out or not
        marker = None
        if query.limit and query.marker:
            try:
                marker = self.handler.get(ctx, query.marker)
            except NeutronError as exc:
                if exc.status != 404 or not getattr(self.handler, "ignores_unknown_marker", False):
                    raise
        return paging.native_page(objs, query, marker)

    async def _create(self, request: Request, ctx: Context) -> Response:
        doc = await _request_document(request)
        h = self.handler
        parsed = unwrap_create(doc, h.resource, h.collection)
        if parsed.bulk:
            objs = await run_in_threadpool(lambda: create_all(h, ctx, parsed.items))
            return JSONResponse({h.collection: objs}, status_code=201)
        obj = await run_in_threadpool(lambda: h.create(ctx, parsed.items[0]))
        return JSONResponse({h.resource: obj}, status_code=201)

    async def _show(self, request: Request, ctx: Context) -> Response:
        id, fields = member_id(request), requested_fields(request)
        obj = await run_in_threadpool(lambda: self.handler.get(ctx, id))
        return JSONResponse({self.handler.resource: select_fields(obj, fields)})

    async def _update(self, request: Request, ctx: Context) -> Response:
        id, doc = member_id(request), await _request_document(request)
        body = unwrap_update(doc, self.handler.resource, self.handler.collection)
        obj = await run_in_threadpool(lambda: self.handler.update(ctx, id, body))
        return JSONResponse({self.handler.resource: obj})

    async def _delete(self, request: Request, ctx: Context) -> Response:
        id = member_id(request)
        await run_in_threadpool(lambda: self.handler.delete(ctx, id))
        return Response(status_code=204)


def wait_seconds(request: Request) -> float | None:
    """`?wait` (default timeout), `?wait=SECONDS` or `?wait=false`; None when the caller does not wait."""
    if "wait" not in request.query_params:
        return None
    raw = request.query_params["wait"].strip().lower()
    if raw in ("", "true", "1", "yes"):
        return DEFAULT_WAIT_SECONDS
    if raw in ("false", "0", "no"):
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise HTTPBadRequest(msg=f"Invalid value for wait: {raw!r}; give seconds or true/false") from None
    if not 0 < seconds <= MAX_WAIT_SECONDS:
        raise HTTPBadRequest(msg=f"wait must be between 0 and {MAX_WAIT_SECONDS:g} seconds")
    return seconds


async def _request_document(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}  # Neutron reads an empty body as an empty document
    return decode_json(raw)


def statistics_path(handlers: Sequence[ResourceHandler]) -> str | None:
    """Where a port chain's statistics are served; None without the port chain resource."""
    chains = next((h for h in handlers if h.resource == schema.PORT_CHAIN), None)
    return None if chains is None else f"/v2.0{chains.path_prefix}/{chains.collection}/{{id}}/statistics"
