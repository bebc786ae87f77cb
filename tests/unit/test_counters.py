"""Per-hop counters: which flows count what, keyed by NB object, summed over chassis, served by the API."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest
from rich.console import Console

from steerflow.agent.counters import (
    FLOWS_PER_REQUEST,
    FLOWS_PER_SECOND,
    Counting,
    by_object,
    drops,
    labelled,
    packed,
    poll_interval,
    slice_bits,
    slice_selector,
    tally,
)
from steerflow.agent.metrics import AgentMetrics, Health
from steerflow.api.sfc_statistics import chain_statistics
from steerflow.cli.chain_stats import render
from steerflow.compiler.tables import CLASSIFY, INGRESS_PORT, SFC_DELIVER, SFC_DISPATCH
from steerflow.flows.types import Output, SetField
from steerflow.model import schema
from steerflow.nbdb.api import Put
from steerflow.nbdb.counters import drop_older_document, report_counters, summed
from steerflow.nbdb.status import heartbeat
from steerflow.pipeline.cookies import CookieKind, cookie
from steerflow.rest.app import build_app
from steerflow.rest.auth import NoAuth
from steerflow.southbound.flowcodec_actions import encode_instructions
from steerflow.southbound.ofcodec import FlowEntry, flow_counts, flow_entries
from tests.builders.sfc_world import World

with warnings.catch_warnings():  # starlette's TestClient nags about httpx; the client is fine
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

CHAIN, GROUP, PAIR, FC = "chain-1", "group-1", "pair-1", "fc-1"
OBJECTS = {
    schema.PORT_CHAIN: {CHAIN: {"port_pair_groups": [GROUP], "flow_classifiers": [FC]}},
    schema.PORT_PAIR_GROUP: {GROUP: {"port_pairs": [PAIR]}},
    schema.PORT_PAIR: {PAIR: {}},
    schema.FLOW_CLASSIFIER: {FC: {}},
}


ANY = b"\x00\x01\x00\x04\x00\x00\x00\x00"  # an empty OXM match (type 1, length 4), padded to 8


def entry(table: int, ck: int, packets: int, nbytes: int, instructions: bytes = b"") -> FlowEntry:
    return FlowEntry(table, 100, ck, 0, 0, 0, packets, nbytes, ANY, instructions)


def body(*entries: FlowEntry) -> memoryview:
    """One flow-stats reply body, as the channel hands it over."""
    return memoryview(b"".join(e.encode() for e in entries))


def forwarding(goto: int | None = SFC_DISPATCH) -> bytes:
    return encode_instructions((SetField("reg2", 1),), goto)[0]


def test_a_flow_drops_only_without_action_and_goto() -> None:
    assert drops(encode_instructions((), None)[0])
    assert drops(b"")
    assert not drops(encode_instructions((), SFC_DISPATCH)[0])
    assert not drops(encode_instructions((Output(3),), None)[0])


def test_tally_sums_each_objects_flows_in_its_counting_table_only() -> None:
    fc, hop = cookie(CookieKind.CLASSIFIER, FC), cookie(CookieKind.HOP, GROUP)
    inst, chain = cookie(CookieKind.INSTANCE, PAIR), cookie(CookieKind.CHAIN, CHAIN)
    reading = tally(
        classify=[entry(CLASSIFY, fc, 3, 300), entry(CLASSIFY, fc, 2, 200)],  # e.g. ipv4 and ipv6
        dispatch=[
            entry(SFC_DISPATCH, hop, 4, 400, forwarding()),
            entry(SFC_DISPATCH, hop, 1, 100, forwarding()),
            entry(SFC_DISPATCH, hop, 7, 700),  # fail closed: a drop
            entry(SFC_DISPATCH, chain, 5, 500, forwarding()),
        ],
        deliver=[entry(SFC_DELIVER, inst, 5, 500, forwarding(None))],
        hosted={inst},
    )
    assert reading.counts == {
        ("classifiers", fc): (5, 500),
        ("hops", hop): (5, 500),
        ("drops", hop): (7, 700),
        ("chains", chain): (5, 500),
        ("instances", inst): (5, 500),
    }


def test_a_poll_sums_reply_bodies_message_by_message_as_tally_sums_entries() -> None:
    fc, hop = cookie(CookieKind.CLASSIFIER, FC), cookie(CookieKind.HOP, GROUP)
    inst, chain = cookie(CookieKind.INSTANCE, PAIR), cookie(CookieKind.CHAIN, CHAIN)
    other = cookie(CookieKind.INSTANCE, "not-here")
    classify = [entry(CLASSIFY, fc, 3, 300), entry(CLASSIFY, fc, 2, 200)]
    dispatch = [
        entry(SFC_DISPATCH, hop, 4, 400, forwarding()),
        entry(SFC_DISPATCH, hop, 7, 700),
        entry(SFC_DISPATCH, chain, 5, 500, forwarding()),
    ]
    deliver = [entry(SFC_DELIVER, inst, 5, 500, forwarding(None)), entry(SFC_DELIVER, other, 1, 100)]
    counting = Counting()
    counting.arrivals(body(entry(INGRESS_PORT, inst, 0, 0, forwarding())))
    counting.classify(body(classify[0]))  # a table's reply in two messages
    counting.classify(body(classify[1]))
    counting.dispatch(body(*dispatch))
    counting.deliver(body(*deliver))
    reading = counting.reading()
    assert reading.counts == tally(classify, dispatch, deliver, {inst}).counts
    assert reading.counts[("drops", hop)] == (7, 700)
    assert ("instances", other) not in reading.counts
    assert reading.flows == 8


def test_a_reply_body_reads_back_entry_by_entry() -> None:
    entries = [entry(SFC_DISPATCH, 2**63 + i, i, 10 * i, forwarding()) for i in range(3)]
    assert list(flow_entries(body(*entries))) == entries
    counts = [c[:3] for c in flow_counts(body(*entries))]
    assert counts == [(e.cookie, i, 10 * i) for i, e in enumerate(entries)]
    with pytest.raises(ValueError, match="flow stats entry"):
        list(flow_counts(body(*entries)[:-8]))  # the last entry cut short


def test_a_packed_reading_changes_exactly_when_a_counter_does() -> None:
    hop = cookie(CookieKind.HOP, GROUP)
    base = tally([], [entry(SFC_DISPATCH, hop, 4, 400, forwarding())], [], set())
    same = tally([], [entry(SFC_DISPATCH, hop, 4, 400, forwarding())], [], set())
    moved = tally([], [entry(SFC_DISPATCH, hop, 4, 401, forwarding())], [], set())
    dropped = tally([], [entry(SFC_DISPATCH, hop, 4, 400)], [], set())  # the same sums, another role
    assert packed(base) == packed(same)
    assert len({packed(base), packed(moved), packed(dropped), packed(tally([], [], [], set()))}) == 4


def test_many_counted_flows_space_the_polls_out() -> None:
    assert poll_interval(1.0, 500) == 1.0
    assert poll_interval(1.0, 4 * FLOWS_PER_SECOND) == 4.0
    assert poll_interval(10.0, 4 * FLOWS_PER_SECOND) == 10.0


def test_an_instance_is_counted_only_where_it_is_hosted() -> None:
    inst = cookie(CookieKind.INSTANCE, PAIR)
    tunnelled = entry(SFC_DELIVER, inst, 9, 900, forwarding(None))
    assert tally([], [], [tunnelled], hosted=set()).counts == {}


def test_counters_are_keyed_by_nb_object_with_their_chain_and_hop() -> None:
    reading = tally(
        [entry(CLASSIFY, cookie(CookieKind.CLASSIFIER, FC), 2, 20)],
        [entry(SFC_DISPATCH, cookie(CookieKind.HOP, "gone"), 1, 10, forwarding())],
        [entry(SFC_DELIVER, cookie(CookieKind.INSTANCE, PAIR), 2, 20)],
        {cookie(CookieKind.INSTANCE, PAIR)},
    )
    counted = by_object(reading, OBJECTS)
    assert counted == {"classifiers": {FC: [2, 20]}, "instances": {PAIR: [2, 20]}}  # "gone": no object
    rows = {(c.role, c.object_id): (c.chain, c.hop) for c in labelled(counted, OBJECTS)}
    assert rows == {("classifiers", FC): (CHAIN, ""), ("instances", PAIR): (CHAIN, GROUP)}


def test_metrics_render_counters_and_health_with_labels() -> None:
    metrics = AgentMetrics("ch1", Health(nb_revision=12, applied_revision=10, flows_installed=40))
    metrics.update(labelled({"instances": {PAIR: [2, 20]}}, OBJECTS))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for m in metrics.collect() for s in m.samples
    }
    labels = (("chain", CHAIN), (schema.CHASSIS, "ch1"), ("hop", GROUP), ("instance", PAIR))
    assert samples[("steerflow_instance_packets_total", labels)] == 2
    assert samples[("steerflow_instance_bytes_total", labels)] == 20
    assert samples[("steerflow_agent_nb_revision_lag", ((schema.CHASSIS, "ch1"),))] == 2
    assert samples[("steerflow_agent_flows_installed", ((schema.CHASSIS, "ch1"),))] == 40
    assert ("steerflow_agent_last_heartbeat_timestamp_seconds", ((schema.CHASSIS, "ch1"),)) not in samples


def test_metrics_show_each_checked_instance_s_health_and_the_last_heartbeat() -> None:
    health = Health(last_heartbeat=1700000000.5, functions={(GROUP, PAIR): False, (GROUP, "pp-ok"): True})
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in AgentMetrics("ch1", health).collect()
        for s in m.samples
    }
    ch1 = (schema.CHASSIS, "ch1")
    assert samples[("steerflow_function_healthy", (ch1, ("hop", GROUP), ("instance", PAIR)))] == 0
    assert samples[("steerflow_function_healthy", (ch1, ("hop", GROUP), ("instance", "pp-ok")))] == 1
    assert samples[("steerflow_agent_last_heartbeat_timestamp_seconds", (ch1,))] == 1700000000.5


def test_reports_sum_over_the_chassis_asked_for() -> None:
    a = {schema.CHASSIS: "a", "hops": {GROUP: [3, 30]}}
    b = {schema.CHASSIS: "b", "hops": {GROUP: [4, 40]}, "instances": {PAIR: [7, 70]}}
    assert summed([a, b])["hops"] == {GROUP: [7, 70]}
    assert summed([a, b], chassis=["a"])["instances"] == {}


@pytest.fixture
def w() -> World:
    return World()


def _register(w: World, chassis: str, alive: bool = True) -> None:
    w.store.commit([Put(schema.CHASSIS, chassis, {"id": chassis, "name": chassis})])
    if alive:
        heartbeat(w.store, chassis)


def test_chain_statistics_sum_live_chassis_per_classifier_hop_and_instance(w: World) -> None:
    fc = w.classifier()
    group = w.group()
    chain = w.chain(groups=[group["id"]], fcs=[fc["id"]])
    pair = group["port_pairs"][0]
    for chassis in ("ch1", "ch2"):
        _register(w, chassis)
    _register(w, "dead", alive=False)  # never heard from: down, its report is left out
    report_counters(w.store, "dead", {"instances": {pair: [77, 7700]}})
    report_counters(
        w.store, "ch1", {"classifiers": {fc["id"]: [10, 1000]}, "hops": {group["id"]: [10, 1000]}}
    )
    report_counters(w.store, "ch2", {"instances": {pair: [10, 1000]}, "chains": {chain["id"]: [9, 900]}})
    report_counters(w.store, "deleted", {"instances": {pair: [99, 9900]}})  # not a registered chassis
    body = chain_statistics(w.store, chain)["port_chain_statistics"]
    assert body[schema.CHASSIS] == ["ch1", "ch2"]
    assert body["flow_classifiers"] == [{"id": fc["id"], "packets": 10, "bytes": 1000}]
    (hop,) = body["port_pair_groups"]
    assert (hop["id"], hop["position"], hop["packets"], hop["bytes"]) == (group["id"], 1, 10, 1000)
    assert hop["port_pairs"] == [{"id": pair, "packets": 10, "bytes": 1000}]
    assert hop["dropped"] == {"packets": 0, "bytes": 0}
    assert body["exited"] == {"packets": 9, "bytes": 900}


def test_statistics_read_an_older_agents_document_until_its_chassis_reports_anew(w: World) -> None:
    """An agent before side maps committed its counters as a `chassis_counters` document: still
    counted, and replaced by its chassis' first report into the side map."""
    group = w.group()
    chain = w.chain(groups=[group["id"]])
    for chassis in ("ch1", "ch2"):
        _register(w, chassis)
    older = {"id": "ch1", schema.CHASSIS: "ch1", "hops": {group["id"]: [4, 400]}}
    w.store.commit([Put(schema.CHASSIS_COUNTERS, "ch1", older)])
    report_counters(w.store, "ch2", {"hops": {group["id"]: [1, 100]}})
    (hop,) = chain_statistics(w.store, chain)["port_chain_statistics"]["port_pair_groups"]
    assert (hop["packets"], hop["bytes"]) == (5, 500)
    report_counters(w.store, "ch1", {"hops": {group["id"]: [6, 600]}})
    (hop,) = chain_statistics(w.store, chain)["port_chain_statistics"]["port_pair_groups"]
    assert (hop["packets"], hop["bytes"]) == (7, 700)


def test_an_upgraded_agent_drops_its_older_document_and_only_its_own(w: World) -> None:
    for chassis in ("ch1", "ch2"):
        w.store.commit([Put(schema.CHASSIS_COUNTERS, chassis, {"id": chassis, schema.CHASSIS: chassis})])
    drop_older_document(w.store, "ch1")
    after = w.store.revision()
    drop_older_document(w.store, "ch1")  # nothing left: no commit
    assert [r.id for r in w.store.list(schema.CHASSIS_COUNTERS)] == ["ch2"]
    assert w.store.revision() == after


@pytest.fixture
def client(w: World) -> Iterator[TestClient]:
    with TestClient(build_app(w.store, NoAuth(), [w.fc, w.pc, w.ppg, w.pp])) as c:
        yield c


def test_the_api_serves_a_chains_statistics_and_404s_an_unknown_chain(w: World, client: TestClient) -> None:
    chain = w.chain()
    reply = client.get(f"/v2.0/sfc/port_chains/{chain['id']}/statistics")
    assert reply.status_code == 200
    assert reply.json()["port_chain_statistics"]["port_chain_id"] == chain["id"]
    missing = client.get("/v2.0/sfc/port_chains/6a3f6a36-3a0f-4b6e-9d6f-1f1f1f1f1f1f/statistics")
    assert missing.status_code == 404
    assert missing.json()["NeutronError"]["type"] == "PortChainNotFound"
    assert client.post(f"/v2.0/sfc/port_chains/{chain['id']}/statistics").status_code == 405


def test_the_openapi_document_describes_the_statistics(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    item = doc["paths"]["/v2.0/sfc/port_chains/{id}/statistics"]["get"]
    assert set(item["responses"]) >= {"200", "404"}
    assert "PortChainStatistics" in doc["components"]["schemas"]


def test_the_stats_table_shows_rates_since_the_previous_refresh() -> None:
    before = [("hop 1", "balanced", 100, 10_000)]
    now = [("hop 1", "balanced", 110, 11_000), ("instance", "a", 4, 400)]
    console = Console(width=120, record=True)
    console.print(render(now, before, 2.0))
    lines = console.export_text().splitlines()
    hop = next(line for line in lines if "balanced" in line).split()
    assert hop[-2:] == ["5.0", "500"]  # 10 packets and 1000 bytes in 2 s
    instance = next(line for line in lines if line.split()[:1] == ["instance"]).split()
    assert instance[-2:] == ["-", "-"]  # no previous reading: no rate


def test_a_poll_is_cut_into_slices_only_when_it_reads_many_flows() -> None:
    assert slice_bits(0) == 0
    assert slice_bits(FLOWS_PER_REQUEST) == 0
    assert slice_bits(FLOWS_PER_REQUEST + 1) == 1
    assert slice_bits(167_000) == 4  # the scaling bench's classifying chassis: 16 requests per table
    assert slice_bits(10_000_000) == 4  # at most 16


@pytest.mark.parametrize("bits", [0, 1, 4])
@pytest.mark.parametrize("kind", [CookieKind.CLASSIFIER, CookieKind.INSTANCE, None])
def test_the_slices_of_a_poll_take_every_flow_of_their_kind_once(kind: CookieKind | None, bits: int) -> None:
    ids = [str(uuid.uuid4()) for _ in range(200)] + [""]  # "" : a flow owned by no object
    for object_id in ids:
        for flow_kind in (CookieKind.CLASSIFIER, CookieKind.INSTANCE, CookieKind.HOP):
            value = cookie(flow_kind, object_id)
            taken = [
                part
                for part in range(1 << bits)
                if value & (sel := slice_selector(kind, part, bits))["cookie_mask"] == sel["cookie"]
            ]
            assert len(taken) == (0 if kind not in (None, flow_kind) else 1), (object_id, flow_kind)
