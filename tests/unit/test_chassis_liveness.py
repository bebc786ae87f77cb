"""Chassis liveness: heartbeats, down chassis skipped by waits, and deleting a chassis unbinds its ports."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator

import pytest

from steerflow.agent.chassis import beat, register_chassis
from steerflow.agent.nbcache import CacheUpdate, NbCache
from steerflow.api.context import Context
from steerflow.api.core import ChassisResource
from steerflow.model import schema
from steerflow.nbdb.api import Put
from steerflow.nbdb.counters import all_reports, report_counters
from steerflow.nbdb.memory import MemoryStore
from steerflow.nbdb.status import (
    DOWN_AFTER_ENV,
    Liveness,
    chassis_liveness,
    down_after_seconds,
    heartbeat,
    liveness,
    report_applied,
    wait_applied,
)
from steerflow.rest.app import build_app
from steerflow.rest.auth import TokenFileAuth

with warnings.catch_warnings():  # starlette's TestClient nags about httpx; the client is fine
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = 1_700_000_000.0  # an explicit wall clock, long past: liveness is computed at T0 + something


def test_alive_within_the_down_after_time_and_down_after_it() -> None:
    report = {"heartbeat_at": T0}
    assert liveness(report, T0 + 9.9, down_after=10).alive
    assert liveness(report, T0 + 10, down_after=10).alive
    late = liveness(report, T0 + 10.5, down_after=10)
    assert (late.alive, late.last_seen, late.age) == (False, T0, 10.5)


def test_never_heard_from_is_down_and_a_clock_ahead_reads_as_just_now() -> None:
    assert liveness(None, T0, 10) == liveness({}, T0, 10)
    assert (liveness(None, T0, 10).alive, liveness(None, T0, 10).age) == (False, None)
    ahead = liveness({"heartbeat_at": T0 + 3}, T0, 10)  # the agent's clock runs 3 s ahead of ours
    assert (ahead.alive, ahead.age) == (True, 0.0)


def test_a_report_counts_as_a_sign_of_life() -> None:
    # reports written before heartbeats existed carry only `reported_at`
    assert liveness({"applied_revision": 4, "reported_at": T0}, T0 + 5, 10).alive
    assert liveness({"reported_at": T0, "heartbeat_at": T0 - 60}, T0 + 5, 10).last_seen == T0


def test_the_newest_of_the_beat_and_the_report_counts() -> None:
    # an older agent beat in its report (`heartbeat_at`); today's agents beat outside it (`store.beat`)
    assert liveness({"reported_at": T0 - 60}, T0 + 5, 10, beat=T0).last_seen == T0
    assert liveness({"reported_at": T0, "heartbeat_at": T0 + 1}, T0 + 5, 10, beat=T0 - 60).last_seen == T0 + 1
    assert liveness(None, T0 + 5, 10, beat=T0).alive
    assert not liveness(None, T0 + 11, 10, beat=T0).alive


def test_down_after_comes_from_the_environment_or_defaults_to_ten_seconds() -> None:
    assert down_after_seconds({}) == 10.0
    assert down_after_seconds({DOWN_AFTER_ENV: " 2.5 "}) == 2.5
    for bad in ("soon", "0", "-3"):
        with pytest.raises(ValueError, match=DOWN_AFTER_ENV):
            down_after_seconds({DOWN_AFTER_ENV: bad})


def _chassis(store: MemoryStore, name: str, at: float) -> None:
    register_chassis(store, name, "198.51.100.1")
    heartbeat(store, name, now=at)


def test_a_wait_skips_down_chassis_and_names_them() -> None:
    store, now = MemoryStore(), time.time()  # report_applied stamps this machine's clock
    _chassis(store, "ch1", now)
    _chassis(store, "ch2", now - 30)  # silent for 30 s
    change = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    result = wait_applied(store, change, timeout=0, down_after=10, clock=lambda: now)
    assert (result.lagging, result.skipped, result.done) == (["ch1"], ("ch2",), False)
    report_applied(store, "ch1", change)
    result = wait_applied(store, change, timeout=0, down_after=10, clock=lambda: now)
    assert (result.done, dict(result.applied), result.skipped) == (True, {"ch1": change}, ("ch2",))
    # the same chassis counts again once it beats
    heartbeat(store, "ch2", now=now)
    result = wait_applied(store, change, timeout=0, down_after=10, clock=lambda: now)
    assert (result.lagging, result.skipped) == (["ch2"], ())
    # and nobody is skipped 30 s earlier, when both were alive
    assert wait_applied(store, change, timeout=0, down_after=10, clock=lambda: now - 30).skipped == ()


def test_a_wait_notices_a_chassis_going_silent_without_any_commit() -> None:
    store, now = MemoryStore(), time.time()
    _chassis(store, "ch1", now)
    _chassis(store, "ch2", now - 9.2)  # its agent's last beat: down 0.8 s into the wait
    change = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    report_applied(store, "ch1", change)
    started = time.monotonic()
    result = wait_applied(store, change, timeout=10, down_after=10)
    # nothing was committed while it waited (a beat is none): it re-read liveness on its own
    assert (result.done, result.skipped) == (True, ("ch2",))
    assert 0.7 < time.monotonic() - started < 3


def test_a_wait_over_only_down_chassis_ends_at_once() -> None:
    store = MemoryStore()
    _chassis(store, "ch1", T0 - 60)
    result = wait_applied(store, store.revision(), timeout=5, down_after=10, clock=lambda: T0)
    assert (result.done, result.skipped) == (True, ("ch1",))


def test_a_heartbeat_is_no_commit_and_leaves_the_report_alone() -> None:
    store = MemoryStore()
    register_chassis(store, "ch1", "198.51.100.1")
    report_applied(store, "ch1", 7, installed=9)
    before = store.revision()
    report = store.get(schema.CHASSIS_STATUS, "ch1")
    at = time.time() + 60  # a beat newer than the report (stamped with this clock)
    heartbeat(store, "ch1", now=at)
    assert (store.revision(), store.get(schema.CHASSIS_STATUS, "ch1")) == (before, report)
    assert store.beats() == {"ch1": at}
    assert chassis_liveness(store, down_after=10, now=at + 5)["ch1"] == Liveness(True, at, 5.0)
    assert not chassis_liveness(store, down_after=10, now=at + 11)["ch1"].alive


def test_no_heartbeat_reaches_the_cache_and_an_older_agent_s_wakes_no_compile() -> None:
    store = MemoryStore()
    register_chassis(store, "ch1", "198.51.100.1")
    report_applied(store, "ch1", 1)
    updates: list[CacheUpdate] = []
    cache = NbCache(store, updates.append)
    cache.load()
    cache.start()
    try:
        heartbeat(store, "ch1", now=T0 + 3)
        report = store.get(schema.CHASSIS_STATUS, "ch1")
        assert report is not None
        # an older agent beat by rewriting its report: only `heartbeat_at` moved
        store.commit([Put(schema.CHASSIS_STATUS, "ch1", {**report.value, "heartbeat_at": T0 + 6})])
        _settle(cache, store)
        report_applied(store, "ch1", 5)
        _settle(cache, store)
    finally:
        cache.stop()
    assert [(u.relevant, u.status) for u in updates] == [(False, False), (False, True)]


def _settle(cache: NbCache, store: MemoryStore) -> None:
    deadline = time.monotonic() + 5
    while cache.revision < store.revision() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.revision == store.revision()


def test_beat_registers_again_a_chassis_deleted_while_its_agent_runs() -> None:
    store = MemoryStore()
    beat(store, "ch1", "198.51.100.1")
    ChassisResource(store).delete(Context.admin(), "ch1")
    assert store.get(schema.CHASSIS, "ch1") is None
    beat(store, "ch1", "198.51.100.1")
    assert ChassisResource(store).get(Context.admin(), "ch1")["alive"]


# --- the REST resource ---------------------------------------------------------------------------------

ADMIN, MEMBER = {"X-Auth-Token": "adm"}, {"X-Auth-Token": "alice"}
CHASSIS_URL = "/v2.0/steerflow/chassis"


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    for name in ("ch1", "ch2"):
        register_chassis(store, name, "198.51.100.1")
        heartbeat(store, name)
    ports = {"p1": "ch1", "p2": "ch2", "p3": "ch1"}
    for port_id, chassis in ports.items():
        store.commit(
            [
                Put(schema.PORT, port_id, {"id": port_id, "project_id": "p1", "status": "ACTIVE"}),
                Put(
                    schema.PORT_BINDING, port_id, {"id": port_id, "port_id": port_id, schema.CHASSIS: chassis}
                ),
            ]
        )
    return store


@pytest.fixture
def client(store: MemoryStore) -> Iterator[TestClient]:
    auth = TokenFileAuth({"adm": Context.admin(), "alice": Context(project_id="p1")})
    with TestClient(build_app(store, auth)) as c:
        yield c


def test_the_chassis_list_says_which_are_alive(store: MemoryStore, client: TestClient) -> None:
    heartbeat(store, "ch2", now=T0)  # long ago
    listed = {c["id"]: c for c in client.get(CHASSIS_URL, headers=ADMIN).json()[schema.CHASSIS]}
    assert (listed["ch1"]["alive"], listed["ch2"]["alive"]) == (True, False)
    assert listed["ch2"]["last_seen"] == "2023-11-14T22:13:20+00:00"
    assert listed["ch1"]["heartbeat_age"] < 5
    down = client.get(CHASSIS_URL, params={"alive": "false"}, headers=ADMIN).json()[schema.CHASSIS]
    assert [c["id"] for c in down] == ["ch2"]
    assert client.get(CHASSIS_URL, params={"alive": "maybe"}, headers=ADMIN).status_code == 400


def test_deleting_a_chassis_unbinds_its_ports(store: MemoryStore, client: TestClient) -> None:
    r = client.delete(f"{CHASSIS_URL}/ch1", headers=ADMIN)
    assert r.status_code == 204
    assert store.get(schema.CHASSIS, "ch1") is None
    assert store.get(schema.CHASSIS_STATUS, "ch1") is None
    assert sorted(r.id for r in store.list(schema.PORT_BINDING)) == ["p2"]
    status = {p: store.get(schema.PORT, p).value["status"] for p in ("p1", "p2", "p3")}  # type: ignore[union-attr]
    assert status == {"p1": "DOWN", "p2": "ACTIVE", "p3": "DOWN"}
    assert client.get(f"{CHASSIS_URL}/ch1", headers=ADMIN).status_code == 404
    assert client.delete(f"{CHASSIS_URL}/ch1", headers=ADMIN).status_code == 404


def test_deleting_a_chassis_drops_its_counters_and_an_older_agents_document(
    store: MemoryStore, client: TestClient
) -> None:
    report_counters(store, "ch1", {"hops": {"g1": [5, 500]}})
    report_counters(store, "ch2", {"hops": {"g1": [7, 700]}})
    store.commit([Put(schema.CHASSIS_COUNTERS, "ch1", {"id": "ch1", schema.CHASSIS: "ch1"})])
    assert client.delete(f"{CHASSIS_URL}/ch1", headers=ADMIN).status_code == 204
    assert [r[schema.CHASSIS] for r in all_reports(store)] == ["ch2"]
    assert store.get(schema.CHASSIS_COUNTERS, "ch1") is None


def test_only_an_admin_deletes_a_chassis(store: MemoryStore, client: TestClient) -> None:
    before = store.revision()
    r = client.delete(f"{CHASSIS_URL}/ch1", headers=MEMBER)
    # as neutron-server does for a resource the caller may not see: it does not exist for them
    assert (r.status_code, r.json()["NeutronError"]["type"]) == (404, "ChassisNotFound")
    assert store.revision() == before


def test_chassis_are_not_created_or_updated_over_rest(client: TestClient) -> None:
    post = client.post(CHASSIS_URL, json={schema.CHASSIS: {"name": "x"}}, headers=ADMIN)
    put = client.put(f"{CHASSIS_URL}/ch1", json={schema.CHASSIS: {"name": "x"}}, headers=ADMIN)
    assert (post.status_code, put.status_code) == (405, 405)
    assert {m.strip() for m in put.headers["allow"].split(",")} == {"GET", "HEAD", "DELETE"}


def test_wait_headers_name_the_skipped_chassis(store: MemoryStore, client: TestClient) -> None:
    heartbeat(store, "ch2", now=T0)  # long ago: down
    report_applied(store, "ch1", store.revision() + 2)  # this report, then the write below
    r = client.post("/v2.0/networks?wait=5", json={schema.NETWORK: {"name": "n"}}, headers=ADMIN)
    assert r.status_code == 201
    assert (r.headers["X-Steerflow-Applied"], r.headers["X-Steerflow-Skipped"]) == ("true", "ch2")


def test_the_openapi_document_lists_the_chassis_delete_and_liveness(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    member, collection = doc["paths"][f"{CHASSIS_URL}/{{id}}"], doc["paths"][CHASSIS_URL]
    methods = sorted(k for k in member if k != "parameters")
    assert (methods, sorted(collection)) == (["delete", "get"], ["get"])
    assert "X-Steerflow-Skipped" in member["delete"]["responses"]["204"]["headers"]
    props = doc["components"]["schemas"]["Chassis"]["properties"]
    assert (props["alive"]["type"], props["heartbeat_age"]["type"]) == ("boolean", ["number", "null"])
    assert "alive" in {p["name"] for p in collection["get"]["parameters"]}
