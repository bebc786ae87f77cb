"""The etcd driver's unary calls (Range, Txn, Put, DeleteRange, Compact, LeaseGrant), spoken over gRPC
or through etcd's JSON gateway: the same requests and replies either way."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from steerflow.nbdb import etcd_proto as proto
from steerflow.nbdb.etcd_h2 import CallFailed, Channel
from steerflow.nbdb.etcd_proto import Change, Erase, Range, Reply, RequestOp, Txn, Write
from steerflow.nbdb.etcd_wire import Connections, Interrupted, PerThread

# how unary calls are spoken: gRPC (one protobuf encoding in etcd) or the JSON gateway (a gRPC hop inside
# etcd, and JSON with base64 both ways)
CALL_TRANSPORTS = ("grpc", "gateway")
# gRPC status codes the driver tells apart (the gateway's JSON errors carry the same)
UNKNOWN, NOT_FOUND, UNAVAILABLE = 2, 5, 14
# gRPC statuses the gateway answers with an HTTP 5xx: the server's trouble, not the request's
SERVER_SIDE = frozenset({UNKNOWN, 4, 8, 10, 13, UNAVAILABLE, 15})


@dataclass(frozen=True, slots=True)
class Compaction:
    revision: int
    physical: bool = True


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    ttl: int


Request = Range | Write | Erase | Txn | Compaction | LeaseGrant


class Refused(Exception):
    """etcd answered the call with an error (a gRPC status): nothing was applied, unless the status
    says the outcome is unknown (a timeout inside etcd)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"etcd refused ({code}): {message}")
        self.code = code
        self.message = message

    @property
    def leaderless(self) -> bool:
        """The member has no leader: the request was refused before anything happened."""
        return self.code == UNAVAILABLE and "no leader" in self.message

    @property
    def server_side(self) -> bool:
        return self.code in SERVER_SIDE


class Calls(Protocol):
    """Unary calls to one member (`http://HOST:PORT`); `Unsent` when no connection could be made,
    `Interrupted` when the answer never came whole, `Refused` for etcd's errors."""

    def call(self, endpoint: str, request: Request, metadata: Mapping[str, str], timeout: float) -> Reply: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Method:
    grpc: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Reply]
    gateway: str


_METHODS: dict[type, _Method] = {
    Range: _Method("/etcdserverpb.KV/Range", proto.range_request, proto.range_response, "/v3/kv/range"),
    Write: _Method("/etcdserverpb.KV/Put", proto.put_request, proto.header_response, "/v3/kv/put"),
    Erase: _Method(
        "/etcdserverpb.KV/DeleteRange", proto.delete_request, proto.header_response, "/v3/kv/deleterange"
    ),
    Txn: _Method("/etcdserverpb.KV/Txn", proto.txn_request, proto.txn_response, "/v3/kv/txn"),
    Compaction: _Method(
        "/etcdserverpb.KV/Compact",
        lambda c: proto.compaction_request(c.revision, c.physical),
        proto.header_response,
        "/v3/kv/compaction",
    ),
    LeaseGrant: _Method(
        "/etcdserverpb.Lease/LeaseGrant",
        lambda g: proto.lease_grant_request(g.ttl),
        proto.lease_grant_response,
        "/v3/lease/grant",
    ),
}


class GrpcCalls:
    """Unary calls over gRPC: one kept HTTP/2 connection per thread and member."""

    def __init__(self, connect_timeout: float) -> None:
        self._channels = PerThread(lambda endpoint: Channel(endpoint, connect_timeout), _stale)

    def call(self, endpoint: str, request: Request, metadata: Mapping[str, str], timeout: float) -> Reply:
        method = _METHODS[type(request)]
        channel = self._channels.get(endpoint)
        try:
            answer = channel.call(method.grpc, method.encode(request), metadata, timeout)
        except CallFailed as exc:
            raise Refused(exc.code, exc.message) from exc
        finally:
            if channel.broken:
                self._channels.drop(endpoint)
        try:
            return method.decode(answer)
        except proto.Malformed as exc:
            raise Interrupted(f"{endpoint}: an undecodable answer: {exc}") from exc

    def close(self) -> None:
        self._channels.close()


def _stale(channel: Channel) -> bool:
    return not channel.usable()


class GatewayCalls:
    """Unary calls through etcd's JSON gateway (`/v3/...`) over kept HTTP/1.1 connections."""

    def __init__(self, connect_timeout: float, request_timeout: float) -> None:
        self._wire = Connections(connect_timeout, request_timeout)

    def call(self, endpoint: str, request: Request, metadata: Mapping[str, str], timeout: float) -> Reply:
        method = _METHODS[type(request)]
        headers = {f"Grpc-Metadata-{name}": value for name, value in metadata.items()}
        answer = self._wire.post(
            endpoint, method.gateway, json.dumps(_json(request)).encode(), headers, timeout
        )
        if answer.status != 200:
            raise _gateway_refusal(answer.status, answer.text)
        return _json_reply(request, json.loads(answer.body))

    def close(self) -> None:
        self._wire.close()


def _gateway_refusal(status: int, text: str) -> Refused:
    try:
        body = json.loads(text)
        return Refused(int(body.get("code", UNKNOWN)), str(body.get("message") or body.get("error") or text))
    except (ValueError, AttributeError, TypeError):
        return Refused(UNAVAILABLE if status == 503 else UNKNOWN, f"{status} {text}")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _json(request: Request) -> dict[str, Any]:
    """The gateway's JSON of a request (proto3 JSON: bytes in base64, int64 as strings)."""
    if isinstance(request, Range):
        keys = {"key": _b64(request.key)}
        return {**keys, "range_end": _b64(request.range_end)} if request.range_end else keys
    if isinstance(request, Write):
        put: dict[str, Any] = {"key": _b64(request.key), "value": _b64(request.value)}
        return {**put, "lease": str(request.lease)} if request.lease else put
    if isinstance(request, Erase):
        return {"key": _b64(request.key)}
    if isinstance(request, Txn):
        body: dict[str, Any] = {
            "success": [_json_op(op) for op in request.success],
            "failure": [_json_op(op) for op in request.failure],
        }
        if request.key:
            compare = {"key": _b64(request.key), "target": "MOD", "mod_revision": str(request.mod_revision)}
            body["compare"] = [compare]
        return body
    if isinstance(request, Compaction):
        return {"revision": str(request.revision), "physical": request.physical}
    return {"TTL": str(request.ttl)}


def _json_op(op: RequestOp) -> dict[str, Any]:
    if isinstance(op, Range):
        return {"request_range": _json(op)}
    if isinstance(op, Write):
        return {"request_put": _json(op)}
    if isinstance(op, Txn):
        return {"request_txn": _json(op)}
    return {"request_delete_range": _json(op)}


def _json_reply(request: Request, data: dict[str, Any]) -> Reply:
    revision = int(data.get("header", {}).get("revision", 0))
    if isinstance(request, Range):
        return Reply(revision, _json_kvs(data))
    if isinstance(request, Txn):
        ranges = tuple(
            _json_kvs(r["response_range"]) for r in data.get("responses", []) if "response_range" in r
        )
        return Reply(revision, succeeded=bool(data.get("succeeded", False)), ranges=ranges)
    if isinstance(request, LeaseGrant):
        return Reply(revision, lease=int(data.get("ID", 0)))
    return Reply(revision)


def _json_kvs(data: dict[str, Any]) -> tuple[Change, ...]:
    return tuple(
        Change(
            base64.b64decode(kv["key"]), int(kv.get("mod_revision", 0)), base64.b64decode(kv.get("value", ""))
        )
        for kv in data.get("kvs", [])
    )
