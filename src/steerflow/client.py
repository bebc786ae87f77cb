"""A small typed HTTP client of steerflow's Neutron-compatible REST API (what the CLI and the demo use).

It speaks HTTP/1.1 with the standard library (one kept-alive connection): a CLI command starts in a
fraction of the time an HTTP library's import takes.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

if TYPE_CHECKING:  # imported on the first request: `--help` and completion of commands need no HTTP
    import http.client

from steerflow.model import schema

JsonDict = dict[str, Any]
DEFAULT_ENDPOINT = "http://127.0.0.1:9696"
TOKEN_HEADER = "X-Auth-Token"
API_VERSION_PATH = "/v2.0"
AMBIGUOUS_SHOWN = 5  # candidate ids an ambiguous name lists


@dataclass(frozen=True)
class Resource:
    """One REST collection: its singular body key, plural key and URL path below the endpoint."""

    singular: str
    plural: str
    path: str


RESOURCES: dict[str, Resource] = {
    r.singular: r
    for r in (
        Resource(schema.NETWORK, "networks", "/v2.0/networks"),
        Resource(schema.SUBNET, "subnets", "/v2.0/subnets"),
        Resource(schema.PORT, "ports", "/v2.0/ports"),
        Resource(schema.PORT_PAIR, "port_pairs", "/v2.0/sfc/port_pairs"),
        Resource(schema.PORT_PAIR_GROUP, "port_pair_groups", "/v2.0/sfc/port_pair_groups"),
        Resource(schema.FLOW_CLASSIFIER, "flow_classifiers", "/v2.0/sfc/flow_classifiers"),
        Resource(schema.PORT_CHAIN, "port_chains", "/v2.0/sfc/port_chains"),
        Resource(schema.SERVICE_GRAPH, "service_graphs", "/v2.0/sfc/service_graphs"),
        Resource(schema.CHASSIS, schema.CHASSIS, "/v2.0/steerflow/chassis"),  # plural = singular
        Resource(schema.CLASSIFICATION, "classifications", "/v2.0/classifications"),
        Resource(schema.CLASSIFICATION_GROUP, "classification_groups", "/v2.0/classification_groups"),
    )
}


class ClientError(Exception):
    """Anything that keeps a request from succeeding; `str()` is a one-line explanation."""


class ApiError(ClientError):
    """The API answered with an error: the NeutronError `type`, its `message` and the HTTP status."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(f"{type}: {message}" if type else message)
        self.status = status
        self.type = type
        self.message = message


class NotFoundError(ClientError):
    """A name or id matched nothing."""


class AmbiguousError(ClientError):
    """A name matched more than one object; an id must be given instead."""


class UnreachableError(ClientError):
    """No API answers at the endpoint."""


class EndpointError(ClientError):
    """The endpoint is not a URL the client can use."""


@dataclass(frozen=True)
class Reply:
    """One HTTP response, read whole."""

    status: int
    reason: str
    text: str
    headers: http.client.HTTPMessage

    def json(self) -> Any:
        return json.loads(self.text)


def api_error(reply: Reply) -> ApiError:
    """Turn an error response into an ApiError, reading the NeutronError body when there is one."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("NeutronError"), dict):
        err = body["NeutronError"]
        return ApiError(reply.status, str(err.get("type", "")), str(err.get("message", "")))
    if isinstance(body, dict) and "detail" in body:
        return ApiError(reply.status, f"HTTP{reply.status}", str(body["detail"]))
    return ApiError(reply.status, f"HTTP{reply.status}", reply.text.strip() or reply.reason)


def _next_link(reply: Mapping[str, Any], plural: str) -> str | None:
    """The href of a Neutron collection page's `next` link (`<plural>_links`), if there is one."""
    for link in reply.get(f"{plural}_links") or ():
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return str(link["href"])
    return None


class SteerflowClient:
    """CRUD on every resource of the API, plus lookups by name or id (the way the openstack CLI does)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, token: str | None = None, timeout: float = 30.0):
        self.endpoint = endpoint.rstrip("/")
        url = urlsplit(self.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise EndpointError(
                f"--endpoint must be an http(s) URL such as {DEFAULT_ENDPOINT}, got {endpoint!r}"
            )
        self._scheme, self._host, self._port = url.scheme, url.hostname, url.port
        self._prefix = url.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers[TOKEN_HEADER] = token
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SteerflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        import http.client

        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def _send(self, method: str, target: str, body: bytes | None, timeout: float | None) -> Reply:
        import http.client

        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            reused = self._conn is not None
            conn = self._connection()
            conn.timeout = timeout or self._timeout
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
                text = response.read().decode("utf-8", errors="replace")
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                # a kept-alive connection the server has closed meanwhile: one fresh try
                if reused and attempt == 1 and not isinstance(exc, TimeoutError):
                    continue
                raise UnreachableError(
                    f"cannot reach the steerflow API at {self.endpoint}: {exc or type(exc).__name__}"
                ) from exc
            if response.will_close:
                self.close()
            return Reply(response.status, response.reason, text, response.headers)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> Reply:
        target = self._prefix + path
        if params:
            target += "?" + urlencode(params, doseq=True)
        body = None if json_body is None else json.dumps(json_body).encode()
        reply = self._send(method, target, body, timeout)
        if reply.status >= 400:
            raise self._explained(api_error(reply))
        return reply

    def _explained(self, error: ApiError) -> ClientError:
        """A 404 at an endpoint ending in /v2.0 means the version was given twice: say so."""
        if error.status == 404 and self._prefix.endswith(API_VERSION_PATH):
            base = self.endpoint[: -len(API_VERSION_PATH)]
            return ClientError(
                f"{error}: the API has no {self._prefix}/v2.0/... paths; give --endpoint the base URL "
                f"without /v2.0 (--endpoint {base})"
            )
        return error

    def create(self, kind: str, body: Mapping[str, Any]) -> JsonDict:
        res = RESOURCES[kind]
        reply = self._request("POST", res.path, json_body={res.singular: dict(body)}).json()
        return dict(reply[res.singular])

    def get(self, kind: str, id: str) -> JsonDict:
        res = RESOURCES[kind]
        return dict(self._request("GET", f"{res.path}/{id}").json()[res.singular])

    def list(self, kind: str, **filters: str | builtins.list[str]) -> builtins.list[JsonDict]:
        """Every object of `kind` matching `filters`, following the API's `next` links when it pages."""
        res = RESOURCES[kind]
        reply = self._request("GET", res.path, params=filters).json()
        items = [dict(item) for item in reply[res.plural]]
        while (href := _next_link(reply, res.plural)) is not None:
            url = urlsplit(href)
            page = self._send("GET", url.path + (f"?{url.query}" if url.query else ""), None, None)
            if page.status >= 400:
                raise self._explained(api_error(page))
            reply = page.json()
            items.extend(dict(item) for item in reply[res.plural])
        return items

    def update(self, kind: str, id: str, body: Mapping[str, Any]) -> JsonDict:
        res = RESOURCES[kind]
        reply = self._request("PUT", f"{res.path}/{id}", json_body={res.singular: dict(body)}).json()
        return dict(reply[res.singular])

    def delete(self, kind: str, id: str) -> None:
        self._request("DELETE", f"{RESOURCES[kind].path}/{id}")

    def chain_statistics(self, chain_id: str) -> JsonDict:
        """A port chain's packet and byte counters, summed over the chassis (the API's statistics)."""
        res = RESOURCES[schema.PORT_CHAIN]
        return dict(self._request("GET", f"{res.path}/{chain_id}/statistics").json()["port_chain_statistics"])

    def find(self, kind: str, name_or_id: str) -> JsonDict:
        """The one object whose id, or else whose name, is `name_or_id`."""
        try:
            return self.get(kind, name_or_id)
        except ApiError as exc:
            # a name is not an id: the API answers 404 (or 400 for a malformed id); then try the name
            if exc.status not in (400, 404):
                raise
        matches = self.list(kind, name=name_or_id)
        label = kind.replace("_", " ")
        if not matches:
            raise NotFoundError(f"no {label} found for {name_or_id!r}")
        if len(matches) > 1:
            ids = sorted(str(m["id"]) for m in matches)
            shown = ", ".join(ids[:AMBIGUOUS_SHOWN]) + (", ..." if len(ids) > AMBIGUOUS_SHOWN else "")
            raise AmbiguousError(
                f"more than one {label} is named {name_or_id!r} ({len(ids)}: {shown}); give one of their ids"
            )
        return matches[0]

    def find_id(self, kind: str, name_or_id: str) -> str:
        return str(self.find(kind, name_or_id)["id"])

    def extensions(self) -> builtins.list[str]:
        """The aliases of the API extensions the server announces."""
        reply = self._request("GET", "/v2.0/extensions").json()
        return [str(ext["alias"]) for ext in reply.get("extensions", [])]

    def wait_ready(self, timeout: float = 20.0, alive: Callable[[], bool] | None = None) -> None:
        """Poll until the API answers; `alive()` returning False (e.g. the server died) stops early."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._request("GET", "/v2.0/extensions")
                return
            except UnreachableError:
                if time.monotonic() > deadline or (alive is not None and not alive()):
                    raise
            time.sleep(0.05)
