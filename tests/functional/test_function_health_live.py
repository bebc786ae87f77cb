"""Function health on real OVS, under a steady stream: health reports (as an agent's prober writes them,
`nbdb.health.report_health`) take an instance out of its group's balance on every chassis and bring it
back, and a group with no healthy instance is skipped (fail-open), without losing a datagram.

The reports are written directly, so these tests cover what the reports do to the dataplane; the agents'
probes and a killed function are in test_function_failover.py."""

import subprocess
import sys

import pytest

from steerflow.lab import VmHandle
from steerflow.model import schema
from steerflow.nbdb.health import report_health
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab
from tests.builders.stream import stream_through

pytestmark = [pytest.mark.root, requires_lab]

CHECK = {"health_check": {"type": "datapath", "interval_ms": 200, "failures": 3}}


def test_reported_failures_move_the_stream_and_fail_open_skips_the_hop_without_loss(fabric: Fabric) -> None:
    net, client, server = fabric.client_and_server()
    _f1, p1 = fabric.plug_function("ch2", "f1", net, add=1)
    _f2, p2 = fabric.plug_function("ch3", "f2", net, add=2)
    fabric.lab.warm_underlay()
    group = fabric.create(
        schema.PORT_PAIR_GROUP, name="g", port_pairs=[p1["id"], p2["id"]], port_pair_group_parameters=CHECK
    )
    fc = fabric.create(schema.FLOW_CLASSIFIER, name="u7", protocol="udp", destination_port_range_min=7,
                       destination_port_range_max=7, logical_source_port=client.iface_id)  # fmt: skip
    fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[group["id"]], flow_classifiers=[fc["id"]])
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    where = {p1["id"]: "ch2", p2["id"]: "ch3"}

    def health(pair_id: str, healthy: bool) -> tuple[str, object]:
        state = "healthy" if healthy else "failed"
        return f"{pair_id[:8]} {state}", lambda: report_health(fabric.store, pair_id, where[pair_id], healthy)

    report = stream_through(fabric, client, server, 7, [
        health(p1["id"], False),  # the stream crosses f2 (+2), whichever it crossed before
        health(p2["id"], False),  # none left: fail-open, the stream goes straight to the server (+0)
        health(p1["id"], True),  # f1 only (+1)
        health(p2["id"], True),  # both again: the stream back where it hashes
    ])  # fmt: skip
    seen = {int(part.split("x")[0]) for part in report.splitlines()[0].split()[1:]}
    assert {0, 1, 2} <= seen, report


COUNT_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7))
s.settimeout(2.0)
print("ready", flush=True)
n = 0
try:
    while True:
        s.recv(64)
        n += 1
except TimeoutError:
    pass
print(n, flush=True)
"""
SEND_UDP = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    s.sendto(b"probe", (sys.argv[1], 7))
    time.sleep(0.02)
"""


def _udp_arrivals(client: VmHandle, server: VmHandle) -> int:
    """How many of 20 UDP datagrams to port 7 reach the server."""
    argv = ["ip", "netns", "exec", server.netns, sys.executable, "-c", COUNT_UDP, server.ipv4]
    receiver = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        client.exec([sys.executable, "-c", SEND_UDP, server.ipv4])
        out, _ = receiver.communicate(timeout=30)
    finally:
        if receiver.poll() is None:
            receiver.kill()
    return int(out.strip().splitlines()[-1])


def test_a_fail_closed_group_with_no_healthy_instance_drops_and_recovers(fabric: Fabric) -> None:
    net, client, server = fabric.client_and_server()
    _f1, p1 = fabric.plug_function("ch2", "f1", net)
    fabric.lab.warm_underlay()
    params = {**CHECK, "fail_mode": "closed"}
    group = fabric.create(
        schema.PORT_PAIR_GROUP, name="g", port_pairs=[p1["id"]], port_pair_group_parameters=params
    )
    fc = fabric.create(schema.FLOW_CLASSIFIER, name="u7", protocol="udp", destination_port_range_min=7,
                       destination_port_range_max=7, logical_source_port=client.iface_id)  # fmt: skip
    fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[group["id"]], flow_classifiers=[fc["id"]])
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    assert _udp_arrivals(client, server) >= 18  # through f1 (a first datagram may meet cold tunnels)
    report_health(fabric.store, p1["id"], "ch2", False)
    fabric.wait_applied()
    assert _udp_arrivals(client, server) == 0
    assert client.ping(server.ipv4)  # what the chain does not classify still flows
    report_health(fabric.store, p1["id"], "ch2", True)
    fabric.wait_applied()
    assert _udp_arrivals(client, server) >= 18
