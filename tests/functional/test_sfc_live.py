"""Live chain updates under steady traffic: nothing is lost, neither by flows the updates do not concern
nor by the flows they move (make-before-break across chassis, `compiler.rollout`).

A UDP stream from client to server runs while chain updates run (add a group, remove it, add a port
pair to a group and remove it, add a classifier and remove it, delete the chain); every one of its
datagrams must arrive. Each datagram carries a zero byte, then its number: functions add 1 to every
byte, so the first byte tells how many hops the datagram crossed and the number is read back under it."""

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from steerflow.api.resource import ResourceHandler
from steerflow.lab import VmHandle
from steerflow.model import schema
from tests.builders.fabric import ADMIN, Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

STREAM_PACKETS = 900
INTERVAL = 0.01  # 100 datagrams per second, nine seconds of traffic

RECEIVE = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[4])))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
seen = {}
hops = {}
try:
    while len(seen) < int(sys.argv[3]):
        data = s.recv(64)
        shift = data[0]
        seen[int.from_bytes(bytes((b - shift) % 256 for b in data[1:5]), "big")] = time.time()
        hops[shift] = hops.get(shift, 0) + 1
except TimeoutError:
    pass
print("hops:", *(f"{k}x{v}" for k, v in sorted(hops.items())), flush=True)
# where each gap is: the missing number and the arrival time of the datagram before it, if any
gaps = [f"{i}@{seen.get(i - 1, 0):.3f}" for i in range(int(sys.argv[3])) if i not in seen]
print("gaps:", *gaps, flush=True)
print(len(seen), flush=True)
"""
SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"\\0" + i.to_bytes(4, "big") + b"steady", (sys.argv[1], int(sys.argv[4])))
    time.sleep(float(sys.argv[3]))
"""


def _netns_python(vm: VmHandle, script: str, *args: str) -> subprocess.Popen[str]:
    argv = ["ip", "netns", "exec", vm.netns, sys.executable, "-c", script, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def _settle(fabric: Fabric) -> None:
    fabric.wait_applied()
    time.sleep(0.3)  # let the stream cross the new state for a while (pacing, not synchronisation)


Step = tuple[str, Callable[[], object]]


def _set(handler: ResourceHandler, id: str, **change: Any) -> Callable[[], object]:
    return lambda: handler.update(ADMIN, id, change)


def _stream_through(fabric: Fabric, client: VmHandle, server: VmHandle, port: int, steps: list[Step]) -> str:
    """Run the UDP stream to `port` while `steps` run one after the other, each settled; the receiver's
    report (hops seen, gaps, count). Fails if any datagram is lost."""
    receiver = _netns_python(server, RECEIVE, server.ipv4, "20", str(STREAM_PACKETS), str(port))
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    sender = _netns_python(client, SEND, server.ipv4, str(STREAM_PACKETS), str(INTERVAL), str(port))
    timeline: list[tuple[float, str]] = [(time.time(), "sender started")]
    try:
        for what, step in steps:
            timeline.append((time.time(), what))
            step()
            _settle(fabric)
        timeline.append((time.time(), "all applied"))
        assert sender.wait(timeout=60) == 0
        out, _ = receiver.communicate(timeout=60)
    finally:
        for proc in (sender, receiver):
            if proc.poll() is None:
                proc.kill()
    hops, gaps, received = out.strip().splitlines()[-3:]
    steps_taken = "\n".join(f"  {at:.3f} {what}" for at, what in timeline)
    report = f"{hops}\n{gaps}\n{steps_taken}"
    assert int(received) == STREAM_PACKETS, f"the stream lost datagrams: {report}"
    return report


def test_unaffected_flows_lose_nothing_while_chains_change(fabric: Fabric) -> None:
    net, client, server = fabric.client_and_server()
    _f1, p1 = fabric.plug_function("ch2", "f1", net)
    _f2, p2 = fabric.plug_function("ch3", "f2", net)
    _f3, p3 = fabric.plug_function("ch2", "f3", net)
    fabric.lab.warm_underlay()
    g1 = fabric.create(schema.PORT_PAIR_GROUP, name="g1", port_pairs=[p1["id"]])["id"]
    g2 = fabric.create(schema.PORT_PAIR_GROUP, name="g2", port_pairs=[p2["id"]])["id"]
    fc7 = fabric.create(schema.FLOW_CLASSIFIER, name="u7", protocol="udp", destination_port_range_min=7,
                        destination_port_range_max=7, logical_source_port=client.iface_id)  # fmt: skip
    fc8 = fabric.create(schema.FLOW_CLASSIFIER, name="u8", protocol="udp", destination_port_range_min=8,
                        destination_port_range_max=8, logical_source_port=client.iface_id)  # fmt: skip
    chain = fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[g1], flow_classifiers=[fc7["id"]])
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    chains, groups = fabric.handlers[schema.PORT_CHAIN], fabric.handlers[schema.PORT_PAIR_GROUP]
    report = _stream_through(fabric, client, server, 9, [
        ("chain groups g1 g2", _set(chains, chain["id"], port_pair_groups=[g1, g2])),
        ("chain groups g2", _set(chains, chain["id"], port_pair_groups=[g2])),
        ("chain classifiers u7 u8", _set(chains, chain["id"], flow_classifiers=[fc7["id"], fc8["id"]])),
        ("group g2 pairs f2 f3", _set(groups, g2, port_pairs=[p2["id"], p3["id"]])),
        ("group g2 pairs f2", _set(groups, g2, port_pairs=[p2["id"]])),
        ("chain classifiers u8", _set(chains, chain["id"], flow_classifiers=[fc8["id"]])),
        ("chain deleted", lambda: fabric.delete(schema.PORT_CHAIN, chain["id"])),
    ])  # fmt: skip
    assert report.startswith("hops: 0x900"), report  # never steered


@pytest.mark.parametrize("correlation", [None, "mpls"], ids=["unaware", "mpls"])
def test_classified_flows_switch_over_without_loss(fabric: Fabric, correlation: str | None) -> None:
    """The stream the chain classifies moves between instances and paths on other chassis (a hop
    inserted, an instance added elsewhere, its old one removed, a hop removed, the groups swapped, the
    chain deleted): every chassis switches only once the next one can deliver, and what it stops
    using lingers, so no datagram is lost."""
    net, client, server = fabric.client_and_server()
    _f1, p1 = fabric.plug_function("ch2", "f1", net, correlation=correlation)
    _f2, p2 = fabric.plug_function("ch3", "f2", net, correlation=correlation)
    _f3, p3 = fabric.plug_function("ch1", "f3", net, correlation=correlation)
    fabric.lab.warm_underlay()
    g1 = fabric.create(schema.PORT_PAIR_GROUP, name="g1", port_pairs=[p1["id"]])["id"]
    g2 = fabric.create(schema.PORT_PAIR_GROUP, name="g2", port_pairs=[p2["id"]])["id"]
    fc = fabric.create(schema.FLOW_CLASSIFIER, name="u7", protocol="udp", destination_port_range_min=7,
                       destination_port_range_max=7, logical_source_port=client.iface_id)  # fmt: skip
    params = {"correlation": correlation or "mpls"}
    chain = fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[g1], flow_classifiers=[fc["id"]],
                          chain_parameters=params)  # fmt: skip
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    chains, groups = fabric.handlers[schema.PORT_CHAIN], fabric.handlers[schema.PORT_PAIR_GROUP]
    report = _stream_through(fabric, client, server, 7, [
        ("hop g2 (ch3) inserted", _set(chains, chain["id"], port_pair_groups=[g1, g2])),
        ("f3 (ch1) joins g2", _set(groups, g2, port_pairs=[p2["id"], p3["id"]])),
        ("f2 (ch3) leaves g2", _set(groups, g2, port_pairs=[p3["id"]])),
        ("f2 (ch3) replaces f3", _set(groups, g2, port_pairs=[p2["id"]])),
        ("hop g1 removed", _set(chains, chain["id"], port_pair_groups=[g2])),
        ("g1 replaces g2", _set(chains, chain["id"], port_pair_groups=[g1])),
        ("chain deleted", lambda: fabric.delete(schema.PORT_CHAIN, chain["id"])),
    ])  # fmt: skip
    seen = {int(part.split("x")[0]) for part in report.splitlines()[0].split()[1:]}
    assert seen == {0, 1, 2}, report  # unclassified at the end, one hop, two hops
