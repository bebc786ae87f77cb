"""`?wait`: a write answers once every chassis has applied it, and says who lags when one has not."""

import threading

import httpx

from steerflow.agent.chassis import register_chassis
from steerflow.model import schema
from steerflow.nbdb.status import report_applied
from tests.builders.api_server import ApiServer


def test_wait_reports_lagging_chassis_then_applied(api_server: ApiServer) -> None:
    store = api_server.store
    register_chassis(store, "ch1", "198.51.100.11")
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
