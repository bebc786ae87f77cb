"""Applied-revision reports and waits: status-only revisions never hold a waiter back."""

from steerflow.agent.chassis import register_chassis
from steerflow.model import schema
from steerflow.nbdb import Put
from steerflow.nbdb.counters import report_counters
from steerflow.nbdb.memory import MemoryStore
from steerflow.nbdb.status import heartbeat, report_applied, wait_applied


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
    """Every status kind (reports, an older agent's heartbeat in its report, per-hop counters) is quiet
    for waits, not only reports; today's heartbeats are no revision at all."""
    store = _two_chassis()
    change = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    report_applied(store, "ch1", change)
    report_applied(store, "ch2", change)
    report_counters(store, "ch1", {"hops": {"g1": [5, 500]}})
    report = store.get(schema.CHASSIS_STATUS, "ch2")
    assert report is not None
    store.commit([Put(schema.CHASSIS_STATUS, "ch2", {**report.value, "heartbeat_at": 1.0})])
    before = store.revision()
    heartbeat(store, "ch2")
    assert store.revision() == before > change + 2
    assert wait_applied(store, store.revision(), timeout=0).done


def test_reports_never_go_back() -> None:
    store = _two_chassis()
    report_applied(store, "ch1", 7)
    before = store.revision()
    report_applied(store, "ch1", 5)
    assert store.revision() == before
    rec = store.get(schema.CHASSIS_STATUS, "ch1")
    assert rec is not None and rec.value["applied_revision"] == 7
