"""etcd northbound store: etcd v3 through its JSON gateway; our revisions are etcd's own revisions."""

from __future__ import annotations

import base64
import builtins
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from steerflow.nbdb.api import (
    Event,
    JsonDict,
    Operation,
    Put,
    Record,
    RevisionConflict,
    StoreError,
    WatchBatch,
)

DEFAULT_PREFIX = "/steerflow/nb/"
REQUEST_TIMEOUT = 5.0
CONNECT_TIMEOUT = 1.0
# history that is already there arrives at once; this only bounds a stuck server
CATCH_UP_TIMEOUT = 5.0


class EtcdStore:
    """A `NorthboundStore` in etcd (3.4+) under a key prefix, spoken to over HTTP (`/v3/...` gateway).

    Objects are `<prefix>o/<kind>/<id>`; every commit is one txn that also writes `<prefix>meta`, so the
    store revision is that key's mod_revision and the same compare guards `expected_revision`. A watch
    resumes with an etcd watch from the watcher's revision; when etcd has compacted it away, the watcher
    gets a snapshot (resync). Endpoints are tried in order (failover); the last good one is kept.
    """

    def __init__(self, endpoints: Sequence[str], prefix: str = DEFAULT_PREFIX) -> None:
        if not endpoints:
            raise ValueError("etcd needs at least one HOST:PORT endpoint")
        self.endpoints = [e if "://" in e else f"http://{e}" for e in endpoints]
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self._meta_key = f"{self.prefix}meta"
        self._objects = f"{self.prefix}o/"
        self._current = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT))

    def _endpoint_order(self) -> builtins.list[str]:
        with self._lock:
            start = self._current
        return self.endpoints[start:] + self.endpoints[:start]

    def _remember(self, endpoint: str) -> None:
        with self._lock:
            self._current = self.endpoints.index(endpoint)

    def _post(self, path: str, body: JsonDict, *, idempotent: bool = True) -> JsonDict:
        """POST to the first endpoint that answers; a non-idempotent request only moves on if unsent."""
        failure: Exception | None = None
        for endpoint in self._endpoint_order():
            try:
                response = self._http.post(endpoint + path, json=body)
            except httpx.ConnectError as exc:
                failure = exc
                continue
            except httpx.TransportError as exc:
                failure = exc
                if idempotent:
                    continue
                break
            self._remember(endpoint)
            return _answer(response)
        raise StoreError(f"etcd unreachable at {', '.join(self.endpoints)}: {failure}") from failure

    def _range(self, key: str, prefix: bool = False) -> builtins.list[JsonDict]:
        kvs: builtins.list[JsonDict] = self._post("/v3/kv/range", _range_body(key, prefix)).get("kvs", [])
        return kvs

    def revision(self) -> int:
        kvs = self._range(self._meta_key)
        return int(kvs[0]["mod_revision"]) if kvs else 0

    def get(self, kind: str, id: str) -> Record | None:
        kvs = self._range(self._object_key(kind, id))
        return self._record(kvs[0]) if kvs else None

    def list(self, kind: str) -> list[Record]:
        records = [self._record(kv) for kv in self._range(f"{self._objects}{kind}/", prefix=True)]
        return sorted(records, key=lambda r: r.id)

    def snapshot(self) -> tuple[int, builtins.list[Record]]:
        # one txn without compares: both ranges read the same revision
        body = {"success": [{"request_range": _range_body(k, p)} for k, p in self._snapshot_ranges()]}
        responses = self._post("/v3/kv/txn", body).get("responses", [])
        meta, objects = (r["response_range"].get("kvs", []) for r in responses)
        records = sorted((self._record(kv) for kv in objects), key=lambda r: (r.kind, r.id))
        return (int(meta[0]["mod_revision"]) if meta else 0), records

    def _snapshot_ranges(self) -> builtins.list[tuple[str, bool]]:
        return [(self._meta_key, False), (self._objects, True)]

    def commit(self, ops: Sequence[Operation], expected_revision: int | None = None) -> int:
        body: JsonDict = {
            "success": [*self._requests(ops), _put_request(self._meta_key, b"{}")],
            "failure": [{"request_range": _range_body(self._meta_key, False)}],
        }
        if expected_revision is not None:
            # a never-written meta key has mod_revision 0, which is exactly a fresh store's revision
            body["compare"] = [
                {"key": _b64(self._meta_key), "target": "MOD", "mod_revision": expected_revision}
            ]
        answer = self._post("/v3/kv/txn", body, idempotent=False)
        if expected_revision is not None and not answer.get("succeeded"):
            kvs = answer["responses"][0]["response_range"].get("kvs", [])
            raise RevisionConflict(expected_revision, int(kvs[0]["mod_revision"]) if kvs else 0)
        return int(answer["header"]["revision"])

    def _requests(self, ops: Sequence[Operation]) -> builtins.list[JsonDict]:
        """The txn requests for `ops`; etcd rejects a key twice in one txn, so the last op per key wins."""
        last: dict[str, Operation] = {}
        for op in ops:
            key = self._object_key(op.kind, op.id)
            last.pop(key, None)
            last[key] = op
        return [
            _put_request(key, json.dumps(op.value).encode())
            if isinstance(op, Put)
            else {"request_delete_range": {"key": _b64(key)}}
            for key, op in last.items()
        ]

    def watch(self, since_revision: int, timeout: float = 1.0) -> WatchBatch:
        deadline = time.monotonic() + max(timeout, 0.0)
        behind = self.revision() > since_revision
        if not behind and timeout <= 0:
            return WatchBatch(revision=since_revision)
        # when behind, the events are already stored and come at once: wait for them even if timeout is 0
        wait = max(deadline - time.monotonic(), CATCH_UP_TIMEOUT if behind else 0.0)
        try:
            with self._watch_stream(since_revision, wait) as messages:
                for message in messages:
                    batch = self._batch(since_revision, message)
                    if batch is not None:
                        return batch
                    if time.monotonic() >= deadline and not behind:
                        break
        except httpx.ReadTimeout:
            pass
        except httpx.TransportError as exc:
            raise StoreError(f"etcd watch interrupted: {exc}") from exc
        return WatchBatch(revision=since_revision)

    @contextmanager
    def _watch_stream(self, since: int, wait: float) -> Iterator[Iterator[JsonDict]]:
        """The watch responses of one etcd watch over our prefix, starting at `since` itself.

        Starting at `since` (not since+1) makes etcd report compaction whenever since < compacted:
        compaction may drop the tombstones of the compacted revision itself, so that one is lost too.
        """
        create = {"create_request": {**_range_body(self.prefix, True), "start_revision": max(since, 1)}}
        timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT, read=wait + 0.05)
        failure: Exception | None = None
        for endpoint in self._endpoint_order():
            try:
                with self._http.stream("POST", endpoint + "/v3/watch", json=create, timeout=timeout) as r:
                    if r.status_code != 200:
                        raise StoreError(f"etcd watch refused: {r.status_code} {r.read()!r}")
                    self._remember(endpoint)
                    yield (_message(line) for line in r.iter_lines() if line.strip())
                    return
            except httpx.ConnectError as exc:
                failure = exc
        raise StoreError(f"etcd unreachable at {', '.join(self.endpoints)}: {failure}") from failure

    def _batch(self, since: int, message: JsonDict) -> WatchBatch | None:
        """The batch one watch response makes, or None when it carries nothing after `since`."""
        if int(message.get("compact_revision", 0)):
            revision, records = self.snapshot()
            return WatchBatch(revision, resync=True, snapshot=records)
        if message.get("canceled"):
            raise StoreError(f"etcd canceled the watch: {message.get('cancel_reason', '')}")
        changes = [e for e in message.get("events", []) if int(e["kv"]["mod_revision"]) > since]
        if not changes:
            return None
        events = [self._event(e) for e in changes if _text(e["kv"]["key"]).startswith(self._objects)]
        return WatchBatch(max(int(e["kv"]["mod_revision"]) for e in changes), events=events)

    def _event(self, change: JsonDict) -> Event:
        kv = change["kv"]
        kind, id = self._split_key(_text(kv["key"]))
        value = None if change.get("type") == "DELETE" else json.loads(base64.b64decode(kv["value"]))
        return Event(int(kv["mod_revision"]), kind, id, value)

    def _object_key(self, kind: str, id: str) -> str:
        return f"{self._objects}{kind}/{id}"

    def _split_key(self, key: str) -> tuple[str, str]:
        kind, _, id = key[len(self._objects) :].partition("/")
        return kind, id

    def _record(self, kv: JsonDict) -> Record:
        kind, id = self._split_key(_text(kv["key"]))
        return Record(kind, id, json.loads(base64.b64decode(kv["value"])), int(kv["mod_revision"]))

    def compact(self, revision: int) -> None:
        """Ask etcd to drop the history before `revision` (operators and tests force a resync with it)."""
        self._post("/v3/kv/compaction", {"revision": revision, "physical": True})

    def close(self) -> None:
        self._http.close()


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def _text(b64: str) -> str:
    return base64.b64decode(b64).decode()


def _range_body(key: str, prefix: bool) -> JsonDict:
    body = {"key": _b64(key)}
    if prefix:
        # the range end of a prefix is the prefix with its last byte incremented
        raw = key.encode()
        body["range_end"] = _b64(raw[:-1] + bytes([raw[-1] + 1]))
    return body


def _put_request(key: str, value: bytes) -> JsonDict:
    return {"request_put": {"key": _b64(key), "value": _b64(value)}}


def _message(line: str) -> JsonDict:
    data: Any = json.loads(line)
    if "error" in data:
        raise StoreError(f"etcd watch failed: {data['error']}")
    result: JsonDict = data["result"]
    return result


def _answer(response: httpx.Response) -> JsonDict:
    if response.status_code != 200:
        raise StoreError(f"etcd answered {response.status_code}: {response.text.strip()}")
    data: JsonDict = response.json()
    return data
