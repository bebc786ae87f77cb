"""Emulated service functions on real OVS, wired with static flows (no SFC controller): every function a
packet crosses adds 1 to each payload byte, through plain, MPLS and NSH (MD1, MD2, IP next protocol)
encapsulations, and the lab tears functions down like VMs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from steerflow.lab import ChassisHandle, FunctionHandle, Lab, LabError, VmHandle, install_static_l2
from steerflow.lab.cleanup import list_netns
from steerflow.lab.procs import pid_alive
from steerflow.lab.traffic import tcp_transfer, udp_transfer
from tests.builders.lab_fixtures import LabFactory, requires_lab

pytestmark = [pytest.mark.root, requires_lab]

PAYLOADS = [bytes(range(250, 256)) + b"steerflow", bytes(range(16)), b"\x00" * 3 + b"\xff" * 3]
TCP_PAYLOAD = bytes(range(256)) * 8


@dataclass(frozen=True)
class Bench:
    """One chassis, VMs a and b on a flat L2 network (ARP and ND work), no steering yet."""

    lab: Lab
    ch: ChassisHandle
    a: VmHandle
    b: VmHandle

    def function(self, name: str, k: int, *, single_nic: bool = False, **options: object) -> FunctionHandle:
        egress = None if single_nic else f"02:00:00:00:{k:02x}:02"
        return self.lab.add_function(
            self.ch, name, f"02:00:00:00:{k:02x}:01", f"203.0.113.{100 + k}/24", egress,
            ingress_iface_id=f"{name}-in", egress_iface_id=f"{name}-out", **options,  # type: ignore[arg-type]
        )  # fmt: skip


def _bench(lab: LabFactory) -> Bench:
    the_lab = lab()
    ch = the_lab.add_chassis("ch1", "198.51.100.11")
    a = the_lab.add_vm(ch, "a", "02:00:00:00:00:0a", "203.0.113.10/24", "2001:db8::a/64")
    b = the_lab.add_vm(ch, "b", "02:00:00:00:00:0b", "203.0.113.11/24", "2001:db8::b/64")
    install_static_l2(the_lab)
    assert b.ipv6 is not None
    a.wait_ping(b.ipv4)
    a.wait_ping(b.ipv6)
    return Bench(the_lab, ch, a, b)


def plus(payload: bytes, hops: int) -> bytes:
    return bytes((x + hops) % 256 for x in payload)


def _assert_udp_and_tcp(bench: Bench, hops: int, *, tcp: bool = True) -> None:
    a, b = bench.a, bench.b
    assert udp_transfer(a, b, PAYLOADS) == [plus(p, hops) for p in PAYLOADS]
    assert udp_transfer(a, b, PAYLOADS, ipv6=True) == [plus(p, hops) for p in PAYLOADS]
    if tcp:
        assert tcp_transfer(a, b, TCP_PAYLOAD) == plus(TCP_PAYLOAD, hops)
        assert tcp_transfer(a, b, TCP_PAYLOAD, ipv6=True) == plus(TCP_PAYLOAD, hops)


def test_unaware_function_adds_one_over_udp_and_tcp_and_ignores_arp(lab: LabFactory) -> None:
    bench = _bench(lab)
    a, b, fn = bench.a, bench.b, bench.function("fn", 1)
    to_fn, back = fn.ingress.ofport, fn.egress.ofport
    bench.ch.add_flows(
        [f"priority=100,in_port={a.ofport},{proto},actions=output:{to_fn}" for proto in ("udp", "udp6")]
        + [f"priority=100,in_port={back},{proto},actions=output:{b.ofport}" for proto in ("ip", "ipv6")]
        # a's ARP reaches b as before, and the function too: it must drop it, not forward it.
        + [f"priority=100,in_port={a.ofport},arp,actions=output:{b.ofport},output:{to_fn}"]
    )
    a.exec(["ip", "neigh", "flush", "dev", a.nic])  # the next datagram needs a fresh ARP exchange
    _assert_udp_and_tcp(bench, 1, tcp=False)
    counters = fn.wait_counters(lambda c: c.forwarded == 2 * len(PAYLOADS) and c.ignored > 0)
    assert any("0x0806" in reason for reason in counters.ignored_reasons), counters
    assert counters.send_errors == 0 and counters.state == "running"
    bench.ch.add_flows(
        [f"priority=100,in_port={a.ofport},{proto},actions=output:{to_fn}" for proto in ("tcp", "tcp6")]
    )
    assert tcp_transfer(a, b, TCP_PAYLOAD) == plus(TCP_PAYLOAD, 1)
    assert tcp_transfer(a, b, TCP_PAYLOAD, ipv6=True) == plus(TCP_PAYLOAD, 1)
    assert "forwarded" in fn.log_text()
    fn.stop()  # with the function gone, the steered traffic goes nowhere: it never took another path
    assert udp_transfer(a, b, PAYLOADS, timeout=1.0) == []


def test_two_functions_in_a_row_one_with_a_single_nic(lab: LabFactory) -> None:
    bench = _bench(lab)
    a, b = bench.a, bench.b
    first, second = bench.function("first", 1), bench.function("second", 2, single_nic=True, add=2)
    assert second.single_nic and second.ingress == second.egress and not first.single_nic
    flows = []
    for ip, l4 in (("ip", "udp"), ("ipv6", "udp6"), ("ip", "tcp"), ("ipv6", "tcp6")):
        flows += [
            f"priority=100,in_port={a.ofport},{l4},actions=output:{first.ingress.ofport}",
            f"priority=100,in_port={first.egress.ofport},{ip},actions=output:{second.ingress.ofport}",
            f"priority=100,in_port={second.egress.ofport},{ip},actions=output:{b.ofport}",
        ]
    bench.ch.add_flows(flows)
    _assert_udp_and_tcp(bench, 3)
    for fn in (first, second):
        fn.wait_counters(lambda c: c.forwarded >= 2 * len(PAYLOADS) and c.send_errors == 0)


def test_bridging_function_is_a_bump_in_the_wire_both_ways(lab: LabFactory) -> None:
    bench = _bench(lab)
    a, b, fn = bench.a, bench.b, bench.function("fn", 1, bridge=True)
    assert fn.bridge
    side_a, side_b = fn.ingress.ofport, fn.egress.ofport
    bench.ch.add_flows([  # a and b see each other only through the function: ARP, ND, everything
        f"priority=200,in_port={a.ofport},actions=output:{side_a}",
        f"priority=200,in_port={side_a},actions=output:{a.ofport}",
        f"priority=200,in_port={b.ofport},actions=output:{side_b}",
        f"priority=200,in_port={side_b},actions=output:{b.ofport}",
    ])  # fmt: skip
    for vm in (a, b):
        vm.exec(["ip", "neigh", "flush", "dev", vm.nic])  # address resolution must cross it, both ways
    # both directions add 1: a datagram gets +1, and the TCP stream (acks and data) still goes through
    _assert_udp_and_tcp(bench, 1, tcp=False)
    counters = fn.wait_counters(lambda c: c.bridged > 0 and c.backwards > 0)
    assert counters.ignored == 0 and counters.send_errors == 0, counters
    assert "bridged" in fn.log_text()


# The recipes documented in docs/lab.md ("Steering to a function with static flows").
MPLS_TO = "push_mpls:0x8847,set_field:100->mpls_label,set_field:{tc}->mpls_tc,output:{port}"
MPLS_BACK = "mpls,mpls_label=100,mpls_tc={tc},actions=pop_mpls:{ethertype},output:{port}"


def test_mpls_function_adds_one_and_returns_the_label_unchanged(lab: LabFactory) -> None:
    bench = _bench(lab)
    a, b, fn = bench.a, bench.b, bench.function("fn", 1, mode="mpls")
    flows = []
    # OVS cannot see past the label, so the traffic class tells IPv4 (0) from IPv6 (1) when popping it.
    for tc, ethertype, protos in ((0, "0x0800", ("udp", "tcp")), (1, "0x86dd", ("udp6", "tcp6"))):
        push = MPLS_TO.format(tc=tc, port=fn.ingress.ofport)
        flows += [f"priority=100,in_port={a.ofport},{proto},actions={push}" for proto in protos]
        pop = MPLS_BACK.format(tc=tc, ethertype=ethertype, port=b.ofport)
        flows.append(f"priority=100,in_port={fn.egress.ofport},{pop}")
    bench.ch.add_flows(flows)
    _assert_udp_and_tcp(bench, 1)
    assert fn.wait_counters(lambda c: c.forwarded >= 2 * len(PAYLOADS)).ignored_reasons.keys() <= {
        "ethertype 0x86dd (expected MPLS)"  # the chassis-side veth's own IPv6 chatter, never forwarded
    }
    assert "mpls[100]" in fn.log_text()


NSH_MD1 = (
    "encap(nsh(md_type=1)),set_field:0x10->nsh_spi,set_field:255->nsh_si,"
    "set_field:0xdeadbeef->nsh_c1,encap(ethernet),"
    "set_field:{src}->eth_src,set_field:{dst}->eth_dst,output:{port}"
)
NSH_MD1_BACK = "dl_type=0x894f,nsh_mdtype=1,nsh_spi=0x10,nsh_si=254,nsh_c1=0xdeadbeef,actions=decap(),decap()"
NSH_MD2 = (
    "encap(nsh(md_type=2,tlv(0x1000,10,0x12345678))),set_field:0x20->nsh_spi,set_field:255->nsh_si,"
    "encap(ethernet),set_field:{src}->eth_src,set_field:{dst}->eth_dst,output:{port}"
)
NSH_MD2_BACK = "dl_type=0x894f,nsh_mdtype=2,nsh_spi=0x20,nsh_si=255,actions=decap(),decap()"
# NSH straight over IP (next protocol 1/2): drop the Ethernet header first, put one back after.
NSH_IP = (
    "decap(),encap(nsh(md_type=1)),set_field:0x30->nsh_spi,set_field:255->nsh_si,"
    "encap(ethernet),set_field:{src}->eth_src,set_field:{dst}->eth_dst,output:{port}"
)
NSH_IP_BACK = (
    "dl_type=0x894f,nsh_spi=0x30,nsh_si=255,actions=decap(),decap(),"
    "encap(ethernet),set_field:{src}->eth_src,set_field:{dst}->eth_dst"
)


def test_nsh_functions_md1_md2_and_ip_next_protocol(lab: LabFactory) -> None:
    bench = _bench(lab)
    a, b = bench.a, bench.b
    md1 = bench.function("md1", 1, mode="nsh", decrement_si=True)
    md2 = bench.function("md2", 2, mode="nsh", single_nic=True)
    overip = bench.function("overip", 3, mode="nsh")
    flows = []
    for fn, to_fn, back, port in ((md1, NSH_MD1, NSH_MD1_BACK, 5000), (md2, NSH_MD2, NSH_MD2_BACK, 5001)):
        steer = to_fn.format(src=a.mac, dst=fn.ingress.mac, port=fn.ingress.ofport)
        flows += [
            f"priority=100,in_port={a.ofport},{l4},tp_dst={port},actions={steer}" for l4 in ("udp", "udp6")
        ]
        flows.append(f"priority=100,in_port={fn.egress.ofport},{back},output:{b.ofport}")
    steer = NSH_IP.format(src=a.mac, dst=overip.ingress.mac, port=overip.ingress.ofport)
    flows += [f"priority=100,in_port={a.ofport},{l4},tp_dst=5002,actions={steer}" for l4 in ("udp", "udp6")]
    back = NSH_IP_BACK.format(src=a.mac, dst=b.mac)
    flows.append(f"priority=100,in_port={overip.egress.ofport},{back},output:{b.ofport}")
    steer = NSH_MD1.format(src=a.mac, dst=md1.ingress.mac, port=md1.ingress.ofport)
    flows += [f"priority=100,in_port={a.ofport},{l4},tp_dst=5001,actions={steer}" for l4 in ("tcp", "tcp6")]
    bench.ch.add_flows(flows)
    for port in (5000, 5001, 5002):
        for ipv6 in (False, True):
            assert udp_transfer(a, b, PAYLOADS, port=port, ipv6=ipv6) == [plus(p, 1) for p in PAYLOADS]
    # Full-size TCP segments fit NSH MD1 + outer Ethernet within the function's MTU.
    assert tcp_transfer(a, b, TCP_PAYLOAD, port=5001) == plus(TCP_PAYLOAD, 1)
    assert tcp_transfer(a, b, TCP_PAYLOAD, port=5001, ipv6=True) == plus(TCP_PAYLOAD, 1)
    assert "nsh md1 spi=0x10 si=255->254 np=3" in md1.log_text()
    assert "nsh md2 spi=0x20 si=255 np=3" in md2.log_text()
    assert "nsh md1 spi=0x30 si=255 np=1" in overip.log_text() and "np=2" in overip.log_text()
    # The outer Ethernet header carries the MACs the steering flow wrote.
    assert f"{a.mac}>{overip.ingress.mac}" in overip.log_text()


def test_functions_are_recorded_stopped_and_torn_down_by_pid(lab: LabFactory) -> None:
    bench = _bench(lab)
    kept, stopped = bench.function("kept", 1), bench.function("stopped", 2, single_nic=True)
    with pytest.raises(LabError, match="already has"):
        bench.function("kept", 3)
    assert Lab.attach(bench.lab.run_dir).functions == {"kept": kept, "stopped": stopped}
    assert kept.alive() and kept.pids() == {"sfemu": kept.pid}
    stopped.stop()
    assert not stopped.alive() and stopped.counters().state == "stopped"
    netns = kept.netns
    bench.lab.teardown()
    assert not pid_alive(kept.pid)
    assert netns not in list_netns() and not kept.run_dir.exists()
