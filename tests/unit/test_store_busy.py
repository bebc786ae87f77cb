"""A store that loses every race: the store layer gives up with StoreBusy, the API answers Neutron's 503."""

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from steerflow.api.context import Context
from steerflow.api.core import core_handlers
from steerflow.api.errors import ServiceUnavailable
from steerflow.model import schema
from steerflow.nbdb import txn
from steerflow.nbdb.api import Operation, Put, RevisionConflict, StoreBusy
from steerflow.nbdb.memory import MemoryStore
from steerflow.nbdb.status import STATUS_KINDS
from steerflow.nbdb.txn import MIN_ATTEMPTS, Snapshot, transact


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


@pytest.fixture
def short_budget(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(txn, "BUSY_AFTER", 0.3)
    return 0.3


def test_transact_gives_up_with_store_busy_after_its_time_budget(short_budget: float) -> None:
    store = RacedStore()

    def plan(snap: Snapshot) -> tuple[list[Operation], None]:
        return [Put("widget", "w1", {"id": "w1"})], None

    started = time.monotonic()
    with pytest.raises(StoreBusy):
        transact(store, plan)
    assert short_budget <= time.monotonic() - started < short_budget + 2
    assert store.attempts >= MIN_ATTEMPTS
    assert store.revision() == 0  # nothing written


def test_a_transaction_queued_behind_a_stuck_one_gives_up_and_the_queue_goes_on(
    short_budget: float,
) -> None:
    store = MemoryStore()
    stuck, release = threading.Event(), threading.Event()

    def slow(snap: Snapshot) -> tuple[list[Operation], str]:
        stuck.set()
        release.wait(10)  # a store call that hangs, as in an outage
        return [Put("widget", "slow", {})], "slow"

    def quick(snap: Snapshot) -> tuple[list[Operation], str]:
        return [Put("widget", "quick", {})], "quick"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(transact(store, slow)))
    first.start()
    assert stuck.wait(5)
    started = time.monotonic()
    with pytest.raises(StoreBusy, match="no turn"):
        transact(store, quick)
    assert short_budget <= time.monotonic() - started < short_budget + 2
    release.set()
    first.join(10)
    assert results == ["slow"] and transact(store, quick) == "quick"  # the turn was handed on
    assert {r.id for r in store.list("widget")} == {"slow", "quick"}


def test_the_api_reports_a_busy_store_as_503(short_budget: float) -> None:
    store = RacedStore()
    networks = next(h for h in core_handlers(store) if h.resource == schema.NETWORK)
    with pytest.raises(ServiceUnavailable) as err:
        networks.create(Context.admin(), {"name": "n"})
    assert err.value.status == 503
    assert "too busy" in str(err.value)


class StatusWriterStore(MemoryStore):
    """Before each compare commit, another writer commits `writes` of `kind` first (a chassis beating)."""

    def __init__(self, kind: str, writes: int) -> None:
        super().__init__()
        self.kind, self.writes, self.plans = kind, writes, 0

    def commit(self, ops: Sequence[Operation], expected_revision: int | None = None) -> int:
        if expected_revision is not None and self.writes:
            self.writes -= 1
            super().commit([Put(self.kind, "ch1", {"id": "ch1", "beat": self.writes})])
        return super().commit(ops, expected_revision)


def _counted(store: StatusWriterStore) -> Callable[[Snapshot], tuple[list[Operation], None]]:
    def plan(snap: Snapshot) -> tuple[list[Operation], None]:
        store.plans += 1
        return [Put("widget", "w1", {"id": "w1", "seen": snap.revision})], None

    return plan


def test_writes_of_unread_kinds_in_between_do_not_make_the_plan_run_again() -> None:
    store = StatusWriterStore(schema.CHASSIS_STATUS, writes=3)
    transact(store, _counted(store), unread=STATUS_KINDS)
    assert store.plans == 1
    assert store.get("widget", "w1") is not None and store.get(schema.CHASSIS_STATUS, "ch1") is not None


def test_writes_of_a_kind_the_plan_may_read_make_it_plan_again() -> None:
    store = StatusWriterStore(schema.PORT, writes=2)
    transact(store, _counted(store), unread=STATUS_KINDS)
    assert store.plans == 3
    rec = store.get("widget", "w1")
    assert rec is not None and rec.value["seen"] == 2  # planned on the snapshot holding both writes


def test_a_bulk_create_commits_through_the_chassis_heartbeats() -> None:
    store = StatusWriterStore(schema.CHASSIS_STATUS, writes=0)
    h = {r.resource: r for r in core_handlers(store)}
    net = h[schema.NETWORK].create(Context.admin(), {"name": "n"})["id"]
    store.writes = MIN_ATTEMPTS + 5  # more beats than a re-planning transaction would survive
    made = h[schema.PORT].create_bulk(Context.admin(), [{"network_id": net}] * 3)  # type: ignore[attr-defined]
    assert len(made) == 3 and len(store.list(schema.PORT)) == 3
