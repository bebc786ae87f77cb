"""steerflow-neutron's status reporter: the NB port status the agents write, handed back to Neutron."""

from __future__ import annotations

import threading

from steerflow_neutron.status import NotReady, StatusReporter

from steerflow.model import schema
from steerflow.nbdb import open_store
from steerflow.nbdb.api import Delete, Put
from tests.builders.servers import wait_until


def test_statuses_are_reported_from_the_start_and_a_report_neutron_was_not_ready_for_is_retried() -> None:
    store = open_store("memory://")
    store.commit([Put(schema.PORT, "p1", {"id": "p1", "status": "ACTIVE"}), Put(schema.PORT, "p2", {})])
    seen: list[tuple[str, str]] = []
    lock, ready = threading.Lock(), threading.Event()

    def report(port_id: str, status: str) -> None:
        if not ready.is_set():
            ready.set()
            raise NotReady()  # Neutron's plugin is still loading: nothing reported this time
        with lock:
            seen.append((port_id, status))

    reporter = StatusReporter(store, report).start()
    try:
        wait_until(lambda: seen == [("p1", "ACTIVE")], what="the initial report")  # p2 has no status yet
        store.commit([Put(schema.PORT, "p2", {"id": "p2", "status": "DOWN"})])
        wait_until(lambda: len(seen) == 2, what="p2's status")
        store.commit([Put(schema.PORT, "p3", {"id": "p3", "status": "ACTIVE"}), Delete(schema.PORT, "p3")])
        store.commit([Put(schema.NETWORK, "n1", {"id": "n1", "status": "ACTIVE"})])  # not a port
        store.commit([Put(schema.PORT, "p1", {"id": "p1", "status": "DOWN"})])
        wait_until(lambda: len(seen) == 3, what="p1's new status")
        # p3, gone by the time it was seen (or in the same commit), is not reported
        assert seen == [("p1", "ACTIVE"), ("p2", "DOWN"), ("p1", "DOWN")]
    finally:
        reporter.stop()
