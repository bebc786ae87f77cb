"""Optimistic transactions over the NB store: validate against a snapshot, commit expecting its revision."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from steerflow.api.errors import ServiceUnavailable
from steerflow.nbdb.api import JsonDict, NorthboundStore, Operation, Record, RevisionConflict

LOG = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of the whole store at one revision."""

    revision: int
    objects: dict[str, dict[str, JsonDict]]

    def of(self, kind: str) -> dict[str, JsonDict]:
        """All objects of a kind, by id."""
        return self.objects.get(kind, {})

    def find(self, kind: str, id: str) -> JsonDict | None:
        return self.objects.get(kind, {}).get(id)


def take_snapshot(store: NorthboundStore) -> Snapshot:
    revision, records = store.snapshot()
    return Snapshot(revision, _index(records))


def _index(records: Sequence[Record]) -> dict[str, dict[str, JsonDict]]:
    out: dict[str, dict[str, JsonDict]] = {}
    for rec in records:
        out.setdefault(rec.kind, {})[rec.id] = rec.value
    return out


Plan = tuple[Sequence[Operation], T]


def transact(store: NorthboundStore, plan: Callable[[Snapshot], Plan[T]]) -> T:
    """Run `plan` on a fresh snapshot and commit its operations atomically, retrying on a race.

    `plan` must be pure with respect to the store: it reads the snapshot, raises a NeutronError for
    bad input (nothing is written), or returns (operations, result). When another writer committed
    in between, the whole plan is re-run on a new snapshot, so validation always sees what it commits on.
    """
    for _attempt in range(MAX_ATTEMPTS):
        snap = take_snapshot(store)
        ops, result = plan(snap)
        if not ops:
            return result
        try:
            store.commit(ops, expected_revision=snap.revision)
        except RevisionConflict:
            LOG.debug("NB revision moved during a transaction; retrying")
            continue
        return result
    raise ServiceUnavailable(reason="the northbound store is too busy; retry")
