"""The etcd driver's unary calls over gRPC and through the JSON gateway, on a real etcd: the same store
either way, a txn far over HTTP/2's first flow-control window, and no silent fallback to the gateway."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from steerflow.model import schema
from steerflow.nbdb import open_store
from steerflow.nbdb.api import Delete, Put, RevisionConflict, StoreError
from steerflow.nbdb.etcd_store import EtcdStore
from tests.builders.servers import Server

pytestmark = pytest.mark.server


@pytest.fixture(params=["grpc", "gateway"])
def etcd(request: pytest.FixtureRequest) -> Iterator[EtcdStore]:
    server: Server = request.getfixturevalue("etcd_server")
    store = open_store(f"etcd://{server.endpoint}/t{uuid.uuid4().hex[:12]}?calls={request.param}")
    assert isinstance(store, EtcdStore)
    try:
        yield store
    finally:
        store.close()
    assert store.call_transport == request.param  # nothing fell back


def test_reads_writes_and_compares_are_the_stores(etcd: EtcdStore) -> None:
    assert etcd.revision() == 0 and etcd.snapshot() == (0, [])
    first = etcd.commit([Put(schema.PORT, "a", {"n": 1}), Put(schema.PORT, "b", {"n": 2})], 0)
    with pytest.raises(RevisionConflict) as conflict:
        etcd.commit([Put(schema.PORT, "c", {})], expected_revision=0)
    assert conflict.value.actual == first
    second = etcd.commit([Delete(schema.PORT, "a"), Put(schema.NETWORK, "n", {"x": [1, "é"]})], first)
    assert second > first and etcd.revision() == second
    record = etcd.get(schema.NETWORK, "n")
    assert record is not None and record.value == {"x": [1, "é"]} and record.mod_revision == second
    assert etcd.get(schema.PORT, "a") is None
    assert [r.id for r in etcd.list(schema.PORT)] == ["b"]
    revision, records = etcd.snapshot()
    assert revision == second
    assert [(r.kind, r.id) for r in records] == [(schema.NETWORK, "n"), (schema.PORT, "b")]


def test_beats_on_a_lease_and_side_entries(etcd: EtcdStore) -> None:
    etcd.beat("ch1", 12.5)
    etcd.put_side(schema.CHASSIS_COUNTERS, "ch1", {"flows": 3})
    assert etcd.beats() == {"ch1": 12.5}
    assert etcd.side(schema.CHASSIS_COUNTERS) == {"ch1": {"flows": 3}}
    etcd.put_side(schema.CHASSIS_COUNTERS, "ch1", None)
    assert etcd.side(schema.CHASSIS_COUNTERS) == {}
    assert etcd.revision() == 0  # side entries are no commits


def test_a_txn_far_over_the_first_flow_control_window_commits_whole(etcd: EtcdStore) -> None:
    value = {"pad": "x" * 4000}
    # ~400 KB (the window is 64 KiB), in etcd's default limit of 128 operations per txn
    ops = [Put(schema.PORT, f"p{i:04d}", value) for i in range(100)]
    revision = etcd.commit(ops, expected_revision=0)
    records = etcd.list(schema.PORT)
    assert len(records) == 100 and {r.mod_revision for r in records} == {revision}
    assert all(r.value == value for r in records)


@pytest.mark.parametrize("count", [127, 128, 1000, 4000])
def test_a_commit_over_etcds_128_operations_a_txn_commits_whole(etcd: EtcdStore, count: int) -> None:
    ops = [Put(schema.PORT, f"p{i:04d}", {"i": i}) for i in range(count)]
    revision = etcd.commit(ops, expected_revision=0)
    records = etcd.list(schema.PORT)
    assert len(records) == count and {r.mod_revision for r in records} == {revision}
    assert etcd.watch(0, timeout=2).revision == revision  # one revision: the watchers see one commit
    with pytest.raises(RevisionConflict):
        etcd.commit(ops[:1], expected_revision=0)


def test_a_refusal_is_a_store_error_with_etcds_reason(etcd: EtcdStore) -> None:
    etcd.commit([Put(schema.PORT, "a", {})])
    with pytest.raises(StoreError, match=r"compacted|future"):
        etcd.compact(etcd.revision() + 1000)  # a revision etcd does not have yet
