"""The web view's server side: the topology a caller may see, live traffic rates from the agents' counters
reports, the live state filtered per project, the /ui page (or its 503 when not built) and the trace route."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from steerflow.api.context import Context
from steerflow.api.topology import live_state, topology, visible_ids, visible_live
from steerflow.api.traffic import TrafficRates
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore, Put
from steerflow.nbdb.counters import report_counters
from steerflow.nbdb.health import report_health
from steerflow.nbdb.status import heartbeat
from steerflow.rest import ui
from steerflow.rest.app import build_app
from steerflow.rest.auth import NoAuth
from tests.builders.sfc_world import ADMIN, ALICE, BOB, NSH, World

with warnings.catch_warnings():  # starlette's TestClient nags about httpx; the client is fine
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CHECKED = {"health_check": {"type": "datapath"}, "fail_mode": "open"}


@pytest.fixture
def w() -> World:
    return World()


def _register(w: World, chassis: str, alive: bool = True) -> None:
    doc = {"id": chassis, "name": chassis, "underlay_ip": "192.0.2.1"}
    w.store.commit([Put(schema.CHASSIS, chassis, doc)])
    if alive:
        heartbeat(w.store, chassis)


def _bind(w: World, port: str, chassis: str) -> None:
    w.store.commit([Put(schema.PORT_BINDING, port, {"id": port, schema.CHASSIS: chassis, "ofport": 7})])


def test_a_member_sees_only_their_projects_chains_and_no_chassis(w: World) -> None:
    mine = w.chain(ALICE)
    w.chain(BOB)
    _register(w, "ch1")
    seen = topology(w.store, ALICE)["topology"]
    assert [c["id"] for c in seen["port_chains"]] == [mine["id"]]
    assert seen[schema.CHASSIS] == []
    assert {p["id"] for p in seen["port_pairs"]} == {
        p for g in seen["port_pair_groups"] for p in g["port_pairs"]
    }
    everything = topology(w.store, ADMIN)["topology"]
    assert len(everything["port_chains"]) == 2
    assert everything[schema.CHASSIS] == [
        {"name": "ch1", "alive": True, "heartbeat_age": everything[schema.CHASSIS][0]["heartbeat_age"],
         "underlay_ip": "192.0.2.1"}
    ]  # fmt: skip


def test_instances_carry_chassis_weight_and_health_and_a_failed_open_group_is_bypassed(w: World) -> None:
    pair = w.pair(ALICE, {"correlation": "mpls", "weight": 3})
    group = w.group(ALICE, [pair["id"]], port_pair_group_parameters=CHECKED)
    w.chain(ALICE, [group["id"]])
    _register(w, "ch2")
    _bind(w, pair["ingress"], "ch2")
    (shown,) = topology(w.store, ADMIN)["topology"]["port_pairs"]
    assert (shown[schema.CHASSIS], shown["weight"], shown["healthy"]) == ("ch2", 3, True)
    report_health(w.store, pair["id"], "ch2", False)
    picture = topology(w.store, ADMIN)["topology"]
    assert picture["port_pairs"][0]["healthy"] is False
    (hop,) = picture["port_pair_groups"]
    assert (hop["bypassed"], hop["dropping"]) == (True, False)
    (port,) = [p for p in picture["ports"] if p["id"] == pair["ingress"]]
    assert (port["role"], port[schema.CHASSIS]) == ("function", "ch2")


def test_the_header_is_the_hops_mpls_label_or_nsh_spi_and_si(w: World) -> None:
    mpls = w.chain(ALICE, [w.group()["id"], w.group()["id"]])
    nsh_groups = [w.group(ALICE, [w.pair(ALICE, NSH)["id"]])["id"] for _ in range(2)]
    nsh = w.chain(ALICE, nsh_groups, chain_parameters=NSH)
    chains = {c["id"]: c for c in topology(w.store, ALICE)["topology"]["port_chains"]}
    assert [h.split()[0] for h in chains[mpls["id"]]["headers"]] == ["label", "label"]
    spi = nsh["chain_id"]
    assert chains[nsh["id"]]["headers"] == [f"SPI {spi} SI 255", f"SPI {spi} SI 254"]


def _report(chassis: str, at: float, packets: int, oid: str = "fc") -> JsonDict:
    return {schema.CHASSIS: chassis, "reported_at": at, "classifiers": {oid: [packets, packets * 100]}}


def test_rates_are_the_difference_of_a_chassis_last_two_reports_over_their_time() -> None:
    rates = TrafficRates(stale_after=2.5)
    assert rates.update([_report("ch1", 10.0, 100)], ["ch1"], 10.2)["classifiers"] == {}
    moved = rates.update([_report("ch1", 12.0, 300), _report("ch2", 12.0, 50)], ["ch1", "ch2"], 12.1)
    assert moved["classifiers"] == {"fc": [100.0, 10000.0]}  # ch2's first report has no rate yet
    assert rates.update([_report("ch1", 12.0, 300)], ["ch1"], 14.0)["classifiers"] == {"fc": [100.0, 10000.0]}
    # nothing reported for longer than stale_after: nothing moved (agents write only when counters move)
    assert rates.update([_report("ch1", 12.0, 300)], ["ch1"], 14.6)["classifiers"] == {}


def test_a_counter_restart_is_no_negative_rate_and_a_dead_chassis_counts_nothing() -> None:
    rates = TrafficRates()
    rates.update([_report("ch1", 1.0, 500)], ["ch1"], 1.0)
    assert rates.update([_report("ch1", 2.0, 20)], ["ch1"], 2.0)["classifiers"] == {}
    rates.update([_report("ch1", 3.0, 120)], ["ch1"], 3.0)
    assert rates.update([_report("ch1", 3.0, 120)], [], 3.0)["classifiers"] == {}


def test_the_live_state_is_filtered_to_what_a_member_may_see(w: World) -> None:
    mine, theirs = w.classifier(ALICE), w.classifier(BOB)
    w.chain(ALICE, fcs=[mine["id"]])
    w.chain(BOB, fcs=[theirs["id"]])
    _register(w, "ch1")
    traffic = TrafficRates()
    report_counters(w.store, "ch1", {"classifiers": {mine["id"]: [1, 64], theirs["id"]: [1, 64]}})
    state = live_state(w.store, traffic, now=0.0)
    assert state[schema.CHASSIS] == {"ch1": True}
    assert set(state["totals"]["classifiers"]) == {mine["id"], theirs["id"]}
    alice = visible_live(state, visible_ids(topology(w.store, ALICE)))
    assert (alice[schema.CHASSIS], set(alice["totals"]["classifiers"])) == ({}, {mine["id"]})
    assert visible_live(state, None) == state


@dataclass
class _FakeDist:
    files: dict[str, bytes]

    def __call__(self) -> dict[str, bytes]:
        return self.files


@pytest.fixture
def client(w: World) -> Iterator[TestClient]:
    with TestClient(build_app(w.store, NoAuth(), [w.fc, w.pc, w.ppg, w.pp])) as c:
        yield c


def test_ui_without_a_built_page_is_a_503_saying_how_to_build_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui, "dist_files", _FakeDist({}))
    ui._cached_dist.cache_clear()
    reply = client.get("/ui/")
    assert reply.status_code == 503
    assert "npm ci &amp;&amp; npm run build" in reply.text
    assert reply.headers["content-type"].startswith("text/html")
    assert client.get("/ui/app.js").status_code == 503


def test_ui_serves_the_built_files_only(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui, "dist_files", _FakeDist({"index.html": b"<html>", "app.js": b"1"}))
    ui._cached_dist.cache_clear()
    try:
        moved = client.get("/ui", follow_redirects=False)
        assert (moved.status_code, moved.headers["location"]) == (308, "/ui/")
        page = client.get("/ui/")
        assert (page.status_code, page.text, page.headers["cache-control"]) == (200, "<html>", "no-cache")
        assert client.get("/ui/app.js").headers["content-type"].startswith("text/javascript")
        missing = client.get("/ui/secret.py")
        assert (missing.status_code, missing.json()["NeutronError"]["type"]) == (404, "HTTPNotFound")
        assert client.get("/ui/..%2Fapp.py").status_code == 404
    finally:
        ui._cached_dist.cache_clear()


def test_the_topology_route_answers_the_callers_view(w: World, client: TestClient) -> None:
    chain = w.chain(Context.admin())
    body = client.get(ui.TOPOLOGY_URL).json()["topology"]
    assert [c["id"] for c in body["port_chains"]] == [chain["id"]]


def test_the_trace_route_404s_an_unknown_chain_and_runs_the_tracer_given(w: World) -> None:
    chain = w.chain(Context.admin())
    seen: list[str] = []

    def tracer(store: NorthboundStore, found: dict[str, Any]) -> JsonDict:
        seen.append(found["id"])
        return {"summary": "crosses f1"}

    with TestClient(build_app(w.store, NoAuth(), [w.fc, w.pc, w.ppg, w.pp], tracer=tracer)) as c:
        traced = c.get(f"/v2.0/sfc/port_chains/{chain['id']}/trace").json()
        assert traced == {"trace": {"summary": "crosses f1"}}
        missing = c.get("/v2.0/sfc/port_chains/6a3f6a36-3a0f-4b6e-9d6f-1f1f1f1f1f1f/trace")
        assert (missing.status_code, missing.json()["NeutronError"]["type"]) == (404, "PortChainNotFound")
    assert seen == [chain["id"]]
    with TestClient(build_app(w.store, NoAuth(), [w.fc, w.pc, w.ppg, w.pp])) as c:
        assert c.get(f"/v2.0/sfc/port_chains/{chain['id']}/trace").json()["trace"] is None
