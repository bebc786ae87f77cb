"""A small typed HTTP client of steerflow's Neutron-compatible REST API (what the CLI and the demo use)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from steerflow.model import schema

JsonDict = dict[str, Any]
DEFAULT_ENDPOINT = "http://127.0.0.1:9696"
TOKEN_HEADER = "X-Auth-Token"


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


def api_error(response: httpx.Response) -> ApiError:
    """Turn an error response into an ApiError, reading the NeutronError body when there is one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("NeutronError"), dict):
        err = body["NeutronError"]
        return ApiError(response.status_code, str(err.get("type", "")), str(err.get("message", "")))
    if isinstance(body, dict) and "detail" in body:
        return ApiError(response.status_code, f"HTTP{response.status_code}", str(body["detail"]))
    text = response.text.strip() or response.reason_phrase
    return ApiError(response.status_code, f"HTTP{response.status_code}", text)


class SteerflowClient:
    """CRUD on every resource of the API, plus lookups by name or id (the way the openstack CLI does)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, token: str | None = None, timeout: float = 30.0):
        self.endpoint = endpoint.rstrip("/")
        headers = {"Accept": "application/json"}
        if token:
            headers[TOKEN_HEADER] = token
        self._http = httpx.Client(base_url=self.endpoint, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SteerflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise UnreachableError(f"cannot reach the steerflow API at {self.endpoint}: {exc}") from exc
        if response.status_code >= 400:
            raise api_error(response)
        return response

    def create(self, kind: str, body: Mapping[str, Any]) -> JsonDict:
        res = RESOURCES[kind]
        reply = self._request("POST", res.path, json={res.singular: dict(body)}).json()
        return dict(reply[res.singular])

    def get(self, kind: str, id: str) -> JsonDict:
        res = RESOURCES[kind]
        return dict(self._request("GET", f"{res.path}/{id}").json()[res.singular])

    def list(self, kind: str, **filters: str | builtins.list[str]) -> builtins.list[JsonDict]:
        res = RESOURCES[kind]
        reply = self._request("GET", res.path, params=filters).json()
        return [dict(item) for item in reply[res.plural]]

    def update(self, kind: str, id: str, body: Mapping[str, Any]) -> JsonDict:
        res = RESOURCES[kind]
        reply = self._request("PUT", f"{res.path}/{id}", json={res.singular: dict(body)}).json()
        return dict(reply[res.singular])

    def delete(self, kind: str, id: str) -> None:
        self._request("DELETE", f"{RESOURCES[kind].path}/{id}")

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
            raise AmbiguousError(f"more than one {label} is named {name_or_id!r}; use its id")
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
