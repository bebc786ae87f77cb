"""`?wait`: a write answers once every chassis has applied it, and says who lags when one has not."""

import threading
import time

import httpx

from steerflow.agent.chassis import beat, register_chassis
from steerflow.model import schema
from steerflow.nbdb.status import heartbeat, report_applied
from tests.builders.api_server import ApiServer


def test_wait_reports_lagging_chassis_then_applied(api_server: ApiServer) -> None:
    store = api_server.store
    beat(store, "ch1", "198.51.100.11")  # registers and heartbeats, as a starting agent does
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        r = http.post("/v2.0/networks?wait=0.5", json={schema.NETWORK: {"name": "n1"}})
        assert r.status_code == 201
        assert (r.headers["X-Steerflow-Applied"], r.headers["X-Steerflow-Lagging"]) == ("false", "ch1")

        # the chassis catches up while the next request waits
        timer = threading.Timer(0.3, lambda: report_applied(store, "ch1", store.revision() + 1))
        timer.start()
        r = http.post("/v2.0/networks?wait=10", json={schema.NETWORK: {"name": "n2"}})
        timer.join()
        assert r.status_code == 201 and r.headers["X-Steerflow-Applied"] == "true"
        assert int(r.headers["X-Steerflow-Revision"]) <= store.revision()


def test_a_bad_wait_value_is_a_400_and_writes_nothing(api_server: ApiServer) -> None:
    before = api_server.store.revision()
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        r = http.post("/v2.0/networks?wait=soon", json={schema.NETWORK: {"name": "n"}})
    assert r.status_code == 400 and r.json()["NeutronError"]["type"] == "HTTPBadRequest"
    assert api_server.store.revision() == before


def test_without_wait_there_are_no_wait_headers(api_server: ApiServer) -> None:
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        r = http.post("/v2.0/networks", json={schema.NETWORK: {"name": "n"}})
    assert r.status_code == 201 and "X-Steerflow-Applied" not in r.headers


def test_wait_skips_a_chassis_down_and_names_it(api_server: ApiServer) -> None:
    store = api_server.store
    beat(store, "ch1", "198.51.100.11")
    register_chassis(store, "ch2", "198.51.100.12")
    heartbeat(store, "ch2", now=time.time() - 3600)  # its agent died an hour ago
    report_applied(store, "ch1", store.revision() + 2)  # this report, then the write: applied already
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        started = time.monotonic()
        r = http.post("/v2.0/networks?wait=10", json={schema.NETWORK: {"name": "n1"}})
        assert r.status_code == 201
        assert time.monotonic() - started < 5  # not held for the dead chassis
        assert (r.headers["X-Steerflow-Applied"], r.headers["X-Steerflow-Skipped"]) == ("true", "ch2")
        shown = http.get("/v2.0/steerflow/chassis").json()[schema.CHASSIS]
        assert {c["id"]: c["alive"] for c in shown} == {"ch1": True, "ch2": False}
        assert [c["id"] for c in http.get("/v2.0/steerflow/chassis?alive=false").json()[schema.CHASSIS]] == [
            "ch2"
        ]
