"""steerflow trace against real OVS: the path it computes from the NB is the path packets took.

Each function adds its own amount to every payload byte (1, 2, 4...), so what reaches the server says
which functions a datagram crossed; the emulators' counters say which ones saw it. `trace --chassis`
asks the live switch (ofproto/trace) and finds no drift; detrace names its flows."""

import time
from typing import Any

import pytest
from click.testing import CliRunner

from steerflow.cli.main import app
from steerflow.lab import FunctionHandle
from steerflow.lab.traffic import udp_flows, udp_transfer
from steerflow.model import schema
from tests.builders.chain_lab import PAYLOADS, chain_world, make_chain
from tests.builders.fabric import ADMIN, Fabric
from tests.builders.lab_fixtures import requires_lab
from tests.builders.trace_cli import trace_json

pytestmark = [pytest.mark.root, requires_lab]
runner = CliRunner()


def trace(fabric: Fabric, *args: str) -> dict[str, Any]:
    return trace_json(fabric.nb_url, *args)


def names(fabric: Fabric, pair_ids: list[str]) -> list[str]:
    pairs = {p["id"]: p["name"] for p in fabric.handlers[schema.PORT_PAIR].list(ADMIN, {})}
    return [pairs[p] for p in pair_ids]


def shift_of(received: bytes, sent: bytes) -> int:
    return (received[0] - sent[0]) % 256


@pytest.mark.parametrize("encap", ["mpls", "nsh"])
def test_trace_of_a_chain_across_chassis_is_the_path_packets_took(fabric: Fabric, encap: str) -> None:
    net, client, server = chain_world(fabric)
    plugged = [
        fabric.plug_function(chassis, f"f{i}", net, correlation=corr, add=1 << i)
        for i, (chassis, corr) in enumerate([("ch2", None), ("ch1", encap), ("ch3", None)])
    ]
    fabric.wait_applied()
    make_chain(fabric, client, [[pair["id"]] for _fn, pair in plugged], correlation=encap)
    doc = trace(fabric, "--from", client.iface_id, "--to", server.ipv4, "--dport", "7")
    crossed = names(fabric, doc["functions"])
    assert crossed == ["f0", "f1", "f2"]
    assert [d["to_port"] for d in doc["deliveries"]] == [server.iface_id]
    received = udp_transfer(client, server, PAYLOADS, port=7)
    assert {shift_of(r, s) for r, s in zip(received, PAYLOADS, strict=True)} == {1 + 2 + 4}
    assert all(_seen(fn, len(PAYLOADS)) >= len(PAYLOADS) for fn, _pair in plugged)
    untouched = trace(fabric, "--from", client.iface_id, "--to", server.ipv4, "--dport", "8")
    assert untouched["functions"] == [] and udp_transfer(client, server, PAYLOADS, port=8) == PAYLOADS


def test_trace_names_the_instance_each_flow_is_balanced_to(fabric: Fabric) -> None:
    net, client, server = fabric.client_and_server()
    _one, one = fabric.plug_function("ch2", "one", net, add=1)
    _two, two = fabric.plug_function("ch3", "two", net, add=2)
    fabric.lab.warm_underlay()
    group = fabric.create(schema.PORT_PAIR_GROUP, name="g", port_pairs=[one["id"], two["id"]])
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp", protocol="udp", logical_source_port=client.iface_id
    )
    fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[group["id"]], flow_classifiers=[fc["id"]])
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    arrived = udp_flows(client, server, b"\x10", flows=12, first_source_port=30000, port=7)
    assert len(arrived) >= 10
    by_shift = {1: "one", 2: "two"}
    rundir = str(fabric.lab.run_dir)
    for sport, data in arrived.items():
        args = ["--from", client.iface_id, "--to", server.ipv4, "--sport", str(sport), "--chassis", "ch1"]
        doc = trace(fabric, *args, "--ovs-rundir", rundir)
        # the switch's own hash picks the instance (ofsim's differs): the live trace names it
        assert names(fabric, doc["live"]["instances"]) == [by_shift[shift_of(data, b"\x10")]], sport
        assert doc["live"]["drift"] is False
        assert doc["path"]["choices"][0]["hash"].startswith("0x")
        assert len(doc["functions"]) == 1


def test_trace_on_a_live_chassis_shows_no_drift_and_detrace_names_its_flows(fabric: Fabric) -> None:
    net, client, server = chain_world(fabric)
    _fn, pair = fabric.plug_function("ch2", "fw", net, correlation="nsh")
    fabric.wait_applied()
    make_chain(fabric, client, [[pair["id"]]], correlation="nsh")
    args = ["--from", client.iface_id, "--to", server.ipv4, "--ovs-rundir", str(fabric.lab.run_dir)]
    classifier = next(iter(fabric.handlers[schema.FLOW_CLASSIFIER].list(ADMIN, {})))
    named = {  # what each chassis' switch does first: ch1 classifies, ch2 delivers to the function
        "ch1": f"[classifier {classifier['name']} ({classifier['id']})]",
        "ch2": f"[instance {pair['name']} ({pair['id']})]",
    }
    for chassis, name in named.items():
        live = trace(fabric, *args, "--chassis", chassis)["live"]
        assert live["drift"] is False, live
        assert name in live["ofproto_trace"], live["ofproto_trace"]
    flow = f"in_port={client.ofport},dl_src={client.mac},dl_type=0x0800,nw_proto=17"
    flow += f",nw_src={client.ipv4},nw_dst={server.ipv4},udp_dst=7"
    text = fabric.chassis["ch1"].ovs_appctl("ofproto/trace", "br-int", flow)
    result = runner.invoke(app, ["detrace", "--nb", fabric.nb_url], input=text)
    assert result.exit_code == 0, result.output
    assert f"[classifier {classifier['name']} ({classifier['id']})]" in result.stdout
    assert f" ({client.iface_id})]" in result.stdout  # [port NAME (id)]
    # the drift a wrong switch shows: the classifier's flows gone from ch1 (no agent to put them back)
    fabric.stop_agents()
    fabric.chassis["ch1"].ovs_ofctl("del-flows", "br-int", "table=20")
    live = trace(fabric, *args, "--chassis", "ch1")["live"]
    assert live["drift"] is True and any("classifier" in c for c in live["only_compiled"])


def _seen(fn: FunctionHandle, expected: int, timeout: float = 5.0) -> int:
    """What the function's emulator saw, once it says `expected` (its status file lags a little)."""
    deadline = time.monotonic() + timeout
    while (seen := fn.counters().seen) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return seen
