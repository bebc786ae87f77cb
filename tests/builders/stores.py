"""One NB driver under test: its URL, the handles opened on it and what its revisions promise."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from steerflow.nbdb import Event, NorthboundStore, StoreError, WatchBatch, open_store
from steerflow.nbdb.etcd_store import EtcdStore
from steerflow.nbdb.memory import MemoryStore


@dataclass
class Driver:
    """One driver under test: `url` opens the same store again (another handle, or another process)."""

    name: str
    url: str
    # drivers whose revisions count our commits exactly (etcd's count every write to the cluster)
    dense: bool = True
    cross_process: bool = True
    opened: list[NorthboundStore] = field(default_factory=list)
    shared: MemoryStore | None = None

    def open(self, history: int | None = None) -> NorthboundStore:
        """A handle on the store; `history` bounds the replayable events (not for etcd: see compact)."""
        if self.shared is not None and history is None:
            return self.shared
        url = self.url
        if history is not None:
            assert self.name != "etcd", "etcd keeps history until compacted: use compact()"
            url += ("&" if "?" in url else "?") + f"history={history}"
        store = open_store(url)
        self.opened.append(store)
        return store

    def compact(self, store: NorthboundStore) -> None:
        """Drop the history up to now where only an explicit request does it (etcd)."""
        if isinstance(store, EtcdStore):
            store.compact(store.revision())

    def close(self) -> None:
        for store in self.opened:
            store.close()


class Follower:
    """A watcher thread that keeps resuming from its last revision, as an agent does; outages (calls
    that raised `StoreError`) are counted and retried."""

    def __init__(self, store: NorthboundStore) -> None:
        self.store = store
        self.seen: list[Event] = []
        self.revision = 0
        self.outages = 0
        self.resyncs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.store.watch(self.revision, timeout=0.5)
            except StoreError:
                self.outages += 1
                self._stop.wait(0.05)  # retry pacing while the server is down
                continue
            self.resyncs += batch.resync
            self.seen.extend(batch.events)
            self.revision = batch.revision

    def state(self) -> dict[str, Any]:
        """id -> value: what the events seen add up to."""
        objects: dict[str, Any] = {}
        for event in self.seen:
            if event.value is None:
                objects.pop(event.id, None)
            else:
                objects[event.id] = event.value
        return objects

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class BlockedWatch:
    """One `watch(since, timeout)` call made in a thread of its own, so the test can act while it
    blocks; `result()` joins it and gives the batch and the seconds the call took."""

    def __init__(self, store: NorthboundStore, since: int, timeout: float) -> None:
        self._results: list[tuple[WatchBatch, float]] = []

        def watch() -> None:
            started = time.monotonic()
            self._results.append((store.watch(since, timeout=timeout), time.monotonic() - started))

        self._thread = threading.Thread(target=watch)
        self._thread.start()

    def result(self) -> tuple[WatchBatch, float]:
        self._thread.join(timeout=30)
        [outcome] = self._results
        return outcome
