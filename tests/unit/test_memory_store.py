"""The in-memory reference store: revisions, atomic commits, conflicts and watch."""

import pytest

from steerflow.model import schema
from steerflow.nbdb import Delete, Put, RevisionConflict
from steerflow.nbdb.memory import MemoryStore


def test_commit_advances_one_revision_for_many_objects() -> None:
    store = MemoryStore()
    rev = store.commit([Put(schema.PORT, "a", {"x": 1}), Put(schema.PORT, "b", {"x": 2})])
    assert rev == 1
    assert [r.id for r in store.list(schema.PORT)] == ["a", "b"]
    assert {r.mod_revision for r in store.list(schema.PORT)} == {1}


def test_expected_revision_conflict_writes_nothing() -> None:
    store = MemoryStore()
    store.commit([Put(schema.PORT, "a", {})])
    with pytest.raises(RevisionConflict):
        store.commit([Put(schema.PORT, "b", {})], expected_revision=0)
    assert store.get(schema.PORT, "b") is None
    assert store.revision() == 1


def test_watch_resumes_and_resyncs_when_history_is_gone() -> None:
    store = MemoryStore(history=2)
    for i in range(3):
        store.commit([Put(schema.PORT, str(i), {"i": i})])
    store.commit([Delete(schema.PORT, "0")])
    batch = store.watch(2, timeout=0)
    assert [(e.revision, e.id, e.deleted) for e in batch.events] == [(3, "2", False), (4, "0", True)]
    gone = store.watch(0, timeout=0)
    assert gone.resync and gone.revision == 4
    assert sorted(r.id for r in gone.snapshot) == ["1", "2"]
    assert store.watch(4, timeout=0).events == ()
