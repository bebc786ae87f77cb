"""Classifier matches on a real ovs-vswitchd: installed as flow-mods, read back unchanged, same verdicts.

The matches of a set of classifiers covering every field go in through the Reconciler (real OpenFlow
1.3 flow-mods, which OVS refuses when a prerequisite is missing, unlike ovs-ofctl that would drop the
field); the switch must hold exactly them, a second reconciler must send nothing (they are canonical),
ovs-ofctl must read their text the same way, and `ofproto/trace` must classify the same packets as ofsim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from steerflow.compiler.classify import NEIGHBOUR_DISCOVERY, classifier_matches
from steerflow.compiler.compile import DesiredState
from steerflow.flows.types import Flow, FlowKey, Output
from steerflow.model.sfc import Ethertype, FlowClassifier, Protocol
from steerflow.ofsim import Switch
from tests.builders.classification import terms
from tests.builders.classify import Pkt
from tests.builders.ovs_fixtures import OvsSandbox, sandbox_or_skip
from tests.builders.reconciler import (
    apply_fresh,
    channel_to,
    dump_text,
    reference_bridge,
    switch_state,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

V4, V6 = Ethertype.IPV4, Ethertype.IPV6
CLASSIFIERS = [
    FlowClassifier(
        id="v4-prefixes", source_ip_prefix="192.0.2.77/24", destination_ip_prefix="198.51.100.9/32"
    ),
    FlowClassifier(id="v4-icmp", protocol=Protocol.ICMP, destination_ip_prefix="0.0.0.0/1"),
    FlowClassifier(
        id="v4-tcp-ranges",
        protocol=Protocol.TCP,
        source_ip_prefix="203.0.113.0/24",  # rule 29: classifiers of different chains never overlap
        source_port_range_min=1000,
        source_port_range_max=2000,
        destination_port_range_min=1,
        destination_port_range_max=65534,
    ),
    FlowClassifier(
        id="v6-udp-prefixes",
        ethertype=V6,
        protocol=Protocol.UDP,
        source_ip_prefix="2001:db8:1:2::99/64",
        destination_ip_prefix="2001:db8::1/128",
        destination_port_range_min=53,
        destination_port_range_max=53,
    ),
    FlowClassifier(id="v6-icmp", ethertype=V6, protocol=Protocol.ICMP),
    FlowClassifier(id="v6-tcp-open", ethertype=V6, protocol=Protocol.TCP, source_port_range_min=1024),
    # a classification group's fields: MACs, VLAN, DSCP, ECN, TCP flags (masked and exact)
    FlowClassifier(
        id="v4-grouped",
        source_ip_prefix="100.64.0.0/24",
        destination_ip_prefix="128.0.0.0/2",
        classification_group_id="cg",
        group_terms=terms(
            "OR",
            ("ethernet", {"src_addr": "02:00:00:00:00:aa", "vlan_id": 10}),
            ("ipv4", {"dscp": 46, "ecn": 1}),
            ("tcp", {"flags": 0x002, "flags_mask": 0x012, "dst_port_min": 443, "dst_port_max": 443}),
            ("tcp", {"flags": 0x011, "dst_port_min": 22, "dst_port_max": 22}),
            ("ethernet", {"dst_addr": "02:00:00:00:00:bb"}),
        ),
    ),
]
PACKETS = [
    Pkt("IPv4", src="192.0.2.1", dst="198.51.100.9", proto="sctp"),
    Pkt("IPv4", src="192.0.3.1", dst="198.51.100.9", proto="sctp"),
    Pkt("IPv4", dst="127.0.0.1", proto="icmp4"),
    Pkt("IPv4", dst="128.0.0.1", proto="icmp4"),
    Pkt("IPv4", src="203.0.113.5", proto="tcp", sport=1000, dport=65534),
    Pkt("IPv4", src="203.0.113.5", proto="tcp", sport=2001, dport=80),
    Pkt("IPv4", src="203.0.113.5", proto="tcp", sport=1500, dport=65535),
    Pkt("IPv4", src="203.0.113.5", proto="udp", sport=1500, dport=80),
    Pkt("IPv6", src="2001:db8:1:2::5", dst="2001:db8::1", proto="udp", dport=53),
    Pkt("IPv6", src="2001:db8:1:3::5", dst="2001:db8::1", proto="udp", dport=53),
    Pkt("IPv6", src="2001:db8:1:2::5", dst="2001:db8::1", proto="udp", dport=54),
    Pkt("IPv6", proto="icmp6"),
    Pkt("IPv6", proto="icmp4"),
    Pkt("IPv6", proto="tcp", sport=1024),
    Pkt("IPv6", proto="tcp", sport=1023),
    Pkt("arp"),
]
GROUPED = Pkt("IPv4", src="100.64.0.5", dst="172.16.0.1", proto="udp")
GROUPED_TCP = Pkt("IPv4", src="100.64.0.5", dst="172.16.0.1", proto="tcp", dport=443)
PROBES = [
    GROUPED.packet().set(ip_dscp=46, ip_ecn=1),
    GROUPED.packet().set(ip_dscp=46, ip_ecn=0),
    GROUPED_TCP.packet().set(tcp_flags=0x0C2),
    GROUPED_TCP.packet().set(tcp_flags=0x012),
    GROUPED_TCP.packet().set(tcp_dst=22, tcp_flags=0x011),
    GROUPED_TCP.packet().set(tcp_dst=22, tcp_flags=0x010),
    GROUPED.packet().set(eth_dst="02:00:00:00:00:bb"),
    GROUPED.packet().set(eth_dst="02:00:00:00:00:bc"),
]
BYPASS, INGRESS = 3, 4


def flows() -> dict[FlowKey, Flow]:
    """One output port per classifier (ports 10, 11, ...): classifiers of one table never overlap."""
    built = [
        Flow(0, 100, m, (Output(10 + i),)) for i, fc in enumerate(CLASSIFIERS) for m in classifier_matches(fc)
    ]
    built += [Flow(0, 200, m, (Output(BYPASS),)) for m in NEIGHBOUR_DISCOVERY]
    return {f.key: f for f in built}


@pytest.fixture
def switch() -> Iterator[OvsSandbox]:
    yield from sandbox_or_skip()


def test_classifier_matches_install_as_flow_mods_and_read_back_unchanged(switch: OvsSandbox) -> None:
    state = DesiredState(flows(), {})
    assert len(state.flows) > 240
    Switch(state.flows.values(), reject_overlaps=True)

    async def run() -> None:
        first = await apply_fresh(switch, state, 1)
        assert first.flow_mods_sent == len(state.flows)
        async with channel_to(switch) as channel:
            assert (await switch_state(channel))[0] == state.flows
        again = await apply_fresh(switch, state, 2)
        assert again.flow_mods_sent == 0

    asyncio.run(run())
    ref = reference_bridge(switch)
    text = switch.rundir / "classify-flows.txt"
    text.write_text("".join(f"{f}\n" for f in state.flows.values()))
    switch.run("ovs-ofctl", "-O", "OpenFlow13", "add-flows", ref, str(text))
    assert dump_text(switch) == dump_text(switch, ref)


def test_ovs_classifies_the_same_packets_as_ofsim(switch: OvsSandbox) -> None:
    desired = flows()
    for port in (BYPASS, INGRESS, *range(10, 10 + len(CLASSIFIERS))):
        iface = ["--", "set", "interface", f"p{port}", "type=internal", f"ofport_request={port}"]
        switch.vsctl("add-port", switch.bridge, f"p{port}", *iface)
    text = switch.rundir / "flows.txt"
    text.write_text("".join(f"{f}\n" for f in desired.values()))
    switch.ofctl("add-flows", str(text))
    sim = Switch(desired.values())
    ctl = str(Path(switch.rundir) / "ovs-vswitchd.ctl")
    verdicts = []
    solicitation = Pkt("IPv6", proto="icmp6").packet().set(icmpv6_type=135)  # takes the ND bypass
    for sent in [*(p.packet() for p in PACKETS), *PROBES, solicitation]:
        packet = sent.set(in_port=INGRESS)
        trace = switch.run("ovs-appctl", "-t", ctl, "ofproto/trace", switch.bridge, packet.ovs_flow())
        rule = next(line for line in trace.splitlines() if line.startswith(" 0. "))
        port = next((int(line.split(":")[1]) for line in trace.splitlines() if "output:" in line), None)
        expected = sim.run(packet).ports
        verdicts.append((packet, port, expected))
        assert (port,) == expected if expected else "No match" in rule, (packet, trace)
    classified = [v for v in verdicts if v[2]]
    assert 11 <= len(classified) < len(verdicts)
    assert verdicts[-1][1] == BYPASS
