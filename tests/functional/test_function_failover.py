"""Function health end to end on real OVS: the agents probe their function instances through the data
path (or with an ARP/ICMP/TCP check), and a function whose emulator is killed leaves its group under a
steady stream of many flows: its flows move to the other instance within seconds, the other instance's
flows lose nothing, and it comes back when restarted. A group with no instance left fails open (the hop
is skipped) or closed (dropped, counted as the hop's drops).

Figures are asserted loosely (the machine is shared); bench/function_failover.py measures them."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from steerflow.api.sfc_statistics import chain_statistics
from steerflow.lab import FunctionHandle, VmHandle
from steerflow.model import schema
from steerflow.nbdb.health import is_healthy
from tests.builders.fabric import Fabric
from tests.builders.flow_stream import Stream, analyse
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

FAILOVER_LIMIT = 5.0  # seconds: the target is 1.5 s; the shared machine gets slack
FLOWS = 16
# the stream outlasts any run (60 s) and is stopped once the flows could go back, whatever the load
STREAM_ROUNDS = 6000
RETURN_WINDOW = 1.0  # seconds of stream after f1's return is installed (pacing, not synchronisation)


def _check(kind: str = "datapath", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "interval_ms": 200, "failures": 3, **extra}


def _chain(
    fabric: Fabric,
    client: VmHandle,
    pairs: list[dict[str, Any]],
    params: dict[str, Any],
    correlation: str = "mpls",  # the chain's (networking-sfc's default); unaware pairs ignore it
) -> dict[str, Any]:
    group = fabric.create(schema.PORT_PAIR_GROUP, name="g", port_pairs=[p["id"] for p in pairs],
                          port_pair_group_parameters={"lb_fields": ["udp_src"], **params})  # fmt: skip
    fc = fabric.create(schema.FLOW_CLASSIFIER, name="u7", protocol="udp", destination_port_range_min=7,
                       destination_port_range_max=7, logical_source_port=client.iface_id)  # fmt: skip
    chain = fabric.create(
        schema.PORT_CHAIN, name="c", port_pair_groups=[group["id"]], flow_classifiers=[fc["id"]],
        chain_parameters={"correlation": correlation},
    )  # fmt: skip
    fabric.wait_applied()
    return chain


def _one_function(fabric: Fabric) -> tuple[VmHandle, VmHandle, FunctionHandle, dict[str, Any]]:
    """The client (ch1), the server (ch3) and one function f1 (ch2, adds 1) with its port pair."""
    net, client, server = fabric.client_and_server()
    f1, p1 = fabric.plug_function("ch2", "f1", net, add=1)
    fabric.lab.warm_underlay()
    return client, server, f1, p1


def _healthy(fabric: Fabric, pair_id: str) -> bool | None:
    """The instance's reported health (None: no report yet)."""
    rec = fabric.store.get(schema.FUNCTION_HEALTH, pair_id)
    return None if rec is None else is_healthy(rec.value)


def _wait_health(fabric: Fabric, pair_id: str, healthy: bool, timeout: float = 15.0) -> float:
    """Seconds until the instance is reported `healthy`."""
    start = time.monotonic()
    while _healthy(fabric, pair_id) is not healthy:
        assert time.monotonic() - start < timeout, f"{pair_id} never {healthy}\n{fabric.agent_logs()}"
        time.sleep(0.02)
    return time.monotonic() - start


def test_a_killed_function_s_flows_move_to_the_other_instance_and_come_back(fabric: Fabric) -> None:
    net, client, server = fabric.client_and_server()
    f1, p1 = fabric.plug_function("ch2", "f1", net, add=1)
    _f2, p2 = fabric.plug_function("ch3", "f2", net, add=2)
    fabric.lab.warm_underlay()
    group_id = _chain(fabric, client, [p1, p2], {"health_check": _check()})["port_pair_groups"][0]
    _wait_health(fabric, p1["id"], True)
    _wait_health(fabric, p2["id"], True)
    client.wait_ping(server.ipv4)

    with Stream(client, server, 7, flows=FLOWS, rounds=STREAM_ROUNDS, interval=0.01) as stream:
        time.sleep(1.5)
        killed = time.time()
        f1.stop()  # SIGTERM by pid: the emulator is gone
        detected = _wait_health(fabric, p1["id"], False)
        gauge = f'steerflow_function_healthy{{chassis="ch2",hop="{group_id}",instance="{p1["id"]}"}} 0.0'
        assert gauge in fabric.scrape_metrics("ch2")
        time.sleep(2.0)
        back = time.time()
        fabric.lab.restart_function(f1.name)
        _wait_health(fabric, p1["id"], True)
        fabric.wait_applied()  # every chassis steers flows to f1 again
        stream.wait_rounds(RETURN_WINDOW)
        stream.stop()
        arrivals = stream.finish()

    out = analyse(arrivals, killed, failed_shift=1)
    assert out.moved, f"no flow crossed f1 before it was killed: {sorted(arrivals)}"
    assert not out.stuck, f"flows of f1 never forwarded again: {out.stuck}"
    assert out.failover < FAILOVER_LIMIT, f"failover took {out.failover:.2f}s (detected in {detected:.2f}s)"
    assert out.healthy_lost == 0, "flows through f2 lost datagrams"
    returned = [f for f in out.moved if arrivals[f][-1].shift == 1 and arrivals[f][-1].at > back]
    assert returned, "no flow went back to f1 once it was healthy again"


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
def test_with_no_instance_alive_fail_closed_drops_and_fail_open_skips_the_hop(
    fabric: Fabric, fail_mode: str
) -> None:
    client, server, f1, p1 = _one_function(fabric)
    chain = _chain(fabric, client, [p1], {"health_check": _check(), "fail_mode": fail_mode})
    _wait_health(fabric, p1["id"], True)
    client.wait_ping(server.ipv4)
    f1.stop()
    _wait_health(fabric, p1["id"], False)
    fabric.wait_applied()
    with Stream(client, server, 7, flows=4, rounds=50, interval=0.01) as stream:
        arrivals = stream.finish()
    if fail_mode == "closed":
        assert arrivals == {}, "a fail-closed group with no healthy instance let traffic through"
        dropped = _dropped(fabric, chain)
        assert dropped >= 200, f"the hop counted {dropped} drops of 200 datagrams"
    else:
        assert {a.shift for got in arrivals.values() for a in got} == {0}, "fail-open did not skip the hop"
        assert sum(len(got) for got in arrivals.values()) == 200


def _dropped(fabric: Fabric, chain: dict[str, Any], timeout: float = 10.0) -> int:
    """The chain's hop drops as the statistics API sums them, once the agents reported them."""
    deadline, dropped = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        body = chain_statistics(fabric.store, chain)["port_chain_statistics"]
        dropped = int(body["port_pair_groups"][0]["dropped"]["packets"])
        if dropped >= 200:
            break
        time.sleep(0.5)
    return dropped


@pytest.mark.parametrize("kind", ["arp", "icmp", "tcp"])
def test_a_function_that_does_not_forward_probes_is_checked_by_arp_icmp_or_tcp(
    fabric: Fabric, kind: str
) -> None:
    client, _server, f1, p1 = _one_function(fabric)
    listener = None
    extra = {"tcp_port": 8080} if kind == "tcp" else {}
    if kind == "tcp":
        argv = ["ip", "netns", "exec", f1.netns, sys.executable, "-c", LISTEN, "8080"]
        listener = subprocess.Popen(argv)
    _chain(fabric, client, [p1], {"health_check": _check(kind, **extra)})
    try:
        _wait_health(fabric, p1["id"], True)
        time.sleep(1.0)  # probes keep passing
        assert _healthy(fabric, p1["id"]) is True
        if listener is not None:
            listener.kill()
            listener.wait()
        else:  # the function's kernel stops answering: its NIC goes down
            f1.exec(["ip", "link", "set", f1.ingress.nic, "down"])
        _wait_health(fabric, p1["id"], False)
    finally:
        if listener is not None and listener.poll() is None:
            listener.kill()


LISTEN = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
"""


@pytest.mark.parametrize("correlation", ["mpls", "nsh"])
def test_an_aware_function_is_probed_in_its_hop_s_header(fabric: Fabric, correlation: str) -> None:
    net, client, server = fabric.client_and_server()
    f1, p1 = fabric.plug_function("ch2", "f1", net, correlation=correlation, add=1)
    fabric.lab.warm_underlay()
    _chain(fabric, client, [p1], {"health_check": _check(), "fail_mode": "closed"}, correlation)
    _wait_health(fabric, p1["id"], True)  # the emulator forwards only frames in its header
    assert f1.counters().ignored == 0, "the probe reached the function without the header it expects"
    f1.stop()
    _wait_health(fabric, p1["id"], False)
    f1 = fabric.lab.restart_function(f1.name)
    _wait_health(fabric, p1["id"], True)
    fabric.wait_applied()
    with Stream(client, server, 7, flows=4, rounds=25, interval=0.01) as stream:
        arrivals = stream.finish()
    assert sum(len(got) for got in arrivals.values()) == 100  # through f1 again, no probe among them
    assert {a.shift for got in arrivals.values() for a in got} == {1}
