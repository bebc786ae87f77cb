"""One NB driver under test: its URL, the handles opened on it and what its revisions promise."""

from __future__ import annotations

from dataclasses import dataclass, field

from steerflow.nbdb import NorthboundStore, open_store
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
