"""Live chain updates under steady traffic: flows the update does not concern lose nothing.

Unclassified UDP/9 streams from client to server while chain updates run (add a group, remove it, add a
port pair to a group and remove it, add a classifier and remove it, delete the chain); every one of its
datagrams must arrive."""

import subprocess
import sys
import time

import pytest

from steerflow.lab import VmHandle
from tests.fabric import ADMIN, Fabric
from tests.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

STREAM_PACKETS = 900
INTERVAL = 0.01  # 100 datagrams per second, nine seconds of traffic

RECEIVE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
import time
seen = {}
try:
    while len(seen) < int(sys.argv[3]):
        seen[int.from_bytes(s.recv(64)[:4], "big")] = time.time()
except TimeoutError:
    pass
# where each gap is: the missing number and the arrival time of the datagram before it, if any
gaps = [f"{i}@{seen.get(i - 1, 0):.3f}" for i in range(int(sys.argv[3])) if i not in seen]
print("gaps:", *gaps, flush=True)
print(len(seen), flush=True)
"""
SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(i.to_bytes(4, "big") + b"steady", (sys.argv[1], 9)); time.sleep(float(sys.argv[3]))
"""


def _netns_python(vm: VmHandle, script: str, *args: str) -> subprocess.Popen[str]:
    argv = ["ip", "netns", "exec", vm.netns, sys.executable, "-c", script, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def _settle(fabric: Fabric) -> None:
    fabric.wait_applied()
    time.sleep(0.3)  # let the stream cross the new state for a while (pacing, not synchronisation)


def test_unaffected_flows_lose_nothing_while_chains_change(fabric: Fabric) -> None:
    net, client, server = fabric.client_and_server()
    _f1, p1 = fabric.plug_function("ch2", "f1", net)
    _f2, p2 = fabric.plug_function("ch3", "f2", net)
    _f3, p3 = fabric.plug_function("ch2", "f3", net)
    fabric.lab.warm_underlay()
    g1 = fabric.create("port_pair_group", name="g1", port_pairs=[p1["id"]])["id"]
    g2 = fabric.create("port_pair_group", name="g2", port_pairs=[p2["id"]])["id"]
    fc7 = fabric.create("flow_classifier", name="u7", protocol="udp", destination_port_range_min=7,
                        destination_port_range_max=7, logical_source_port=client.iface_id)  # fmt: skip
    fc8 = fabric.create("flow_classifier", name="u8", protocol="udp", destination_port_range_min=8,
                        destination_port_range_max=8, logical_source_port=client.iface_id)  # fmt: skip
    chain = fabric.create("port_chain", name="c", port_pair_groups=[g1], flow_classifiers=[fc7["id"]])
    fabric.wait_applied()
    client.wait_ping(server.ipv4)

    receiver = _netns_python(server, RECEIVE, server.ipv4, "20", str(STREAM_PACKETS))
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    sender = _netns_python(client, SEND, server.ipv4, str(STREAM_PACKETS), str(INTERVAL))
    timeline: list[tuple[float, str]] = [(time.time(), "sender started")]
    try:
        updates = [
            {"port_pair_groups": [g1, g2]},
            {"port_pair_groups": [g2]},
            {"flow_classifiers": [fc7["id"], fc8["id"]]},
        ]
        group_changes = [{"port_pairs": [p2["id"], p3["id"]]}, {"port_pairs": [p2["id"]]}]
        for change in updates:
            fabric.handlers["port_chain"].update(ADMIN, chain["id"], change)
            _settle(fabric)
        for change in group_changes:
            fabric.handlers["port_pair_group"].update(ADMIN, g2, change)
            _settle(fabric)
        fabric.handlers["port_chain"].update(ADMIN, chain["id"], {"flow_classifiers": [fc8["id"]]})
        _settle(fabric)
        fabric.delete("port_chain", chain["id"])
        fabric.wait_applied()
        assert sender.wait(timeout=60) == 0
        out, _ = receiver.communicate(timeout=60)
    finally:
        for proc in (sender, receiver):
            if proc.poll() is None:
                proc.kill()
    gaps, received = out.strip().splitlines()[-2:]
    steps = "\n".join(f"  {at:.3f} {what}" for at, what in timeline)
    assert int(received) == STREAM_PACKETS, f"the unaffected stream lost datagrams: {gaps}\n{steps}"
