"""etcd northbound store: etcd v3 over gRPC (or its JSON gateway); our revisions are etcd's."""

from __future__ import annotations

import base64
import builtins
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol

from steerflow.model import schema
from steerflow.nbdb.api import (
    BeatsBeside,
    Event,
    JsonDict,
    Operation,
    Put,
    Record,
    RevisionConflict,
    StoreError,
    WatchBatch,
)
from steerflow.nbdb.etcd_calls import (
    CALL_TRANSPORTS,
    Calls,
    Compaction,
    GatewayCalls,
    GrpcCalls,
    LeaseGrant,
    Refused,
    Request,
)
from steerflow.nbdb.etcd_h2 import NotHttp2, Stream, server_stream
from steerflow.nbdb.etcd_proto import (
    Change,
    Erase,
    Malformed,
    Range,
    Reply,
    RequestOp,
    Txn,
    WatchMessage,
    Write,
    gateway_message,
    watch_create_request,
    watch_response,
)
from steerflow.nbdb.etcd_wire import BROKEN, Interrupted, Unsent, stream

LOG = logging.getLogger(__name__)
DEFAULT_PREFIX = "/steerflow/nb/"
REQUEST_TIMEOUT = 5.0
# a read is resent to another member after this long (a member that lost its leader holds it)
READ_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0
# history that is already there arrives at once; this only bounds a stuck server
CATCH_UP_TIMEOUT = 5.0
# how long a request keeps trying the members while none has a leader (an election takes ~1 s)
ELECTION_WAIT = 5.0
RETRY_PAUSE = 0.05
MIN_READ = 0.001  # the shortest wait a read of the feed's stream is given
# etcd's default --max-txn-ops: operations a txn may hold at one level (a bigger commit nests txns)
MAX_TXN_OPS = 128
# events a store's feed keeps for its watchers; a watcher further behind gets a watch of its own
FEED_LOG = 10_000
# an idle feed re-opens its stream this often (cheap: from its own revision, synced at once), so a
# member that went silent is left and a closed store's thread ends
FEED_IDLE = 3.0
# gRPC metadata through the gateway: a member without a leader refuses requests and cancels watches
# at once, instead of holding them until it rejoins, so the client moves to another member
REQUIRE_LEADER = {"Grpc-Metadata-hasleader": "true"}
# a beat key lives on a lease of this many seconds, renewed (a new lease) after half of it: a member
# silent for 150-300 s leaves no key behind. Liveness reads the beat's time, never the key's presence.
BEAT_LEASE_TTL = 300
GRPC_REQUIRE_LEADER = {"hasleader": "true"}
WATCH_METHOD = "/etcdserverpb.Watch/Watch"
# how a watch is spoken: gRPC (the default: etcd encodes each response once, in protobuf) or the JSON
# gateway (etcd adds a gRPC hop to itself and a JSON encoding per watcher and response)
WATCH_TRANSPORTS = ("grpc", "gateway")


class EtcdStore(BeatsBeside):
    """A `NorthboundStore` in etcd (3.4+) under a key prefix, spoken to over gRPC (or its JSON gateway).

    Objects are `<prefix>o/<kind>/<id>`; every commit is one txn that also writes `<prefix>meta`, so the
    store revision is that key's mod_revision and the same compare guards `expected_revision`. A watch
    resumes with an etcd watch from the watcher's revision; when etcd has compacted it away, the watcher
    gets a snapshot (resync). Endpoints are tried in order (failover); the last good one is kept.
    Side maps are `<prefix without its last slash>.<kind>/<member>` (beats: on a lease), beside the
    prefix and so outside every watch of it (of this release and the ones before): they move etcd's
    revision but not the store's, and reach no watcher.
    Watches (`watch=`) and unary calls (`calls=`) each speak gRPC (the default), or the JSON gateway
    (`"gateway"`, also the fallback when a member does not answer HTTP/2).
    """

    def __init__(
        self, endpoints: Sequence[str], prefix: str = DEFAULT_PREFIX, watch: str = "grpc", calls: str = "grpc"
    ) -> None:
        if not endpoints:
            raise ValueError("etcd needs at least one HOST:PORT endpoint")
        if watch not in WATCH_TRANSPORTS:
            raise ValueError(f"etcd watch transport {watch!r} is none of {', '.join(WATCH_TRANSPORTS)}")
        if calls not in CALL_TRANSPORTS:
            raise ValueError(f"etcd call transport {calls!r} is none of {', '.join(CALL_TRANSPORTS)}")
        self.watch_transport = watch
        self.call_transport = calls
        self.endpoints = [e if "://" in e else f"http://{e}" for e in endpoints]
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self._meta_key = f"{self.prefix}meta"
        self._objects = f"{self.prefix}o/"
        self._lease_lock = threading.Lock()
        self._lease: tuple[int, float] | None = None  # (id, monotonic time granted) of the beats' lease
        self._objects_key = self._objects.encode()
        self._current = 0
        self._lock = threading.Lock()
        self._calls: Calls = (
            GrpcCalls(CONNECT_TIMEOUT) if calls == "grpc" else GatewayCalls(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
        )
        self._feed: _Feed | None = None
        self._commit_lock = threading.Lock()
        self._known = 0  # the newest store revision this handle has seen committed

    def _endpoint_order(self) -> builtins.list[str]:
        with self._lock:
            start = self._current
        return self.endpoints[start:] + self.endpoints[:start]

    def _remember(self, endpoint: str) -> None:
        with self._lock:
            self._current = self.endpoints.index(endpoint)

    def _call(self, request: Request, *, idempotent: bool = True) -> Reply:
        """Send `request` to the first member that answers, failing over to the next.

        A request the member refused for want of a leader was never applied: it goes to the next
        member, and round again while an election lasts. Any other failure after a request was sent is
        ambiguous for a write, which is then never resent (the caller decides), only for reads.
        """
        deadline = time.monotonic() + ELECTION_WAIT
        while True:
            failure: Exception | str | None = None
            electing = False
            for endpoint in self._endpoint_order():
                try:
                    timeout = READ_TIMEOUT if idempotent else REQUEST_TIMEOUT
                    reply = self._send(endpoint, request, timeout)
                except Unsent as exc:
                    failure = exc
                    continue
                except Interrupted as exc:
                    if not idempotent:
                        raise StoreError(f"etcd write interrupted, outcome unknown: {exc}") from exc
                    # a member that lost its leader holds reads until etcd's own timeout: try another
                    failure, electing = exc, True
                    continue
                except Refused as exc:
                    if exc.leaderless or (idempotent and exc.server_side):
                        failure, electing = exc.message, True
                        continue
                    raise StoreError(f"etcd answered {exc.code}: {exc.message}") from exc
                self._remember(endpoint)
                return reply
            if not electing or time.monotonic() >= deadline:
                raise StoreError(f"etcd unreachable at {', '.join(self.endpoints)}: {failure}")
            time.sleep(RETRY_PAUSE)

    def _send(self, endpoint: str, request: Request, timeout: float) -> Reply:
        metadata = GRPC_REQUIRE_LEADER
        try:
            return self._calls.call(endpoint, request, metadata, timeout)
        except NotHttp2 as exc:
            if self.call_transport != "grpc":
                raise
            LOG.warning("etcd at %s speaks no gRPC (%s): calling through its gateway", endpoint, exc)
            self.call_transport = "gateway"
            self._calls = GatewayCalls(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
            return self._calls.call(endpoint, request, metadata, timeout)

    def _range(self, key: str, prefix: bool = False) -> tuple[Change, ...]:
        return self._call(_range_op(key, prefix)).kvs

    def revision(self) -> int:
        return self._revisions()[0]

    def _revisions(self) -> tuple[int, int]:
        """(the store's revision, etcd's revision): they differ when other keys were written since."""
        reply = self._call(_range_op(self._meta_key, False))
        return (reply.kvs[0].mod_revision if reply.kvs else 0), reply.revision

    def get(self, kind: str, id: str) -> Record | None:
        kvs = self._range(self._object_key(kind, id))
        return self._record(kvs[0]) if kvs else None

    def list(self, kind: str) -> list[Record]:
        records = [self._record(kv) for kv in self._range(f"{self._objects}{kind}/", prefix=True)]
        return sorted(records, key=lambda r: r.id)

    def snapshot(self) -> tuple[int, builtins.list[Record]]:
        # one txn without compares: both ranges read the same revision
        reply = self._call(Txn(tuple(_range_op(k, p) for k, p in self._snapshot_ranges())))
        meta, objects = reply.ranges
        records = sorted((self._record(kv) for kv in objects), key=lambda r: (r.kind, r.id))
        return (meta[0].mod_revision if meta else 0), records

    def _snapshot_ranges(self) -> builtins.list[tuple[str, bool]]:
        return [(self._meta_key, False), (self._objects, True)]

    def commit(self, ops: Sequence[Operation], expected_revision: int | None = None) -> int:
        if expected_revision is None:
            return self._send_commit(ops, None)
        # etcd runs even a txn whose compare fails through Raft (a WAL write and fsync), so of the
        # writers of one process racing on the same revision only one is sent at a time and the rest,
        # now known to be behind, fail here; uniqueness still rests on etcd's compare alone
        with self._commit_lock:
            known = max(self._known, self._feed.revision if self._feed is not None else 0)
            if expected_revision < known:
                raise RevisionConflict(expected_revision, known)
            return self._send_commit(ops, expected_revision)

    def _send_commit(self, ops: Sequence[Operation], expected_revision: int | None) -> int:
        meta = self._meta_key.encode()
        txn = Txn(
            success=_within_txn_limit([*self._requests(ops), Write(meta, b"{}")]),
            failure=(Range(meta),),
            # a never-written meta key has mod_revision 0, which is exactly a fresh store's revision
            key=meta if expected_revision is not None else b"",
            mod_revision=expected_revision or 0,
        )
        reply = self._call(txn, idempotent=False)
        if expected_revision is not None and not reply.succeeded:
            kvs = reply.ranges[0] if reply.ranges else ()
            actual = kvs[0].mod_revision if kvs else 0
            self._learn(actual)
            raise RevisionConflict(expected_revision, actual)
        revision = reply.revision
        self._learn(revision)
        return revision

    def _learn(self, revision: int) -> None:
        with self._lock:
            self._known = max(self._known, revision)

    def _requests(self, ops: Sequence[Operation]) -> builtins.list[RequestOp]:
        """The txn requests for `ops`; etcd rejects a key twice in one txn, so the last op per key wins."""
        last: dict[str, Operation] = {}
        for op in ops:
            key = self._object_key(op.kind, op.id)
            last.pop(key, None)
            last[key] = op
        return [
            Write(key.encode(), json.dumps(op.value).encode()) if isinstance(op, Put) else Erase(key.encode())
            for key, op in last.items()
        ]

    def _side_prefix(self, kind: str) -> str:
        return f"{self.prefix[:-1]}.{kind}/"  # "." sorts before "/": outside the prefix's range

    def put_side(self, kind: str, member: str, value: Any) -> None:
        key = f"{self._side_prefix(kind)}{member}"
        # resending an entry writes the same entry: safe to fail over like a read
        if value is None:
            self._call(Erase(key.encode()))
            return
        encoded = json.dumps(value).encode()
        if kind != schema.BEATS:  # counters are re-sent only when they move: on no lease
            self._call(Write(key.encode(), encoded))
            return
        for fresh in (False, True):
            try:
                self._call(Write(key.encode(), encoded, self._lease_id(fresh)))
                return
            except StoreError as exc:
                if fresh or "lease not found" not in str(exc):
                    raise  # else the lease expired (e.g. a long outage): grant a new one, once

    def _lease_id(self, fresh: bool) -> int:
        """The lease beats are written on: granted on first use and again after half its TTL."""
        with self._lease_lock:
            held = self._lease
            if not fresh and held is not None and time.monotonic() - held[1] < BEAT_LEASE_TTL / 2:
                return held[0]
            lease = self._call(LeaseGrant(BEAT_LEASE_TTL)).lease
            self._lease = (lease, time.monotonic())
            return lease

    def side(self, kind: str) -> dict[str, Any]:
        start = self._side_prefix(kind)
        kvs = self._range(start, prefix=True)
        return {kv.key.decode()[len(start) :]: json.loads(kv.value or b"null") for kv in kvs}

    def watch(self, since_revision: int, timeout: float = 1.0) -> WatchBatch:
        feed = self._feed_from(since_revision)
        # a watcher that the live feed has logged up to (or past) gets what it has, or waits for its
        # next event, without a request (with many watchers, a read per wake-up would cost etcd more
        # than the commits); a call that must be exact (timeout 0: "everything committed until now")
        # first reads the store's revision and gets everything up to it in one batch
        target = since_revision if timeout > 0 and feed.follows(since_revision) else self.revision()
        deadline = time.monotonic() + (CATCH_UP_TIMEOUT if target > since_revision else max(timeout, 0.0))
        batch = feed.wait(since_revision, target, deadline)
        if batch is not None:
            return batch
        # history from before this store's feed began: one watch of its own (etcd answers it within
        # its 100 ms sync tick), which also reports compaction
        return self._watch_once(since_revision, timeout, target > since_revision)

    def _feed_from(self, since: int) -> _Feed:
        with self._lock:
            feed = self._feed
            if feed is None:
                feed = self._feed = _Feed(self, since)
                fresh = True
            else:
                fresh = False
        if fresh:
            feed.prime()  # outside the lock: opening reads the store's revision
        return feed

    def _watch_once(self, since_revision: int, timeout: float, behind: bool) -> WatchBatch:
        deadline = time.monotonic() + max(timeout, 0.0)
        if not behind and timeout <= 0:
            return WatchBatch(revision=since_revision)
        # when behind, the events are already stored and come at once: wait for them even if timeout is 0
        wait = max(deadline - time.monotonic(), CATCH_UP_TIMEOUT if behind else 0.0)
        try:
            with self._watch_stream(since_revision, wait) as responses:
                while True:
                    batch = self._batch(since_revision, responses.read(wait + 0.05))
                    if batch is not None:
                        return batch
                    if time.monotonic() >= deadline and not behind:
                        break
        except TimeoutError:
            pass
        except (*BROKEN, Interrupted, Malformed) as exc:
            raise StoreError(f"etcd watch interrupted: {exc}") from exc
        return WatchBatch(revision=since_revision)

    @contextmanager
    def _watch_stream(self, since: int, wait: float, start: int | None = None) -> Iterator[Responses]:
        """The watch responses of one etcd watch over our prefix, starting at `since` itself; a read
        raises TimeoutError after the timeout it gives without one (and a gateway stream silent for
        `wait` seconds ends).

        Starting at `since` (not since+1) makes etcd report compaction whenever since < compacted:
        compaction may drop the tombstones of the compacted revision itself, so that one is lost too.
        `start` overrides that when the caller knows nothing can be compacted after `since`.
        """
        first = max(since, 1) if start is None else start
        failure: Exception | None = None
        for endpoint in self._endpoint_order():
            try:
                with self._open_watch(endpoint, first, wait + 0.05) as (refusal, responses):
                    if refusal is not None:
                        # e.g. "no leader": this member cannot serve a watch, another may
                        failure = StoreError(f"etcd watch refused: {refusal}")
                        continue
                    self._remember(endpoint)
                    yield responses
                    return
            except Unsent as exc:
                failure = exc
        raise StoreError(f"etcd unreachable at {', '.join(self.endpoints)}: {failure}") from failure

    @contextmanager
    def _open_watch(self, endpoint: str, start: int, wait: float) -> Iterator[tuple[str | None, Responses]]:
        """One watch over our prefix on one member: (why it was refused or None, its responses)."""
        key = self.prefix.encode()
        if self.watch_transport == "grpc":
            request = watch_create_request(key, _prefix_end(key), start)
            try:
                with server_stream(
                    endpoint, WATCH_METHOD, request, GRPC_REQUIRE_LEADER, CONNECT_TIMEOUT, wait
                ) as (refusal, raw):
                    yield refusal, _GrpcResponses(raw)
                    return
            except NotHttp2 as exc:
                LOG.warning("etcd at %s speaks no gRPC (%s): watching through its gateway", endpoint, exc)
                self.watch_transport = "gateway"
        create = {"create_request": {**_range_body(self.prefix, True), "start_revision": start}}
        body = json.dumps(create).encode()
        with stream(endpoint, "/v3/watch", body, REQUIRE_LEADER, CONNECT_TIMEOUT, wait) as (status, lines):
            if status != 200:
                yield f"{status} {b''.join(lines)!r}", _GatewayResponses(iter(()))
                return
            yield None, _GatewayResponses(lines)

    def _batch(self, since: int, message: WatchMessage) -> WatchBatch | None:
        """The batch one watch response makes, or None when it carries nothing after `since`."""
        if message.compact_revision:
            revision, records = self.snapshot()
            return WatchBatch(revision, resync=True, snapshot=records)
        if message.canceled:
            raise StoreError(f"etcd canceled the watch: {message.cancel_reason}")
        changes = [c for c in message.changes if c.mod_revision > since]
        if not changes:
            return None
        events = [self._event(c) for c in changes if c.key.startswith(self._objects_key)]
        return WatchBatch(max(c.mod_revision for c in changes), events=events)

    def _event(self, change: Change) -> Event:
        kind, _, id = change.key[len(self._objects_key) :].decode().partition("/")
        value = None if change.value is None else json.loads(change.value)
        return Event(change.mod_revision, kind, id, value)

    def _object_key(self, kind: str, id: str) -> str:
        return f"{self._objects}{kind}/{id}"

    def _split_key(self, key: str) -> tuple[str, str]:
        kind, _, id = key[len(self._objects) :].partition("/")
        return kind, id

    def _record(self, kv: Change) -> Record:
        kind, id = self._split_key(kv.key.decode())
        return Record(kind, id, json.loads(kv.value or b"null"), kv.mod_revision)

    def compact(self, revision: int) -> None:
        """Ask etcd to drop the history before `revision` (operators and tests force a resync with it)."""
        self._call(Compaction(revision))

    def close(self) -> None:
        with self._lock:
            feed, self._feed = self._feed, None
        if feed is not None:
            feed.stop()
        self._calls.close()


class Responses(Protocol):
    """The responses of one watch stream."""

    def read(self, timeout: float) -> WatchMessage:
        """The next response; TimeoutError when none came within `timeout` seconds."""

    @property
    def alive(self) -> bool:
        """Whether a later read may still bring a response (a timed-out read leaves most streams so)."""


class _GrpcResponses:
    """A gRPC watch's responses: a timed-out read leaves the call intact, to be read on later."""

    alive = True

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def read(self, timeout: float) -> WatchMessage:
        return watch_response(self._stream.read(timeout))


class _GatewayResponses:
    """The JSON gateway's watch lines, read ahead by a thread of their own (http.client cannot go on
    reading a response after a read timed out); the thread ends with the stream."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._ahead: queue.SimpleQueue[bytes | Exception] = queue.SimpleQueue()
        self._pump: threading.Thread | None = None
        self._ended = False

    @property
    def alive(self) -> bool:
        return not self._ended

    def read(self, timeout: float) -> WatchMessage:
        if self._pump is None:
            self._pump = threading.Thread(target=self._read_ahead, name="etcd-gateway-watch", daemon=True)
            self._pump.start()
        try:
            item = self._ahead.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no watch response within {timeout:.3f} s") from None
        if isinstance(item, Exception):
            self._ended = True
            raise item
        return _message(item)

    def _read_ahead(self) -> None:
        try:
            for line in self._lines:
                self._ahead.put(line)
            self._ahead.put(ConnectionResetError("etcd ended the watch"))
        except Exception as exc:  # handed to the reader, whatever it is
            self._ahead.put(exc)


class _Feed:
    """One long-lived etcd watch over a store's prefix, shared by every `watch` call of that store.

    etcd answers a watch that starts in the past only at its next sync tick (every 100 ms), but streams
    every later commit at once: so a store keeps one stream open from the first revision it was asked
    for and hands out what it has logged. The log holds every event after `start`, grouped by revision
    (a commit is one etcd revision, its `meta` write included, so every commit shows).

    The stream is read by the watching threads themselves, no thread of its own: the one that finds it
    free reads it while it waits (one wake-up per delivery: the watcher's, on the socket), the others of
    the same store wait for the log to move or for the stream to be free again. When the stream breaks
    (member gone or leaderless) or stays silent for FEED_IDLE, the next read re-opens it on the next
    member from the last revision seen; when etcd compacted that away, the log restarts at the store's
    revision and watchers from before it get a resync from their own watch.
    """

    def __init__(self, store: EtcdStore, since: int) -> None:
        self._store = store
        self._changed = threading.Condition()
        self.start = self.revision = since
        self._log: deque[tuple[int, builtins.list[Event]]] = deque()
        self._logged = 0
        self._failure: str | None = None  # why the stream could not be (re)opened, until it is
        self._stopping = False
        self._reading = threading.Lock()  # held by the thread that reads the stream
        self._followers = 0  # threads waiting on `_changed` while another reads
        self._opened: ExitStack | None = None  # the open stream's context, None when closed
        self._responses: Responses | None = None
        self._heard = 0.0  # monotonic time of the stream's last response (or its opening)

    def wait(self, since: int, target: int, deadline: float) -> WatchBatch | None:
        """The events after `since` once the feed reached `target` and passed `since`, or what it has at
        the deadline; None when `since` is older than the log (the caller watches on its own)."""
        while True:
            with self._changed:
                if since < self.start:
                    return None
                left = deadline - time.monotonic()
                if (self.revision > since and self.revision >= target) or left <= 0:
                    return self._after(since)
                if not self._reading.acquire(blocking=False):
                    if self._failure is not None:
                        raise StoreError(self._failure)
                    self._follow(left)
                    continue
            try:
                self._read(deadline)
            finally:
                self._reading.release()
                with self._changed:
                    if self._followers:
                        self._changed.notify_all()  # one of them reads on

    def _after(self, since: int) -> WatchBatch:
        if self.revision <= since:
            return WatchBatch(revision=since)
        newer: builtins.list[builtins.list[Event]] = []
        for revision, events in reversed(self._log):
            if revision <= since:
                break
            newer.append(events)
        return WatchBatch(self.revision, events=[e for events in reversed(newer) for e in events])

    def _follow(self, left: float) -> None:
        """Wait (holding `_changed`) for the reading thread's news, or for the stream to be free."""
        self._followers += 1
        try:
            self._changed.wait(left)
        finally:
            self._followers -= 1

    def follows(self, since: int) -> bool:
        """Whether the feed is streaming and its log covers `since` (it has every event after it)."""
        with self._changed:
            return self._failure is None and self.start <= since <= self.revision

    def prime(self) -> None:
        """Open the stream now, so that it streams from the first commit after this (a stream opened
        later, after a commit, starts in the past: etcd answers it at its next 100 ms sync tick). A
        failure is left to the first read, which opens it again."""
        if not self._reading.acquire(blocking=False):
            return
        try:
            if self._responses is None:
                self._open()
        except Exception as exc:
            LOG.info("etcd watch stream not opened yet (%s): the first watch opens it", exc)
            self._close()
        finally:
            self._reading.release()

    def stop(self) -> None:
        """Close the stream (now when no thread reads it, else when that thread's read ends)."""
        self._stopping = True
        if self._reading.acquire(blocking=False):
            try:
                self._close()
            finally:
                self._reading.release()

    def _read(self, deadline: float) -> None:
        """Read one response and log it, or wait for one until the deadline. A broken stream is closed,
        to be re-opened by the next read."""
        try:
            self._read_stream(deadline)
        except (*BROKEN, Interrupted, Malformed) as exc:
            LOG.info("etcd watch stream broke (%s); re-opening from %d", exc, self.revision)
            self._close()
        except Exception as exc:
            # unreachable, canceled: every watcher hears it until a stream opens again
            self._close()
            self._fail(str(exc))
            raise StoreError(str(exc)) from exc
        finally:
            if self._stopping:
                self._close()

    def _read_stream(self, deadline: float) -> None:
        responses = self._responses or self._open()
        try:
            message = responses.read(max(deadline - time.monotonic(), MIN_READ))
        except TimeoutError:
            if not responses.alive or time.monotonic() - self._heard >= FEED_IDLE:
                # silent: leave a member that may have gone silent, and re-open at once (mostly before
                # the next commit: then after etcd's revision, where nothing can have been compacted)
                self._close()
                self._open()
            return
        self._fail(None)
        self._heard = time.monotonic()
        self._take(message)

    def _open(self) -> Responses:
        """Open the stream after our revision."""
        since, start = self._resume_point()
        opened = ExitStack()
        self._responses = opened.enter_context(self._store._watch_stream(since, FEED_IDLE, start))
        self._opened = opened
        self._heard = time.monotonic()
        return self._responses

    def _close(self) -> None:
        opened, self._opened, self._responses = self._opened, None, None
        if opened is not None:
            opened.close()

    def _take(self, message: WatchMessage) -> None:
        if message.compact_revision:
            self._close()
            self._restart_log()
        elif message.canceled:
            raise StoreError(f"etcd canceled the watch: {message.cancel_reason}")
        else:
            self._append(message.changes)

    def _resume_point(self) -> tuple[int, int | None]:
        """Where to re-open: right after etcd's revision when no commit of ours came after our revision
        (every commit writes `meta`: then nothing of ours lies between, etcd streams at once and
        nothing after it can be compacted), else at our revision (compaction is then reported).

        Starting after etcd's revision, not ours, matters when other keys of the cluster were written
        since and etcd compacted them: a stream from our revision would be told "compacted" on every
        re-open and never stream again, and every watcher would get a needless resync."""
        mine, etcd = self._store._revisions()
        return self.revision, (etcd + 1 if mine == self.revision else None)

    def _append(self, changes: Sequence[Change]) -> None:
        by_revision: dict[int, builtins.list[Event]] = {}
        objects = self._store._objects_key
        for change in changes:
            revision = change.mod_revision
            if revision <= self.revision:
                continue
            events = by_revision.setdefault(revision, [])
            if change.key.startswith(objects):
                events.append(self._store._event(change))
        if not by_revision:
            return
        with self._changed:
            for revision in sorted(by_revision):
                self._log.append((revision, by_revision[revision]))
                self._logged += max(1, len(by_revision[revision]))
            self.revision = max(by_revision)
            while self._logged > FEED_LOG and len(self._log) > 1:
                self.start, dropped = self._log.popleft()
                self._logged -= max(1, len(dropped))

    def _restart_log(self) -> None:
        revision = self._store.revision()
        LOG.warning(
            "etcd compacted the history after %d: watchers from before %d resync", self.revision, revision
        )
        with self._changed:
            self._log.clear()
            self._logged = 0
            self.start = self.revision = revision

    def _fail(self, failure: str | None) -> None:
        if failure == self._failure:
            return
        with self._changed:
            self._failure = failure


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _range_body(key: str, prefix: bool) -> JsonDict:
    """A range in the gateway's JSON (its watch's create request)."""
    body = {"key": _b64(key)}
    if prefix:
        body["range_end"] = base64.b64encode(_prefix_end(key.encode())).decode()
    return body


def _within_txn_limit(requests: Sequence[RequestOp]) -> tuple[RequestOp, ...]:
    """`requests` as a txn's success list etcd accepts: at most `MAX_TXN_OPS` operations a level,
    so a bigger commit goes into nested txns. etcd lets a nested txn hold what its parent leaves
    (MAX_TXN_OPS minus the parent's count): k nested txns of MAX_TXN_OPS - k each, up to 4,096."""
    if len(requests) <= MAX_TXN_OPS:
        return tuple(requests)
    nested = next(
        (k for k in range(2, MAX_TXN_OPS) if k * (MAX_TXN_OPS - k) >= len(requests)), MAX_TXN_OPS // 2
    )
    size = MAX_TXN_OPS - nested
    return tuple(Txn(tuple(requests[at : at + size])) for at in range(0, len(requests), size))


def _range_op(key: str, prefix: bool) -> Range:
    raw = key.encode()
    return Range(raw, _prefix_end(raw) if prefix else b"")


def _prefix_end(key: bytes) -> bytes:
    """The range end of a prefix: the prefix with its last byte incremented."""
    return key[:-1] + bytes([key[-1] + 1])


def _message(line: bytes) -> WatchMessage:
    data: Any = json.loads(line)
    if "error" in data:
        raise StoreError(f"etcd watch failed: {data['error']}")
    return gateway_message(data["result"])
