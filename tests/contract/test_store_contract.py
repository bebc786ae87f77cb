"""The NB store contract, run against every driver: revisions, atomic commits, conflicts, reads."""

from __future__ import annotations

import pytest

from steerflow.model import schema
from steerflow.nbdb import Delete, NorthboundStore, Put, Record, RevisionConflict
from tests.builders.stores import Driver

NESTED = {"name": "ü-ñ ✓", "ips": [{"ip": "10.0.0.5", "subnet_id": "s"}], "empty": [], "none": None, "n": 1.5}


def test_a_fresh_store_is_empty_at_revision_zero(store: NorthboundStore) -> None:
    assert store.revision() == 0
    assert store.snapshot() == (0, [])
    assert store.list(schema.PORT) == []
    assert store.get(schema.PORT, "a") is None


def test_each_commit_is_one_new_revision(driver: Driver, store: NorthboundStore) -> None:
    revisions = [store.commit([Put(schema.PORT, f"p{i}", {"i": i})]) for i in range(4)]
    assert revisions == sorted(set(revisions)) and revisions[0] > 0
    if driver.dense:
        assert revisions == [1, 2, 3, 4]
    assert store.revision() == revisions[-1]
    assert [r.mod_revision for r in store.list(schema.PORT)] == revisions


def test_a_multi_object_commit_gives_every_object_the_same_revision(store: NorthboundStore) -> None:
    store.commit([Put(schema.PORT, "gone", {})])
    revision = store.commit(
        [Put(schema.PORT, "a", {"x": 1}), Put(schema.PORT_PAIR, "b", {"x": 2}), Delete(schema.PORT, "gone")]
    )
    assert store.revision() == revision
    assert [r.mod_revision for r in store.snapshot()[1]] == [revision, revision]
    assert store.get(schema.PORT, "gone") is None


def test_an_empty_commit_still_advances_the_revision(store: NorthboundStore) -> None:
    first = store.commit([Put(schema.PORT, "a", {})])
    second = store.commit([])
    assert second > first and store.revision() == second
    batch = store.watch(first, timeout=2)
    assert batch.revision == second and list(batch.events) == []


def test_a_stale_expected_revision_conflicts_and_writes_nothing(store: NorthboundStore) -> None:
    base = store.commit([Put(schema.PORT, "a", {"v": 1})])
    moved = store.commit([Put(schema.PORT, "a", {"v": 2})])
    with pytest.raises(RevisionConflict) as conflict:
        store.commit([Put(schema.PORT, "a", {"v": 3}), Put(schema.PORT, "b", {})], expected_revision=base)
    assert (conflict.value.expected, conflict.value.actual) == (base, moved)
    assert store.revision() == moved
    assert store.get(schema.PORT, "a") == Record(schema.PORT, "a", {"v": 2}, moved)
    assert store.get(schema.PORT, "b") is None


def test_the_current_expected_revision_commits(store: NorthboundStore) -> None:
    assert store.commit([Put(schema.PORT, "a", {})], expected_revision=0) == store.revision()
    current = store.revision()
    assert store.commit([Put(schema.PORT, "b", {})], expected_revision=current) > current


def test_get_list_and_snapshot_return_the_stored_values(store: NorthboundStore) -> None:
    revision = store.commit(
        [
            Put(schema.PORT, "b", NESTED),
            Put(schema.PORT, "a", {"k": "v"}),
            Put(schema.NETWORK, "n", {"mtu": 1450}),
        ]
    )
    assert store.get(schema.PORT, "b") == Record(schema.PORT, "b", NESTED, revision)
    assert [r.id for r in store.list(schema.PORT)] == ["a", "b"]
    assert store.list(schema.NETWORK) == [Record(schema.NETWORK, "n", {"mtu": 1450}, revision)]
    assert store.list(schema.CHASSIS) == []
    snap_revision, records = store.snapshot()
    assert snap_revision == revision
    assert [(r.kind, r.id) for r in records] == [
        (schema.NETWORK, "n"),
        (schema.PORT, "a"),
        (schema.PORT, "b"),
    ]


def test_returned_values_are_copies(store: NorthboundStore) -> None:
    value = {"tags": ["x"]}
    store.commit([Put(schema.PORT, "a", value)])
    value["tags"].append("changed by the caller")
    record = store.get(schema.PORT, "a")
    assert record is not None and record.value == {"tags": ["x"]}
    record.value["tags"].append("changed by a reader")
    assert store.list(schema.PORT)[0].value == {"tags": ["x"]}


def test_put_replaces_and_delete_removes(store: NorthboundStore) -> None:
    store.commit([Put(schema.PORT, "a", {"v": 1, "old": True})])
    replaced = store.commit([Put(schema.PORT, "a", {"v": 2})])
    assert store.get(schema.PORT, "a") == Record(schema.PORT, "a", {"v": 2}, replaced)
    deleted = store.commit([Delete(schema.PORT, "a")])
    assert store.get(schema.PORT, "a") is None
    assert store.list(schema.PORT) == []
    assert store.snapshot() == (deleted, [])


def test_deleting_an_absent_object_is_not_an_error(store: NorthboundStore) -> None:
    revision = store.commit([Delete(schema.PORT, "never-was")])
    assert store.revision() == revision
    assert store.get(schema.PORT, "never-was") is None


def test_another_handle_sees_the_same_store(driver: Driver, store: NorthboundStore) -> None:
    other = driver.open()
    revision = store.commit([Put(schema.PORT, "a", {"by": "first"})])
    assert other.revision() == revision
    assert other.get(schema.PORT, "a") == Record(schema.PORT, "a", {"by": "first"}, revision)
    with pytest.raises(RevisionConflict):
        other.commit([Put(schema.PORT, "b", {})], expected_revision=0)
