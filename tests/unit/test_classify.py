"""Flow classifiers as OpenFlow matches: every field, positive and negative packets through ofsim.

Each classifier's matches are installed in an `ofsim.Switch` (which validates them as OVS does) as one
flow per match, all outputting to port 2; a packet is classified when it leaves through port 2.
The hypothesis properties are in test_classify_properties.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.compiler.classify import (
    MAX_PORT_MASKS,
    NEIGHBOUR_DISCOVERY,
    ClassifierError,
    classifier_matches,
    classifier_priorities,
    classifier_spec,
    match_volume,
    reversed_classifier,
)
from steerflow.flows.types import Field, Flow, Match, Output
from steerflow.model.sfc import Ethertype, FlowClassifier, PortId, Protocol
from steerflow.ofsim import Switch
from tests.builders.classify import ICMP, OUT, TCP, UDP, V4, V6, Pkt, fc, switch_for


def classified(classifier: FlowClassifier, pkt: Pkt) -> bool:
    ports = switch_for(classifier).run(pkt.packet()).ports
    assert ports in ((), (OUT,))
    return ports == (OUT,)


# --- prefixes --------------------------------------------------------------------------------------

PREFIX_CASES = [
    # (ethertype, prefix, address, matches)
    (V4, "192.0.2.10/32", "192.0.2.10", True),
    (V4, "192.0.2.10/32", "192.0.2.11", False),
    (V4, "192.0.2.10/32", "192.0.2.9", False),
    (V4, "192.0.2.77/24", "192.0.2.0", True),  # host bits in the prefix are dropped
    (V4, "192.0.2.77/24", "192.0.2.255", True),
    (V4, "192.0.2.77/24", "192.0.1.255", False),
    (V4, "192.0.2.77/24", "192.0.3.0", False),
    (V4, "0.0.0.0/1", "127.255.255.255", True),
    (V4, "0.0.0.0/1", "128.0.0.0", False),
    (V4, "0.0.0.0/0", "255.255.255.255", True),
    (V6, "2001:db8::1/128", "2001:db8::1", True),
    (V6, "2001:db8::1/128", "2001:db8::2", False),
    (V6, "2001:db8::1/128", "2001:db8::", False),
    (V6, "2001:db8:1:2::99/64", "2001:db8:1:2:ffff:ffff:ffff:ffff", True),
    (V6, "2001:db8:1:2::99/64", "2001:db8:1:2::", True),
    (V6, "2001:db8:1:2::99/64", "2001:db8:1:3::", False),
    (V6, "2001:db8:1:2::99/64", "2001:db8:1:1:ffff:ffff:ffff:ffff", False),
    (V6, "::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", True),
    (V6, "::/1", "8000::", False),
    (V6, "::/0", "ffff::1", True),
]


@pytest.mark.parametrize("side", ["source", "destination"])
@pytest.mark.parametrize(("ethertype", "prefix", "address", "expected"), PREFIX_CASES)
def test_prefix(side: str, ethertype: Ethertype, prefix: str, address: str, expected: bool) -> None:
    classifier = fc(ethertype=ethertype, **{f"{side}_ip_prefix": prefix})
    pkt = Pkt(ethertype, src=address) if side == "source" else Pkt(ethertype, dst=address)
    assert classified(classifier, pkt) is expected


def test_prefix_fields_are_exact_masked_or_absent() -> None:
    assert classifier_matches(fc(source_ip_prefix="10.0.0.5/32", destination_ip_prefix="0.0.0.0/0")) == (
        Match.of(eth_type=0x0800, ipv4_src="10.0.0.5"),
    )
    (v6,) = classifier_matches(fc(ethertype=V6, destination_ip_prefix="2001:db8::7/64"))
    assert v6.get("ipv6_dst") == Field("ipv6_dst", "2001:db8::", "ffff:ffff:ffff:ffff::")
    (host6,) = classifier_matches(fc(ethertype=V6, source_ip_prefix="2001:db8::7/128"))
    assert host6.get("ipv6_src") == Field("ipv6_src", "2001:db8::7")


# --- protocols and ethertypes ----------------------------------------------------------------------

PROTOCOL_CASES = [
    # (ethertype, classifier protocol, packet protocol, matches)
    (V4, TCP, "tcp", True),
    (V4, TCP, "udp", False),
    (V4, TCP, "icmp4", False),
    (V4, UDP, "udp", True),
    (V4, UDP, "tcp", False),
    (V4, UDP, "sctp", False),
    (V4, ICMP, "icmp4", True),
    (V4, ICMP, "icmp6", False),  # ip_proto 58 inside IPv4 is not ICMP
    (V4, ICMP, "tcp", False),
    (V6, TCP, "tcp", True),
    (V6, TCP, "udp", False),
    (V6, UDP, "udp", True),
    (V6, UDP, "icmp6", False),
    (V6, ICMP, "icmp6", True),
    (V6, ICMP, "icmp4", False),  # ip_proto 1 inside IPv6 is not ICMPv6
    (V6, ICMP, "none", False),
]


@pytest.mark.parametrize(("ethertype", "protocol", "proto", "expected"), PROTOCOL_CASES)
def test_protocol(ethertype: Ethertype, protocol: Protocol, proto: str, expected: bool) -> None:
    assert classified(fc(ethertype=ethertype, protocol=protocol), Pkt(ethertype, proto=proto)) is expected


@pytest.mark.parametrize("ethertype", [V4, V6])
@pytest.mark.parametrize("proto", ["tcp", "udp", "icmp4", "icmp6", "sctp", "none"])
def test_a_classifier_without_fields_takes_every_ip_packet_of_its_ethertype(
    ethertype: Ethertype, proto: str
) -> None:
    assert classifier_matches(fc(ethertype=ethertype)) == (Match.of(eth_type=int(_eth(ethertype))),)
    assert classified(fc(ethertype=ethertype), Pkt(ethertype, proto=proto))
    other = V6 if ethertype is V4 else V4
    assert not classified(fc(ethertype=ethertype), Pkt(other, proto=proto))


@pytest.mark.parametrize(
    "classifier",
    [
        fc(),
        fc(ethertype=V6),
        fc(protocol=UDP),
        fc(source_ip_prefix="192.0.2.0/24"),
        fc(ethertype=V6, protocol=ICMP),
    ],
    ids=["ipv4", "ipv6", "udp", "prefix", "icmp6"],
)
def test_arp_is_never_classified(classifier: FlowClassifier) -> None:
    assert not classified(classifier, Pkt("arp"))


def _eth(ethertype: Ethertype) -> int:
    return 0x0800 if ethertype is V4 else 0x86DD


def test_icmp_matches_its_ip_version_protocol_and_no_ports() -> None:
    assert classifier_matches(fc(protocol=ICMP)) == (Match.of(eth_type=0x0800, ip_proto=1),)
    assert classifier_matches(fc(ethertype=V6, protocol=ICMP)) == (Match.of(eth_type=0x86DD, ip_proto=58),)


# --- L4 port ranges --------------------------------------------------------------------------------

RANGE_CASES = [
    # (min, max, port, matches)
    (1000, 2000, 999, False),
    (1000, 2000, 1000, True),
    (1000, 2000, 1500, True),
    (1000, 2000, 2000, True),
    (1000, 2000, 2001, False),
    (None, 1023, 0, True),
    (None, 1023, 1023, True),
    (None, 1023, 1024, False),
    (1024, None, 1023, False),
    (1024, None, 1024, True),
    (1024, None, 65535, True),
    (80, 80, 79, False),
    (80, 80, 80, True),
    (80, 80, 81, False),
    (0, 65535, 0, True),
    (0, 65535, 65535, True),
    (1, 65534, 0, False),
    (1, 65534, 1, True),
    (1, 65534, 65534, True),
    (1, 65534, 65535, False),
]


@pytest.mark.parametrize("proto", ["tcp", "udp"])
@pytest.mark.parametrize("side", ["source", "destination"])
# not the NB schema: an L4 port
@pytest.mark.parametrize(("lo", "hi", "port", "expected"), RANGE_CASES)
def test_port_range(proto: str, side: str, lo: int | None, hi: int | None, port: int, expected: bool) -> None:
    for ethertype in (V4, V6):
        classifier = fc(
            ethertype=ethertype,
            protocol=Protocol(proto),
            **{f"{side}_port_range_min": lo, f"{side}_port_range_max": hi},
        )
        sport, dport = (port, 80) if side == "source" else (40000, port)
        assert classified(classifier, Pkt(ethertype, proto=proto, sport=sport, dport=dport)) is expected
        other = "udp" if proto == "tcp" else "tcp"  # the right port under the wrong protocol
        assert not classified(classifier, Pkt(ethertype, proto=other, sport=sport, dport=dport))


@pytest.mark.parametrize(
    ("sport", "dport", "expected"),
    [(1000, 80, True), (2000, 90, True), (999, 80, False), (1000, 91, False), (2001, 79, False)],
)
def test_source_and_destination_ranges_together(sport: int, dport: int, expected: bool) -> None:
    classifier = fc(
        protocol=TCP,
        source_port_range_min=1000,
        source_port_range_max=2000,
        destination_port_range_min=80,
        destination_port_range_max=90,
    )
    assert classified(classifier, Pkt(proto="tcp", sport=sport, dport=dport)) is expected


def test_port_fields_are_exact_masked_or_absent() -> None:
    assert classifier_matches(
        fc(protocol=UDP, destination_port_range_min=53, destination_port_range_max=53)
    ) == (Match.of(eth_type=0x0800, ip_proto=17, udp_dst=53),)
    assert classifier_matches(fc(protocol=TCP, source_port_range_min=0, source_port_range_max=65535)) == (
        Match.of(eth_type=0x0800, ip_proto=6),
    )
    (masked,) = classifier_matches(fc(protocol=TCP, source_port_range_min=1024, source_port_range_max=2047))
    assert masked.get("tcp_src") == Field("tcp_src", 1024, 0xFC00)


def test_two_ranges_give_the_cross_product_of_their_blocks_all_disjoint() -> None:
    wide = fc(
        protocol=UDP,
        source_port_range_min=1000,
        source_port_range_max=2000,
        destination_port_range_min=1,
        destination_port_range_max=65534,
    )
    matches = classifier_matches(wide)
    assert len(matches) == 8 * 30 == len(set(matches))
    flows = [Flow(0, 100, m, (Output(OUT),)) for m in matches]
    Switch(flows, reject_overlaps=True)  # no two can match one packet


def test_the_worst_case_is_30_by_30() -> None:
    worst = fc(
        protocol=TCP,
        source_port_range_min=1,
        source_port_range_max=65534,
        destination_port_range_min=1,
        destination_port_range_max=65534,
    )
    assert len(classifier_matches(worst)) == MAX_PORT_MASKS**2 == 900
    assert len(switch_for(worst).flows) == 900


# --- what the API refuses, the compiler refuses too ----------------------------------------------


@pytest.mark.parametrize(
    "attrs",
    [
        {"protocol": ICMP, "destination_port_range_min": 1},
        {"protocol": None, "source_port_range_max": 80},
        {"ethertype": V4, "source_ip_prefix": "2001:db8::/64"},
        {"ethertype": V6, "destination_ip_prefix": "10.0.0.0/8"},
        {"protocol": TCP, "source_port_range_min": 90, "source_port_range_max": 80},
        {"l7_parameters": (("url", "x"),)},
    ],
    ids=["icmp-ports", "no-protocol-ports", "v6-prefix-on-v4", "v4-prefix-on-v6", "reversed-range", "l7"],
)
def test_classifiers_the_api_refuses_raise_instead_of_widening(attrs: dict[str, Any]) -> None:
    with pytest.raises(ClassifierError):
        classifier_matches(fc(**attrs))


# --- what the chain compiler uses -----------------------------------------------------------------


def test_spec_hands_the_logical_ports_to_the_chain_compiler() -> None:
    classifier = fc(
        id="c1",
        protocol=TCP,
        destination_port_range_min=80,
        destination_port_range_max=81,
        logical_source_port=PortId("p-src"),
        logical_destination_port=PortId("p-dst"),
    )
    spec = classifier_spec(classifier)
    assert (spec.classifier, spec.source_port, spec.destination_port) == ("c1", "p-src", "p-dst")
    assert (
        spec.matches
        == classifier_matches(classifier)
        == (Match.of(eth_type=0x0800, ip_proto=6, tcp_dst=(80, 0xFFFE)),)
    )
    assert classifier_spec(fc()).source_port is None


def test_reversed_classifier_swaps_sources_and_destinations() -> None:
    forward = fc(
        protocol=UDP,
        source_ip_prefix="192.0.2.0/24",
        source_port_range_min=1000,
        source_port_range_max=2000,
        destination_port_range_min=53,
        destination_port_range_max=53,
        logical_source_port=PortId("a"),
    )
    back = reversed_classifier(forward)
    assert (back.destination_ip_prefix, back.source_ip_prefix) == ("192.0.2.0/24", None)
    assert (back.logical_destination_port, back.logical_source_port) == ("a", None)
    assert classified(back, Pkt(dst="192.0.2.7", proto="udp", sport=53, dport=1500))
    assert not classified(back, Pkt(src="192.0.2.7", proto="udp", sport=1500, dport=53))
    assert reversed_classifier(back) == forward


def test_neighbour_discovery_bypasses_an_ipv6_icmp_classifier_above_it() -> None:
    chain = [Flow(0, 100, m, (Output(OUT),)) for m in classifier_matches(fc(ethertype=V6, protocol=ICMP))]
    bypass = [Flow(0, 200, m, (Output(3),)) for m in NEIGHBOUR_DISCOVERY]
    switch = Switch(chain + bypass)
    echo = Pkt(V6, proto="icmp6").packet()
    assert switch.run(echo).ports == (OUT,)
    for nd_type in range(133, 138):
        assert switch.run(echo.set(icmpv6_type=nd_type)).ports == (3,)
    assert Switch(chain).run(echo.set(icmpv6_type=135)).ports == (OUT,)  # why the bypass is needed


# --- priorities within one chain ------------------------------------------------------------------

NARROWINGS = [
    ({}, {"protocol": TCP}),
    (
        {"protocol": TCP},
        {"protocol": TCP, "destination_port_range_min": 1, "destination_port_range_max": 65535},
    ),
    ({"source_ip_prefix": "10.0.0.0/8"}, {"source_ip_prefix": "10.1.0.0/16"}),
    ({"protocol": UDP}, {"protocol": UDP, "source_ip_prefix": "0.0.0.0/1"}),
    ({}, {"logical_source_port": PortId("p")}),
    ({"protocol": ICMP}, {"protocol": ICMP, "destination_ip_prefix": "10.0.0.1/32"}),
]


@pytest.mark.parametrize(("wide", "narrow"), NARROWINGS)
def test_the_more_specific_of_two_overlapping_classifiers_wins(
    wide: dict[str, Any], narrow: dict[str, Any]
) -> None:
    outer, inner = fc(id="a-outer", **wide), fc(id="z-inner", **narrow)
    assert match_volume(inner) < match_volume(outer)
    priorities = {str(k): v for k, v in classifier_priorities([outer, inner], top=500).items()}
    assert priorities == {"z-inner": 500, "a-outer": 499}
    flows = [Flow(0, priorities["a-outer"], m, (Output(3),)) for m in classifier_matches(outer)]
    flows += [Flow(0, priorities["z-inner"], m, (Output(OUT),)) for m in classifier_matches(inner)]
    packet = Pkt(
        src="10.1.2.3", dst="10.0.0.1", proto=str(narrow.get("protocol") or "tcp").replace("icmp", "icmp4")
    )
    assert Switch(flows).run(packet.packet()).ports == (OUT,)


def test_priorities_are_distinct_deterministic_and_bounded() -> None:
    chain = [
        fc(id="b", protocol=TCP),
        fc(id="a", protocol=UDP),  # same volume as b: the id decides
        fc(id="c"),
        fc(id="d", protocol=TCP, destination_port_range_min=80, destination_port_range_max=80),
    ]
    expected = {"d": 10, "a": 9, "b": 8, "c": 7}
    assert classifier_priorities(chain, top=10) == expected
    assert classifier_priorities(reversed(chain + chain), top=10) == expected
    with pytest.raises(ClassifierError):
        classifier_priorities(chain, top=10, lowest=8)
