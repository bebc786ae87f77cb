"""The etcd driver's watch feed fed scripted watch responses: where a broken stream re-opens, and that a
watcher sees every revision once, in order, whatever the re-opened stream repeats or adds."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from steerflow.model import schema
from steerflow.nbdb import Event
from steerflow.nbdb.api import JsonDict
from steerflow.nbdb.etcd_proto import WatchMessage, gateway_message
from steerflow.nbdb.etcd_store import EtcdStore, Responses

PREFIX = "/t/"
# a stream's script: responses, then how it ends (None: idle, the feed re-opens it)
Script = tuple[list[JsonDict], Exception | None]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _change(revision: int, key: str, value: object | None) -> JsonDict:
    kv: JsonDict = {"key": _b64(key), "mod_revision": str(revision)}
    if value is None:
        return {"type": "DELETE", "kv": kv}
    return {"kv": {**kv, "value": _b64(json.dumps(value))}}


def commit(revision: int, *changes: tuple[str, object | None]) -> JsonDict:
    """One watch response with one commit: its objects, then the `meta` write every commit ends with."""
    objects = [_change(revision, f"{PREFIX}o/{schema.PORT}/{id}", value) for id, value in changes]
    return {
        "header": {"revision": str(revision)},
        "events": [*objects, _change(revision, f"{PREFIX}meta", {})],
    }


CREATED: JsonDict = {"header": {"revision": "1"}, "created": True}


def progress(revision: int) -> JsonDict:
    return {"header": {"revision": str(revision)}}


class ScriptedEtcd(EtcdStore):
    """An `EtcdStore` whose watch streams play scripts and whose revision reads answer from a list; it
    records where each stream was opened (`since`, `start`). `revisions` are (our last commit, etcd's
    revision) as successive reads see them, the last one repeated."""

    def __init__(self, streams: list[Script], revisions: list[tuple[int, int]]) -> None:
        super().__init__(["127.0.0.1:9"], PREFIX)
        self.streams = streams
        self.revisions = revisions
        self.opened: list[tuple[int, int | None]] = []

    def _revisions(self) -> tuple[int, int]:
        return self.revisions.pop(0) if len(self.revisions) > 1 else self.revisions[0]

    @contextmanager
    def _watch_stream(self, since: int, wait: float, start: int | None = None) -> Iterator[Responses]:
        if not self.streams:
            time.sleep(0.01)
            raise TimeoutError("idle")
        self.opened.append((since, start))
        responses, end = self.streams.pop(0)
        yield _Played(responses, end)


class _Played:
    """A script's responses, then its end (None: silent, and ended for good, as after FEED_IDLE)."""

    def __init__(self, responses: list[JsonDict], end: Exception | None) -> None:
        self._responses = [gateway_message(r) for r in responses]
        self._end = end
        self.alive = True

    def read(self, timeout: float) -> WatchMessage:
        if self._responses:
            return self._responses.pop(0)
        if self._end is not None:
            raise self._end
        self.alive = False
        raise TimeoutError("idle")


def _watch_until(store: EtcdStore, until: int) -> tuple[list[tuple[int, str, object]], list[int]]:
    """What a watch loop from 0 sees up to `until`: its events and the revisions it passed."""
    events: list[Event] = []
    passed: list[int] = []
    since = 0
    deadline = time.monotonic() + 5
    while since < until and time.monotonic() < deadline:
        batch = store.watch(since, timeout=0.2)
        assert not batch.resync
        events += batch.events
        since = batch.revision
        passed.append(since)
    return [(e.revision, e.id, e.value) for e in events], passed


def test_a_stream_reopened_behind_etcd_starts_at_its_revision_and_repeats_nothing() -> None:
    store = ScriptedEtcd(
        [
            ([CREATED, commit(5, ("a", {"n": 1})), commit(6, ("b", {"n": 2}))], ConnectionResetError("gone")),
            # the next member re-sends revision 6 (the stream starts at it), a progress report, then
            # a commit without object events (a delete of an absent object) and one more
            ([CREATED, commit(6, ("b", {"n": 2})), progress(9), commit(7), commit(8, ("a", None))], None),
        ],
        revisions=[(0, 0), (8, 8)],
    )
    try:
        events, passed = _watch_until(store, 8)
        assert events == [(5, "a", {"n": 1}), (6, "b", {"n": 2}), (8, "a", None)]
        assert passed == sorted(passed) and passed[-1] == 8
        # at 6 with etcd at 8: from 6 itself (compaction would be reported), 6 again is dropped
        assert store.opened[:2] == [(0, 1), (6, None)]
    finally:
        store.close()


def test_a_stream_reopened_with_no_commit_since_starts_after_etcds_revision() -> None:
    store = ScriptedEtcd(
        [
            ([CREATED, commit(3, ("a", {}))], OSError("reset")),
            ([CREATED, progress(3), commit(4, ("b", {})), commit(5, ("a", None), ("b", None))], None),
        ],
        revisions=[(1, 1), (3, 3)],
    )
    try:
        events, _passed = _watch_until(store, 5)
        assert events == [(3, "a", {}), (4, "b", {}), (5, "a", None), (5, "b", None)]
        assert store.opened[:2] == [(0, None), (3, 4)]
    finally:
        store.close()


def test_a_stream_reopened_after_other_keys_were_written_and_compacted_skips_them() -> None:
    # etcd moved to 9 by writes outside our prefix (then compacted at 9, say): from our revision 3
    # etcd would answer "compacted" on every re-open; after 9 it streams our next commit
    store = ScriptedEtcd(
        [
            ([CREATED, commit(3, ("a", {}))], OSError("reset")),
            ([CREATED, commit(10, ("b", {}))], None),
        ],
        revisions=[(3, 3), (3, 9)],
    )
    try:
        events, _passed = _watch_until(store, 10)
        assert events == [(3, "a", {}), (10, "b", {})]
        assert store.opened[:2] == [(0, None), (3, 10)]
    finally:
        store.close()


class _GatewayOnly(BaseHTTPRequestHandler):
    """An HTTP/1.x-only etcd stand-in (as behind a proxy that speaks no HTTP/2): revision reads answer
    5, a watch streams one commit at 5 and ends."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v3/kv/range":
            lines = [
                {"header": {"revision": "5"}, "kvs": [{"key": _b64(f"{PREFIX}meta"), "mod_revision": "5"}]}
            ]
        else:
            lines = [{"result": CREATED}, {"result": commit(5, ("a", {"n": 1}))}]
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"".join(json.dumps(line).encode() + b"\n" for line in lines))

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_a_member_that_speaks_no_http2_is_watched_and_called_through_the_gateway() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GatewayOnly)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    store = EtcdStore([f"127.0.0.1:{server.server_address[1]}"], PREFIX)
    try:
        batch = store.watch(4, timeout=2)
        assert [(e.revision, e.id, e.value) for e in batch.events] == [(5, "a", {"n": 1})]
        assert store.watch_transport == "gateway"
        assert store.call_transport == "gateway"  # its revision reads fell back too
        assert store.revision() == 5
    finally:
        store.close()
        server.shutdown()
        server.server_close()
