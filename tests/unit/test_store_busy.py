"""A store that loses every race: the store layer gives up with StoreBusy, the API answers Neutron's 503."""

from collections.abc import Sequence

import pytest

from steerflow.api.context import Context
from steerflow.api.core import core_handlers
from steerflow.api.errors import ServiceUnavailable
from steerflow.model import schema
from steerflow.nbdb.api import Operation, Put, RevisionConflict, StoreBusy
from steerflow.nbdb.memory import MemoryStore
from steerflow.nbdb.txn import MAX_ATTEMPTS, Snapshot, transact


class RacedStore(MemoryStore):
    """Another writer always commits first: every expected revision is stale."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def commit(self, ops: Sequence[Operation], expected_revision: int | None = None) -> int:
        if expected_revision is None:
            return super().commit(ops)
        self.attempts += 1
        raise RevisionConflict(expected_revision, expected_revision + 1)


def test_transact_gives_up_with_store_busy_after_max_attempts() -> None:
    store = RacedStore()

    def plan(snap: Snapshot) -> tuple[list[Operation], None]:
        return [Put("widget", "w1", {"id": "w1"})], None

    with pytest.raises(StoreBusy):
        transact(store, plan)
    assert store.attempts == MAX_ATTEMPTS
    assert store.revision() == 0  # nothing written


def test_the_api_reports_a_busy_store_as_503() -> None:
    store = RacedStore()
    networks = next(h for h in core_handlers(store) if h.resource == schema.NETWORK)
    with pytest.raises(ServiceUnavailable) as err:
        networks.create(Context.admin(), {"name": "n"})
    assert err.value.status == 503
    assert "too busy" in str(err.value)
