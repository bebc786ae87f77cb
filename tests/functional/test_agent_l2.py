"""The agents build the L2 fabric on real OVS: VMs on different chassis talk, networks stay apart,
spoofers are dropped, flows follow ports, and an agent restart costs no packet and no flow-mod."""

import re
import subprocess
import time
from typing import Any

import pytest

from steerflow.lab import VmHandle
from steerflow.model import schema
from tests.builders.fabric import AgentProcess, Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

CIDR = "203.0.113.0/24"
CIDR6 = "2001:db8:1::/64"


def _fixed(ip: str) -> dict[str, Any]:
    """The IPv4 address given, and the IPv6 address with the same last byte."""
    return {"fixed_ips": [{"ip_address": ip}, {"ip_address": f"2001:db8:1::{ip.rsplit('.', 1)[1]}"}]}


def _three_chassis_two_networks(fabric: Fabric) -> dict[str, VmHandle]:
    """net1: a (ch1), b (ch2); net2: c (ch2), d (ch3); one /24 over both: only L2 isolation parts them."""
    for i in (1, 2, 3):
        fabric.add_chassis(f"ch{i}", f"198.51.100.{10 + i}")
    net1, net2 = fabric.network("net1", CIDR, CIDR6), fabric.network("net2", CIDR, CIDR6)
    vms = {
        "a": fabric.plug_vm("ch1", "a", net1, **_fixed("203.0.113.11")),
        "b": fabric.plug_vm("ch2", "b", net1, **_fixed("203.0.113.12")),
        "c": fabric.plug_vm("ch2", "c", net2, **_fixed("203.0.113.21")),
        "d": fabric.plug_vm("ch3", "d", net2, **_fixed("203.0.113.22")),
    }
    fabric.lab.warm_underlay()
    fabric.wait_applied()
    return vms


def test_networks_work_across_chassis_and_stay_apart(fabric: Fabric) -> None:
    vms = _three_chassis_two_networks(fabric)
    a, b, c, d = vms["a"], vms["b"], vms["c"], vms["d"]
    a.wait_ping(b.ipv4)
    c.wait_ping(d.ipv4)
    assert b.ipv6 is not None and d.ipv6 is not None
    a.wait_ping(b.ipv6)
    c.wait_ping(d.ipv6)
    assert not a.ping(d.ipv6, count=2, wait=0.5)
    assert _tcp_echo(server=b, client=a) == b"hello steerflow"
    for src, dst in ((a, c), (a, d), (b, c), (d, a)):
        assert not src.ping(dst.ipv4, count=2, wait=0.5), f"{src.name} reached {dst.name} across networks"


def test_spoofed_source_mac_or_ip_is_dropped(fabric: Fabric) -> None:
    vms = _three_chassis_two_networks(fabric)
    a, b = vms["a"], vms["b"]
    a.wait_ping(b.ipv4)
    a.exec(["ip", "addr", "add", "203.0.113.99/24", "dev", a.nic])
    spoofed_ip = a.exec(["ping", "-c", "2", "-W", "1", "-I", "203.0.113.99", b.ipv4], check=False)
    assert spoofed_ip.returncode != 0
    a.exec(["ip", "link", "set", a.nic, "address", "02:00:00:00:99:99"])
    assert not a.ping(b.ipv4, count=2, wait=0.5)
    a.exec(["ip", "link", "set", a.nic, "address", a.mac])
    a.wait_ping(b.ipv4)


def test_flows_follow_port_delete_and_vm_move(fabric: Fabric) -> None:
    vms = _three_chassis_two_networks(fabric)
    a, b, d = vms["a"], vms["b"], vms["d"]
    assert d.iface_id is not None and b.iface_id is not None
    fabric.delete(schema.PORT, d.iface_id)
    fabric.wait_applied()
    fabric.assert_switches_hold_compiled_state()
    # b moves from ch2 to ch3: same logical port, same MAC and address, a new interface
    moved = fabric.lab.add_vm(fabric.chassis["ch3"], "b-moved", b.mac, b.ipv4_cidr, iface_id=b.iface_id)
    fabric.chassis["ch2"].ovs_vsctl("del-port", "br-int", b.port)
    fabric.wait_bound(b.iface_id, "ch3")
    fabric.wait_applied()
    a.wait_ping(moved.ipv4)
    fabric.assert_switches_hold_compiled_state()


def test_agent_kill_and_restart_loses_no_packet_and_sends_no_flow_mod(fabric: Fabric) -> None:
    vms = _three_chassis_two_networks(fabric)
    a, b = vms["a"], vms["b"]
    a.wait_ping(b.ipv4)
    pinger = subprocess.Popen(
        ["ip", "netns", "exec", a.netns, "ping", "-c", "150", "-i", "0.02", "-W", "1", b.ipv4],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        agent = fabric.agents["ch1"]
        agent.proc.kill()  # SIGKILL: no goodbye
        agent.proc.wait(timeout=10)
        log_before = len(agent.log_text())
        restarted = fabric.start_agent("ch1")
        _wait_for_log(restarted, log_before, RESYNC_LINE)
        out, _ = pinger.communicate(timeout=60)
    finally:
        if pinger.poll() is None:
            pinger.kill()
    counts = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert counts is not None and counts.groups() == ("150", "150"), out
    first_apply = RESYNC_LINE.search(restarted.log_text()[log_before:])
    assert first_apply is not None and first_apply.groups() == ("0", "0"), restarted.log_text()[-3000:]


def test_a_change_made_while_the_agent_was_down_is_applied_when_it_returns(fabric: Fabric) -> None:
    vms = _three_chassis_two_networks(fabric)
    fabric.agents["ch1"].stop()
    net1 = next(n for n in fabric.store.list(schema.NETWORK) if n.value["name"] == "net1").value
    late = fabric.plug_vm("ch2", "late", net1, **_fixed("203.0.113.14"))
    fabric.start_agent("ch1")
    fabric.wait_applied()
    vms["a"].wait_ping(late.ipv4)
    fabric.assert_switches_hold_compiled_state()


RESYNC_LINE = re.compile(
    r"revision \d+ applied: (\d+) flow-mods, (\d+) group-mods \(after reading the switch\)"
)


def _wait_for_log(agent: AgentProcess, offset: int, pattern: re.Pattern[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pattern.search(agent.log_text()[offset:]):
            return
        time.sleep(0.05)
    raise AssertionError(f"agent never logged {pattern.pattern}\n{agent.log_text()[-3000:]}")


def _tcp_echo(server: VmHandle, client: VmHandle) -> bytes:
    """A TCP round trip through the fabric: the server echoes what the client sends."""
    serve = (
        "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
        f"s.bind(('{server.ipv4}',7007));s.listen(1);c,_=s.accept();c.sendall(c.recv(100));c.close()"
    )
    ask = (
        "import socket,time\nfor _ in range(50):\n try:\n"
        f"  s=socket.create_connection(('{server.ipv4}',7007),timeout=2);break\n"
        " except OSError: time.sleep(0.1)\ns.sendall(b'hello steerflow');print(s.recv(100).decode(),end='')"
    )
    srv = subprocess.Popen(["ip", "netns", "exec", server.netns, "python3", "-c", serve])
    try:
        got = subprocess.run(
            ["ip", "netns", "exec", client.netns, "python3", "-c", ask],
            capture_output=True,
            timeout=30,
            check=True,
        )
        return got.stdout
    finally:
        srv.wait(timeout=10)


def test_vswitchd_restart_gets_its_flows_back_without_an_agent_restart(fabric: Fabric) -> None:
    vms = _three_chassis_two_networks(fabric)
    a, b = vms["a"], vms["b"]
    a.wait_ping(b.ipv4)
    agent_pid = fabric.agents["ch2"].proc.pid
    fabric.chassis["ch2"].restart_vswitchd()
    fabric.lab.warm_underlay()
    a.wait_ping(b.ipv4, timeout=20)
    assert fabric.agents["ch2"].proc.pid == agent_pid and fabric.agents["ch2"].proc.poll() is None
    fabric.assert_switches_hold_compiled_state()


def test_arp_and_nd_are_answered_by_the_fabric_for_known_addresses(fabric: Fabric) -> None:
    vms = _three_chassis_two_networks(fabric)
    a = vms["a"]
    net1 = next(n for n in fabric.store.list(schema.NETWORK) if n.value["name"] == "net1").value
    ghost = fabric.create(
        schema.PORT, network_id=net1["id"], name="ghost", **_fixed("203.0.113.15")
    )  # no VM anywhere
    fabric.wait_applied()
    for ip in ("203.0.113.15", "2001:db8:1::15"):
        a.ping(ip, count=1, wait=0.5)  # nobody answers the ping, but the fabric answers who has the address
        neighbours = a.exec(["ip", "neigh", "show", ip]).stdout
        assert f"lladdr {ghost['mac_address']}" in neighbours, neighbours
