"""Redis northbound store: objects in hashes, commits by a Lua script, history in a stream `<rev>-<n>`;
side maps (beats, counters) in a hash each, `<prefix><kind>`, outside the stream."""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from steerflow.nbdb.api import (
    BeatsBeside,
    Event,
    Operation,
    Put,
    Record,
    RevisionConflict,
    StoreError,
    WatchBatch,
)

_Entry = tuple[str, dict[str, str]]


class _Wire(Protocol):
    """What a watch uses of a redis-py connection (whose methods carry no types)."""

    def send_command(self, *args: str | int, check_health: bool = True) -> None: ...

    def read_response(self) -> Any: ...

    def disconnect(self) -> None: ...


DEFAULT_PREFIX = "steerflow:nb:"
DEFAULT_HISTORY = 100_000
SOCKET_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0
# XREAD blocks at most this long per round trip, well under SOCKET_TIMEOUT, so long watches never look
# like a dead server to the socket layer.
MAX_BLOCK_MS = 1000
_LAST_SEQ = 18446744073709551615  # the largest stream id sequence: "<rev>-<max>" is after all of rev

# KEYS: revision, kinds, events, then one object hash per op. ARGV: expected ('' = none), history bound,
# then (op, kind, id, value) per op. A commit without ops still gets a marker entry so that watchers
# see its revision. Object hash values are "<revision>:<json>" (Lua's cjson would not round-trip JSON).
_COMMIT = """
local revision = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= revision then
  return {0, revision}
end
revision = revision + 1
redis.call('SET', KEYS[1], revision)
local count = (#ARGV - 2) / 4
for n = 0, count - 1 do
  local op, kind, id, value = ARGV[3 + 4 * n], ARGV[4 + 4 * n], ARGV[5 + 4 * n], ARGV[6 + 4 * n]
  local entry = revision .. '-' .. n
  if op == 'put' then
    redis.call('HSET', KEYS[4 + n], id, revision .. ':' .. value)
    redis.call('SADD', KEYS[2], kind)
    redis.call('XADD', KEYS[3], entry, 'k', kind, 'i', id, 'v', value)
  else
    redis.call('HDEL', KEYS[4 + n], id)
    redis.call('XADD', KEYS[3], entry, 'k', kind, 'i', id)
  end
end
if count == 0 then
  redis.call('XADD', KEYS[3], revision .. '-0', 'empty', '1')
end
redis.call('XTRIM', KEYS[3], 'MAXLEN', tonumber(ARGV[2]))
return {1, revision}
"""

# KEYS: revision, kinds. ARGV: the prefix of the object hashes. Returns revision, then kind, fields pairs.
_SNAPSHOT = """
local out = {redis.call('GET', KEYS[1]) or '0'}
for _, kind in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  out[#out + 1] = kind
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. kind)
end
return out
"""


class RedisStore(BeatsBeside):
    """A `NorthboundStore` in one Redis database, under a key prefix.

    The history stream holds entries `<revision>-<n>` (the n-th op of that commit) and is trimmed to
    `history` entries. A watcher resumes with XREAD after `<since>-<max>`; if the first entry it gets is
    not `<since+1>-0`, that history was trimmed and it gets a snapshot (resync) instead.
    """

    def __init__(
        self, client: redis.Redis, prefix: str = DEFAULT_PREFIX, history: int = DEFAULT_HISTORY
    ) -> None:
        if history < 1:
            raise ValueError("history must keep at least one event")
        self._redis = client
        self.prefix = prefix
        self.history = history
        self._revision_key = f"{prefix}revision"
        self._kinds_key = f"{prefix}kinds"
        self._events_key = f"{prefix}events"
        self._watching = threading.local()  # each watching thread's own connection (`_read_after`)
        self._watch_lock = threading.Lock()
        self._watch_connections: builtins.list[_Wire] = []
        self._commit = client.register_script(_COMMIT)
        self._snapshot = client.register_script(_SNAPSHOT)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, history: int = DEFAULT_HISTORY) -> RedisStore:
        """Connect to `redis://HOST:PORT/DB` with bounded timeouts, so an outage raises instead of hanging."""
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            # no silent retries: a commit whose reply was lost must not be applied twice
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, prefix, history)

    def _object_key(self, kind: str) -> str:
        return f"{self.prefix}objects:{kind}"

    def _call(self, action: Callable[[], Any], *, retry: bool = True) -> Any:
        """Run one Redis call, mapping failures to StoreError; reads get one retry on a fresh connection.

        The reply is untyped wire data (strings, as the client decodes responses); callers convert it.
        """
        for attempt in range(2 if retry else 1):
            try:
                return action()
            except redis.ConnectionError as exc:
                if attempt or not retry:
                    raise StoreError(f"redis unreachable: {exc}") from exc
            except redis.RedisError as exc:
                raise StoreError(f"redis: {exc}") from exc
        raise AssertionError("unreachable")

    def revision(self) -> int:
        return int(self._call(lambda: self._redis.get(self._revision_key)) or 0)

    def get(self, kind: str, id: str) -> Record | None:
        raw: str | None = self._call(lambda: self._redis.hget(self._object_key(kind), id))
        return _record(kind, id, raw) if raw is not None else None

    def list(self, kind: str) -> list[Record]:
        fields: dict[str, str] = self._call(lambda: self._redis.hgetall(self._object_key(kind)))
        return [_record(kind, id, fields[id]) for id in sorted(fields)]

    def snapshot(self) -> tuple[int, builtins.list[Record]]:
        keys = [self._revision_key, self._kinds_key]
        reply = self._call(lambda: self._snapshot(keys=keys, args=[self._object_key("")]))
        records: builtins.list[Record] = []
        for i in range(1, len(reply), 2):
            kind, flat = reply[i], reply[i + 1]
            records.extend(_record(kind, flat[j], flat[j + 1]) for j in range(0, len(flat), 2))
        records.sort(key=lambda r: (r.kind, r.id))
        return int(reply[0]), records

    def commit(self, ops: Sequence[Operation], expected_revision: int | None = None) -> int:
        keys = [self._revision_key, self._kinds_key, self._events_key]
        args: builtins.list[str | int] = [
            "" if expected_revision is None else expected_revision,
            self.history,
        ]
        for op in ops:
            keys.append(self._object_key(op.kind))
            value = json.dumps(op.value) if isinstance(op, Put) else ""
            args.extend(["put" if isinstance(op, Put) else "delete", op.kind, op.id, value])
        ok, revision = self._call(lambda: self._commit(keys=keys, args=args), retry=False)
        if not ok:
            assert expected_revision is not None
            raise RevisionConflict(expected_revision, int(revision))
        return int(revision)

    def watch(self, since_revision: int, timeout: float = 1.0) -> WatchBatch:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            # BLOCK 0 would mean forever: a spent timeout is a plain non-blocking read
            block = min(remaining_ms, MAX_BLOCK_MS) if remaining_ms > 0 else None
            entries = self._read_after(since_revision, block)
            if entries:
                return self._batch(since_revision, entries)
            if remaining_ms <= 0 or time.monotonic() >= deadline:
                return WatchBatch(revision=since_revision)

    def _read_after(self, since: int, block: int | None) -> builtins.list[_Entry]:
        """The stream's entries after revision `since`, waiting up to `block` ms for the first one.

        XREAD goes straight over a connection of the watching thread's own, bypassing the client's
        pool and reply callbacks: per delivery, that layer cost more CPU than the rest of the watch."""
        command: builtins.list[str | int] = ["XREAD"]
        if block is not None:
            command += ["BLOCK", block]
        command += ["STREAMS", self._events_key, f"{since}-{_LAST_SEQ}"]
        for attempt in range(2):
            conn = self._watch_connection()
            try:
                conn.send_command(*command, check_health=False)
                reply = conn.read_response()
                break
            except redis.RedisError as exc:
                self._drop_watch_connection()  # a reply may be half read: never reuse it
                if attempt or not isinstance(exc, redis.ConnectionError):
                    raise StoreError(f"redis: {exc}") from exc
        if not reply:
            return []
        # RESP2 answers [[stream, entries]], RESP3 {stream: [entries]}; an entry is [id, [field, value, ...]]
        entries = reply[self._events_key] if isinstance(reply, dict) else reply[0][1]
        return [(entry_id, _pairs(fields)) for entry_id, fields in entries]

    def _watch_connection(self) -> _Wire:
        conn: _Wire | None = getattr(self._watching, "conn", None)
        if conn is None:
            pool = self._redis.connection_pool
            conn = self._watching.conn = cast(_Wire, pool.connection_class(**pool.connection_kwargs))
            with self._watch_lock:
                self._watch_connections.append(conn)
        return conn

    def _drop_watch_connection(self) -> None:
        conn: _Wire | None = getattr(self._watching, "conn", None)
        self._watching.conn = None
        if conn is not None:
            conn.disconnect()

    def _batch(self, since: int, entries: Sequence[_Entry]) -> WatchBatch:
        if entries[0][0] != f"{since + 1}-0":
            revision, records = self.snapshot()
            return WatchBatch(revision, resync=True, snapshot=records)
        events: list[Event] = []
        for entry_id, fields in entries:
            if "empty" in fields:
                continue
            value = json.loads(fields["v"]) if "v" in fields else None
            events.append(Event(_entry_revision(entry_id), fields["k"], fields["i"], value))
        return WatchBatch(_entry_revision(entries[-1][0]), events=events)

    def _side_key(self, kind: str) -> str:
        """The hash of a side map: member -> JSON, no revision, no stream entry (`<prefix>beats` as
        before side maps were more than beats)."""
        return f"{self.prefix}{kind}"

    def put_side(self, kind: str, member: str, value: Any) -> None:
        # an entry written twice is the same entry: the one retry of `_call` is safe
        key = self._side_key(kind)
        if value is None:
            self._call(lambda: self._redis.hdel(key, member))
        else:
            self._call(lambda: self._redis.hset(key, member, json.dumps(value)))

    def side(self, kind: str) -> dict[str, Any]:
        fields: dict[str, str] = self._call(lambda: self._redis.hgetall(self._side_key(kind)))
        return {member: json.loads(value) for member, value in fields.items()}

    def close(self) -> None:
        with self._watch_lock:
            watching, self._watch_connections = self._watch_connections, []
        for conn in watching:
            conn.disconnect()
        self._redis.close()


def _pairs(fields: Sequence[str]) -> dict[str, str]:
    """A stream entry's flat [field, value, ...] as a dict."""
    return dict(zip(fields[::2], fields[1::2], strict=True))


def _entry_revision(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _record(kind: str, id: str, raw: str) -> Record:
    revision, _, value = raw.partition(":")
    return Record(kind, id, json.loads(value), int(revision))
