"""The etcd driver's watch feed on an etcd shared with other writers: compacting their history, which
lies after our last commit, costs our watchers neither a resync nor an event."""

from __future__ import annotations

import pytest

from steerflow.model import schema
from steerflow.nbdb import Put, open_store
from steerflow.nbdb import etcd_store as etcd_module
from tests.builders.servers import EtcdServer, Server

pytestmark = pytest.mark.server


def test_compacted_writes_of_other_keys_cost_a_watcher_nothing(
    own_etcd: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(own_etcd, EtcdServer)
    monkeypatch.setattr(etcd_module, "FEED_IDLE", 0.2)  # the feed re-opens its stream often
    ours = open_store(f"etcd://{own_etcd.endpoint}/ours")
    others = open_store(f"etcd://{own_etcd.endpoint}/others")
    try:
        first = ours.commit([Put(schema.PORT, "a", {})])
        assert ours.watch(0, timeout=1).revision == first
        for n in range(3):
            head = others.commit([Put(schema.PORT, f"x{n}", {})])
        ours.compact(head)
        # a watcher waiting on past FEED_IDLE: its stream re-opens after the compaction
        assert not ours.watch(first, timeout=0.5).events
        second = ours.commit([Put(schema.PORT, "b", {})])
        batch = ours.watch(first, timeout=2)
        assert not batch.resync
        assert [(e.revision, e.id) for e in batch.events] == [(second, "b")]
    finally:
        ours.close()
        others.close()
