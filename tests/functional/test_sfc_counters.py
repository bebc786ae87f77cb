"""Per-hop counters on real OVS: every classifier, hop and instance counts exactly the datagrams that
went through it, across three chassis and a load-balanced group; the same numbers over /metrics, the
statistics API and `steerflow port-chain stats`.

Hop 1 balances over `a` (ch2, adds 1) and `b` (ch3, adds 2); hop 2 is `c` (ch1, adds 10, NSH-aware):
what reaches the server says which instance of hop 1 served each datagram (the payload oracle)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from steerflow.api.sfc_statistics import chain_statistics
from steerflow.lab.traffic import udp_flows
from steerflow.model import schema
from steerflow.nbdb.counters import all_reports, summed
from tests.builders.api_server import start_api_server
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab
from tests.builders.steerflow_cli import sf_ok

pytestmark = [pytest.mark.root, requires_lab]

DATAGRAMS = 200
PAYLOAD = b"\x10\x20\x30\x40"
SETTLE_SECONDS = 20.0


def test_counters_equal_the_datagrams_through_each_classifier_hop_and_instance(
    fabric: Fabric, tmp_path: Path
) -> None:
    net, client, server = fabric.client_and_server()
    _a, a = fabric.plug_function("ch2", "a", net, add=1)
    _b, b = fabric.plug_function("ch3", "b", net, add=2)
    _c, c = fabric.plug_function("ch1", "c", net, add=10, correlation="nsh")
    fabric.lab.warm_underlay()
    balanced = fabric.create(schema.PORT_PAIR_GROUP, name="balanced", port_pairs=[a["id"], b["id"]])
    single = fabric.create(schema.PORT_PAIR_GROUP, name="single", port_pairs=[c["id"]])
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp", protocol="udp", logical_source_port=client.iface_id
    )
    chain = fabric.create(
        schema.PORT_CHAIN, name="counted", port_pair_groups=[balanced["id"], single["id"]],
        flow_classifiers=[fc["id"]], chain_parameters={"correlation": "nsh"},
    )  # fmt: skip
    fabric.wait_applied()
    client.wait_ping(server.ipv4)  # ICMP: never classified, so never counted

    received = udp_flows(client, server, PAYLOAD, flows=DATAGRAMS, port=7)
    assert len(received) == DATAGRAMS, f"{DATAGRAMS - len(received)} datagrams lost: counters cannot be exact"
    shifts = [(data[0] - PAYLOAD[0]) % 256 for data in received.values()]
    by_a, by_b = shifts.count(11), shifts.count(12)
    assert by_a + by_b == DATAGRAMS and by_a and by_b, f"unexpected shifts {sorted(set(shifts))}"
    size = _datagram_bytes(fabric, fc["id"])

    expected = {
        "classifiers": {fc["id"]: DATAGRAMS},
        "hops": {balanced["id"]: DATAGRAMS, single["id"]: DATAGRAMS},
        "instances": {a["id"]: by_a, b["id"]: by_b, c["id"]: DATAGRAMS},
        "chains": {chain["id"]: DATAGRAMS},
    }
    totals = _settled(lambda: _packets(summed(all_reports(fabric.store)), expected), expected)
    assert totals == expected
    assert size > 0

    body = chain_statistics(fabric.store, chain)["port_chain_statistics"]
    assert body["flow_classifiers"][0]["packets"] == DATAGRAMS
    assert [h["packets"] for h in body["port_pair_groups"]] == [DATAGRAMS, DATAGRAMS]
    assert [p["packets"] for p in body["port_pair_groups"][0]["port_pairs"]] == [by_a, by_b]
    assert body["exited"]["packets"] == DATAGRAMS

    scraped = {name: _parse(fabric.scrape_metrics(name)) for name in fabric.chassis}
    hop_packets = sum(
        value
        for samples in scraped.values()
        for (metric, labels), value in samples.items()
        if metric == "steerflow_hop_packets_total" and dict(labels).get("hop") == balanced["id"]
    )
    assert hop_packets == DATAGRAMS
    instance_b = {
        dict(labels)[schema.CHASSIS]: value
        for samples in scraped.values()
        for (metric, labels), value in samples.items()
        if metric == "steerflow_instance_packets_total" and dict(labels).get("instance") == b["id"]
    }
    assert instance_b == {"ch3": by_b}  # counted where it is delivered, never where it is tunnelled from
    for name, samples in scraped.items():
        assert samples[("steerflow_agent_flows_installed", ((schema.CHASSIS, name),))] > 0
        assert samples[("steerflow_agent_last_apply_timestamp_seconds", ((schema.CHASSIS, name),))] > 0

    with start_api_server(tmp_path / "api", fabric.nb_url) as api:
        shown = json.loads(sf_ok(api.url, "port-chain", "stats", "counted", "-f", "json"))
        assert shown["port_pair_groups"][1]["packets"] == DATAGRAMS
        table = sf_ok(api.url, "port-chain", "stats", "counted")
        assert "balanced" in table and f" {by_a} " in f" {table} ".replace("\n", " ")


def _packets(
    total: dict[str, dict[str, list[int]]], like: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    return {role: {oid: total.get(role, {}).get(oid, [0, 0])[0] for oid in ids} for role, ids in like.items()}


def _datagram_bytes(fabric: Fabric, fc_id: str) -> int:
    total = _settled(lambda: summed(all_reports(fabric.store))["classifiers"].get(fc_id, [0, 0])[1], None)
    return int(total)


def _settled(read: Callable[[], Any], expected: Any) -> Any:
    """What `read` returns once it equals `expected` (None: once it stops changing), or at the deadline
    (agents poll their counters every second)."""
    deadline, last = time.monotonic() + SETTLE_SECONDS, read()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = read()
        if (expected is not None and current == expected) or (
            expected is None and current == last and current
        ):
            return current
        last = current
    return last


def _parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_tap_hop_counts_its_copies_and_what_crossed_it(fabric: Fabric) -> None:
    """A tap (ch2) then an inline hop (ch3), MPLS: the tap's instance gets a copy of each datagram, the
    inline one the datagram itself; the tap's echo is dropped and counted nowhere."""
    net, client, server = fabric.client_and_server()
    tap, tap_pair = fabric.plug_function("ch2", "tap", net, correlation="mpls", add=100)
    _inline, inline_pair = fabric.plug_function("ch3", "inline", net, add=1)
    fabric.lab.warm_underlay()
    tap_group = fabric.create(
        schema.PORT_PAIR_GROUP, name="tap", port_pairs=[tap_pair["id"]], tap_enabled=True
    )
    inline_group = fabric.create(schema.PORT_PAIR_GROUP, name="inline", port_pairs=[inline_pair["id"]])
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp", protocol="udp", logical_source_port=client.iface_id
    )
    chain = fabric.create(
        schema.PORT_CHAIN, name="tapped", port_pair_groups=[tap_group["id"], inline_group["id"]],
        flow_classifiers=[fc["id"]], chain_parameters={"correlation": "mpls"},
    )  # fmt: skip
    fabric.wait_applied()
    client.wait_ping(server.ipv4)

    received = udp_flows(client, server, PAYLOAD, flows=DATAGRAMS, port=7)
    assert len(received) == DATAGRAMS and set(received.values()) == {bytes(b + 1 for b in PAYLOAD)}
    tap.wait_counters(lambda c: c.forwarded >= DATAGRAMS)
    expected = {
        "classifiers": {fc["id"]: DATAGRAMS},
        "hops": {tap_group["id"]: DATAGRAMS, inline_group["id"]: DATAGRAMS},
        "instances": {tap_pair["id"]: DATAGRAMS, inline_pair["id"]: DATAGRAMS},
        "chains": {chain["id"]: DATAGRAMS},
        "drops": {tap_group["id"]: 0, inline_group["id"]: 0},  # the tap's echo is not a fail-closed drop
    }
    totals = _settled(lambda: _packets(summed(all_reports(fabric.store)), expected), expected)
    assert totals == expected
