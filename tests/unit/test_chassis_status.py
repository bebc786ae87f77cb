"""Applied-revision reports and waits: status-only revisions never hold a waiter back."""

from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError

from steerflow.agent.chassis import register_chassis
from steerflow.model import schema
from steerflow.nbdb import Delete, Put
from steerflow.nbdb.counters import report_counters
from steerflow.nbdb.memory import MemoryStore
from steerflow.nbdb.status import WaitResult, heartbeat, report_applied, wait_applied


def _two_chassis() -> MemoryStore:
    store = MemoryStore()
    for name, ip in (("ch1", "198.51.100.11"), ("ch2", "198.51.100.12")):
        register_chassis(store, name, ip)
        heartbeat(store, name)  # what the agent does next: alive
    return store


def test_wait_ends_when_every_chassis_reported_the_revision() -> None:
    store = _two_chassis()
    change = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    report_applied(store, "ch1", change)
    assert wait_applied(store, change, timeout=0).lagging == ["ch2"]
    report_applied(store, "ch2", change)
    assert wait_applied(store, change, timeout=0).done


def test_revisions_that_only_carry_reports_count_as_applied() -> None:
    store = _two_chassis()
    change = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    report_applied(store, "ch1", change)
    report_applied(store, "ch2", change)
    assert store.revision() == change + 2  # the reports themselves are revisions
    assert wait_applied(store, store.revision(), timeout=0).done
    later = store.commit([Put(schema.NETWORK, "n2", {"id": "n2"})])
    store.commit([Put(schema.CHASSIS_STATUS, "other", {"id": "other", "applied_revision": 1})])
    assert wait_applied(store, store.revision(), timeout=0).lagging == ["ch1", "ch2"]
    report_applied(store, "ch1", later)
    report_applied(store, "ch2", later)
    assert wait_applied(store, store.revision(), timeout=0).done


def test_counters_and_heartbeats_never_hold_a_waiter_back() -> None:
    """Every status kind (reports, an older agent's heartbeat in its report, an older agent's per-hop
    counters document) is quiet for waits, not only reports; today's heartbeats and counters are no
    revision at all."""
    store = _two_chassis()
    change = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    report_applied(store, "ch1", change)
    report_applied(store, "ch2", change)
    store.commit([Put(schema.CHASSIS_COUNTERS, "ch1", {"id": "ch1", "hops": {"g1": [5, 500]}})])
    report = store.get(schema.CHASSIS_STATUS, "ch2")
    assert report is not None
    store.commit([Put(schema.CHASSIS_STATUS, "ch2", {**report.value, "heartbeat_at": 1.0})])
    before = store.revision()
    heartbeat(store, "ch2")
    report_counters(store, "ch1", {"hops": {"g1": [6, 600]}})
    assert store.revision() == before > change + 3
    assert wait_applied(store, store.revision(), timeout=0).done


def test_reports_never_go_back() -> None:
    store = _two_chassis()
    report_applied(store, "ch1", 7)
    before = store.revision()
    report_applied(store, "ch1", 5)
    assert store.revision() == before
    rec = store.get(schema.CHASSIS_STATUS, "ch1")
    assert rec is not None and rec.value["applied_revision"] == 7


def _waiting(store: MemoryStore, revision: int) -> Future[WaitResult]:
    pool = ThreadPoolExecutor(1)
    waiter = pool.submit(wait_applied, store, revision, 10.0)
    pool.shutdown(wait=False)
    return waiter


def _still_waiting(waiter: Future[WaitResult]) -> bool:
    try:
        waiter.result(timeout=0.2)
    except TimeoutError:
        return True
    return False


def test_a_wait_follows_the_reports_and_chassis_that_arrive_while_it_waits() -> None:
    """The waiter reads the chassis and their reports once, then keeps them from its watch: a chassis
    that starts beating during the wait is waited for, one deleted is not, reports end the wait."""
    store = _two_chassis()
    change = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    waiter = _waiting(store, change)
    report_applied(store, "ch1", change)
    register_chassis(store, "ch3", "198.51.100.13")
    heartbeat(store, "ch3")  # alive, nothing applied: lags further behind than anyone before
    report_applied(store, "ch2", change)
    assert _still_waiting(waiter)
    store.commit([Delete(schema.CHASSIS, "ch2")])
    report_applied(store, "ch3", change - 1)  # everything before the change: still lagging
    assert _still_waiting(waiter)
    report_counters(store, "ch3", {"hops": {"g1": [1, 100]}})  # status only: still lagging
    assert _still_waiting(waiter)
    report_applied(store, "ch3", change)
    result = waiter.result(timeout=5)
    assert result.done and result.applied == {"ch1": change, "ch3": change}


def test_a_wait_counts_status_only_revisions_after_a_report_while_it_waits() -> None:
    store = _two_chassis()
    change = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    report_applied(store, "ch1", change)
    waiter = _waiting(store, store.revision())  # the target is ch1's own report: status only
    assert _still_waiting(waiter)
    report_applied(store, "ch2", change)
    assert waiter.result(timeout=5).done
