"""The side maps (`put_side`, `side`; beats: `beat`, `beats`), run against every driver: readable,
outside the revisions and the watch, and as durable as the driver."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest

from steerflow.model import schema
from steerflow.nbdb import Event, NorthboundStore, Put, WatchBatch, open_store
from steerflow.nbdb.api import JsonDict
from steerflow.nbdb.embedded import EmbeddedStore
from tests.builders.servers import EtcdServer, Server, wait_until
from tests.builders.stores import BlockedWatch, Driver, Follower

T0 = 1_700_000_000.25  # an epoch time with a fraction: beats keep sub-second precision


def test_a_beat_is_read_back_and_the_next_one_replaces_it(driver: Driver, store: NorthboundStore) -> None:
    assert store.beats() == {}
    store.beat("ch1", T0)
    store.beat("ch2", T0 + 1)
    store.beat("ch1", T0 + 3)
    assert store.beats() == {"ch1": T0 + 3, "ch2": T0 + 1}
    assert driver.open().beats() == {"ch1": T0 + 3, "ch2": T0 + 1}  # another handle sees them


def test_a_beat_moves_no_revision_and_is_no_object(store: NorthboundStore) -> None:
    revision = store.commit([Put(schema.CHASSIS, "ch1", {"id": "ch1"})])
    store.beat("ch1", T0)
    assert store.revision() == revision
    assert store.snapshot() == (revision, store.list(schema.CHASSIS))
    assert store.watch(revision, timeout=0) == WatchBatch(revision=revision)


def test_a_blocked_watch_sleeps_through_beats_and_wakes_on_the_next_commit(
    driver: Driver, store: NorthboundStore
) -> None:
    beater = driver.open()
    base = store.commit([Put(schema.PORT, "a", {})])
    watcher = BlockedWatch(store, base, timeout=0.6)
    for n in range(5):
        beater.beat(f"ch{n}", T0 + n)
        time.sleep(0.02)  # beats spread over the watch, not synchronisation
    batch, elapsed = watcher.result()
    assert batch == WatchBatch(revision=base) and elapsed >= 0.5
    follower = Follower(store)
    follower.revision = base  # it follows from here on, as an agent that loaded the store does
    with follower:
        for n in range(5):
            beater.beat("ch1", T0 + 10 + n)
        revision = beater.commit([Put(schema.PORT, "b", {"v": 1})])
        wait_until(lambda: follower.revision >= revision, what="the commit after the beats")
    assert follower.seen == [Event(revision, schema.PORT, "b", {"v": 1})]


def test_beats_survive_reopening_the_store(driver: Driver, store: NorthboundStore) -> None:
    store.beat("ch1", T0)
    store.close()
    assert driver.open().beats() == {"ch1": T0}


def _counters(packets: int) -> JsonDict:
    """A counters report as an agent writes it (`nbdb.counters`), keys and nesting included."""
    return {"id": "ch1", schema.CHASSIS: "ch1", "reported_at": T0, "hops": {"g1": [packets, packets * 64]}}


def test_a_side_entry_is_read_back_replaced_and_dropped(driver: Driver, store: NorthboundStore) -> None:
    assert store.side(schema.CHASSIS_COUNTERS) == {}
    store.put_side(schema.CHASSIS_COUNTERS, "ch1", _counters(1))
    store.put_side(schema.CHASSIS_COUNTERS, "ch2", _counters(2))
    store.put_side(schema.CHASSIS_COUNTERS, "ch1", _counters(3))
    store.beat("ch1", T0)
    expected = {"ch1": _counters(3), "ch2": _counters(2)}
    assert store.side(schema.CHASSIS_COUNTERS) == expected
    assert driver.open().side(schema.CHASSIS_COUNTERS) == expected  # another handle sees them
    assert store.beats() == {"ch1": T0}  # each side map apart
    store.put_side(schema.CHASSIS_COUNTERS, "ch2", None)
    store.put_side(schema.CHASSIS_COUNTERS, "gone", None)  # dropping what is not there: nothing to do
    assert store.side(schema.CHASSIS_COUNTERS) == {"ch1": _counters(3)}
    assert store.side(schema.BEATS) == {"ch1": T0}


def test_a_side_entry_moves_no_revision_and_wakes_no_watcher(driver: Driver, store: NorthboundStore) -> None:
    base = store.commit([Put(schema.CHASSIS, "ch1", {"id": "ch1"})])
    writer = driver.open()
    watcher = BlockedWatch(store, base, timeout=0.6)
    for n in range(5):
        writer.put_side(schema.CHASSIS_COUNTERS, "ch1", _counters(n))
        time.sleep(0.02)  # writes spread over the watch, not synchronisation
    batch, elapsed = watcher.result()
    assert batch == WatchBatch(revision=base) and elapsed >= 0.5
    assert store.revision() == base
    assert store.snapshot() == (base, store.list(schema.CHASSIS))
    assert store.list(schema.CHASSIS_COUNTERS) == []
    revision = writer.commit([Put(schema.PORT, "b", {"v": 1})])
    after = store.watch(base, timeout=0)
    assert after == WatchBatch(revision, events=[Event(revision, schema.PORT, "b", {"v": 1})])


def test_side_entries_survive_reopening_the_store(driver: Driver, store: NorthboundStore) -> None:
    store.put_side(schema.CHASSIS_COUNTERS, "ch1", _counters(7))
    store.close()
    assert driver.open().side(schema.CHASSIS_COUNTERS) == {"ch1": _counters(7)}


def test_beats_survive_a_server_restart(restartable: tuple[Driver, Server]) -> None:
    driver, server = restartable
    driver.open().beat("ch1", T0)
    driver.open().put_side(schema.CHASSIS_COUNTERS, "ch1", _counters(7))
    server.restart()  # a SIGKILL, then up and answering again
    assert driver.open().beats() == {"ch1": T0}
    assert driver.open().side(schema.CHASSIS_COUNTERS) == {"ch1": _counters(7)}


@pytest.mark.server
def test_etcd_writes_a_beat_on_a_new_lease_once_its_lease_is_gone(own_etcd: Server) -> None:
    """A lease that expired (here: revoked) took its beat with it; the next beat takes a new lease."""
    assert isinstance(own_etcd, EtcdServer)
    etcd_server = own_etcd
    store = open_store(f"etcd://{etcd_server.endpoint}/t{uuid.uuid4().hex[:12]}")
    try:
        store.beat("ch1", T0)
        gateway = f"http://{etcd_server.endpoint}/v3/lease"
        leases = httpx.post(f"{gateway}/leases", json={}, timeout=5).json().get("leases", [])
        assert leases, "a beat on etcd lives on a lease"
        for lease in leases:
            httpx.post(f"{gateway}/revoke", json={"ID": lease["ID"]}, timeout=5).raise_for_status()
        assert store.beats() == {}
        store.beat("ch1", T0 + 3)
        assert store.beats() == {"ch1": T0 + 3}
    finally:
        store.close()


def test_an_embedded_file_from_before_side_maps_gets_its_table_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "nb.db"
    store = EmbeddedStore(path)
    revision = store.commit([Put(schema.CHASSIS, "ch1", {"id": "ch1"})])
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE side")  # the file as an older steerflow left it
    conn.commit()
    conn.close()
    reopened = EmbeddedStore(path)
    try:
        reopened.beat("ch1", T0)
        assert (reopened.beats(), reopened.revision()) == ({"ch1": T0}, revision)
    finally:
        reopened.close()
