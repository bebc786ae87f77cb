"""Transactions of one API server are served in turn: a slow bulk write is not starved by quick ones."""

from __future__ import annotations

import threading
import time

from steerflow.model import schema
from steerflow.nbdb import NorthboundStore
from steerflow.nbdb.api import Operation, Put, StoreBusy
from steerflow.nbdb.txn import Snapshot, transact
from tests.builders.stores import Driver

QUICK_WRITERS = 4
BULK = 100
BULK_PLAN_SECONDS = 0.03  # a bulk create of 1,000 ports plans for about that long
WINDOW = 20.0  # the quick writers keep writing until the bulk is done, at most this long


def _quick_writer(store: NorthboundStore, name: str, done: threading.Event, made: list[int]) -> None:
    """Create ports one by one, each planned on the ports there are (as a port create reads them)."""
    count = 0
    deadline = time.monotonic() + WINDOW
    while not done.is_set() and time.monotonic() < deadline:

        def plan(snap: Snapshot, n: int = count) -> tuple[list[Operation], None]:
            taken = len(snap.of(schema.PORT))
            return [Put(schema.PORT, f"{name}-{n}", {"seen": taken})], None

        transact(store, plan)
        count += 1
    made.append(count)


def _bulk_plan(snap: Snapshot) -> tuple[list[Operation], int]:
    time.sleep(BULK_PLAN_SECONDS)  # validating a thousand ports against the snapshot
    return [Put(schema.PORT, f"bulk-{i}", {"seen": len(snap.of(schema.PORT))}) for i in range(BULK)], BULK


def test_a_slow_bulk_write_commits_amid_quick_writers(driver: Driver) -> None:
    store = driver.open()
    done = threading.Event()
    made: list[int] = []
    writers = [
        threading.Thread(target=_quick_writer, args=(store, f"q{i}", done, made))
        for i in range(QUICK_WRITERS)
    ]
    for writer in writers:
        writer.start()
    try:
        time.sleep(0.2)  # the quick writers are going
        started = time.monotonic()
        try:
            assert transact(store, _bulk_plan) == BULK
        except StoreBusy as exc:
            raise AssertionError(f"the bulk write starved: {exc}") from exc
        took = time.monotonic() - started
    finally:
        done.set()
        for writer in writers:
            writer.join(timeout=WINDOW + 10)
    assert len(made) == QUICK_WRITERS and all(count > 0 for count in made), made
    ports = {r.id for r in store.list(schema.PORT)}
    assert {f"bulk-{i}" for i in range(BULK)} <= ports
    assert len(ports) == BULK + sum(made)
    # served in turn: a handful of quick writes ahead of it, not a budget of lost races
    assert took < 5.0, took
