"""Flow classifiers with classification groups as OpenFlow matches: every field, through ofsim.

As in test_classify.py, the classifier's matches are installed in an `ofsim.Switch` (which validates
them as OVS does), all outputting to port 2, and probe packets tell what is classified.
"""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.compiler.classify import ClassifierError, classifier_matches, reversed_classifier
from steerflow.flows.types import Field, Match
from steerflow.model import classification as cls_terms
from steerflow.model.sfc import FlowClassifier
from steerflow.ofsim import Packet, Switch, overlapping
from tests.builders.classification import Definition, terms
from tests.builders.classify import OUT, TCP, UDP, V6, Pkt, fc, switch_for


def grouped(*members: Definition, operator: str = "AND", **attrs: Any) -> FlowClassifier:
    return fc(classification_group_id="cg", group_terms=terms(operator, *members), **attrs)


def probe(pkt: Pkt | None = None, **extra: Any) -> Packet:
    return (pkt or Pkt()).packet().set(**extra)


def classified(classifier: FlowClassifier, packet: Packet) -> bool:
    ports = switch_for(classifier).run(packet).ports
    assert ports in ((), (OUT,))
    return ports == (OUT,)


# --- one field at a time: (definition, a packet it takes, a packet it leaves) --------------------------

FIELD_CASES = [
    (("ethernet", {"src_addr": "02:00:00:00:00:AA"}), probe(eth_src="02:00:00:00:00:aa"),
     probe(eth_src="02:00:00:00:00:ab")),
    (("ethernet", {"dst_addr": "02-00-00-00-00-bb"}), probe(eth_dst="02:00:00:00:00:bb"),
     probe(eth_dst="02:00:00:00:00:bc")),
    (("ethernet", {"vlan_id": 10}), probe(vlan_vid=0x1000 | 10), probe(vlan_vid=0x1000 | 11)),
    (("ethernet", {"vlan_id": 0}), probe(vlan_vid=0x1000), probe()),  # a priority tag, not "untagged"
    (("ethernet", {"ethertype": 0x0800}), probe(), probe(Pkt(V6))),
    (("ipv4", {"src_addr": "192.0.2.0/24"}), probe(Pkt(src="192.0.2.77")), probe(Pkt(src="192.0.3.1"))),
    (("ipv4", {"dst_addr": "198.51.100.20"}), probe(), probe(Pkt(dst="198.51.100.21"))),
    (("ipv4", {"protocol": 17}), probe(Pkt(proto="udp")), probe(Pkt(proto="tcp"))),
    (("ipv4", {"dscp": 46}), probe(ip_dscp=46), probe(ip_dscp=45)),
    (("ipv4", {"dscp": 46, "dscp_mask": 63}), probe(ip_dscp=46), probe(ip_dscp=0)),
    (("ipv4", {"ecn": 3}), probe(ip_ecn=3), probe(ip_ecn=1)),
    (("ipv6", {"src_addr": "2001:db8:a::/48"}), probe(Pkt(V6)), probe(Pkt(V6, src="2001:db8:b::1"))),
    (("ipv6", {"dst_addr": "2001:db8:b::20/128"}), probe(Pkt(V6)), probe(Pkt(V6, dst="2001:db8:b::21"))),
    (("ipv6", {"next_header": 6}), probe(Pkt(V6)), probe(Pkt(V6, proto="udp"))),
    (("ipv6", {"dscp": 46, "ecn": 1}), probe(Pkt(V6), ip_dscp=46, ip_ecn=1), probe(Pkt(V6), ip_dscp=46)),
    (("ipv6", {"traffic_class": 0xB9}), probe(Pkt(V6), ip_dscp=46, ip_ecn=1), probe(Pkt(V6), ip_dscp=46)),
    (("ipv6", {"traffic_class": 0xB8, "traffic_class_mask": 0xFC}), probe(Pkt(V6), ip_dscp=46, ip_ecn=2),
     probe(Pkt(V6), ip_dscp=47)),
    (("ipv6", {"traffic_class": 0x01, "traffic_class_mask": 0x03}), probe(Pkt(V6), ip_ecn=1, ip_dscp=9),
     probe(Pkt(V6), ip_ecn=2)),
    (("tcp", {"src_port_min": 1000, "src_port_max": 1999}), probe(Pkt(sport=1999)), probe(Pkt(sport=2000))),
    (("tcp", {"dst_port_min": 80}), probe(Pkt(dport=65535)), probe(Pkt(dport=79))),
    (("tcp", {"dst_port_max": 80}), probe(Pkt(dport=0)), probe(Pkt(dport=81))),
    (("tcp", {"flags": 0x002}), probe(tcp_flags=0x002), probe(tcp_flags=0x012)),
    (("tcp", {"flags": 0x002, "flags_mask": 0x012}), probe(tcp_flags=0x0C2), probe(tcp_flags=0x012)),
    (("tcp", {}), probe(), probe(Pkt(proto="udp"))),
    (("udp", {"src_port_min": 53, "src_port_max": 53}), probe(Pkt(proto="udp", sport=53)),
     probe(Pkt(proto="udp", sport=54))),
    (("udp", {"dst_port_min": 5000, "dst_port_max": 5100}), probe(Pkt(proto="udp", dport=5100)),
     probe(Pkt(proto="udp", dport=4999))),
    (("udp", {}), probe(Pkt(proto="udp")), probe(Pkt(proto="sctp"))),
]  # fmt: skip


@pytest.mark.parametrize(("member", "taken", "left"), FIELD_CASES)
def test_every_field_takes_its_packets_and_leaves_the_others(
    member: Definition, taken: Packet, left: Packet
) -> None:
    ethertype = V6 if member[0] == "ipv6" or taken.get("eth_type") == 0x86DD else None
    classifier = grouped(member, **({"ethertype": ethertype} if ethertype else {}))
    assert classified(classifier, taken)
    assert not classified(classifier, left)


def test_the_fields_become_the_openflow_matches_ovs_reports() -> None:
    member = ("ipv4", {"dscp": 46, "ecn": 1, "src_addr": "10.0.0.7"})
    ((only,),) = [classifier_matches(grouped(member, ("tcp", {"flags": 0x002})))]
    assert only == Match.of(
        eth_type=0x0800, ipv4_src="10.0.0.7", ip_proto=6, ip_dscp=46, ip_ecn=1, tcp_flags=0x002
    )
    (masked,) = classifier_matches(grouped(("tcp", {"flags": 0x002, "flags_mask": 0x012})))
    assert masked.get("tcp_flags") == Field("tcp_flags", 0x002, 0x012)
    (vlan,) = classifier_matches(grouped(("ethernet", {"vlan_id": 7, "src_addr": "02:00:00:00:00:01"})))
    assert vlan == Match.of(eth_type=0x0800, vlan_vid=0x1007, eth_src="02:00:00:00:00:01")


# --- AND, OR and the classifier's own fields ----------------------------------------------------------


def test_an_or_takes_each_alternative_and_nothing_else() -> None:
    dns = ("udp", {"dst_port_min": 53, "dst_port_max": 53})
    mdns = ("udp", {"dst_port_min": 5353, "dst_port_max": 5353})
    classifier = grouped(dns, mdns, operator="OR")
    assert len(classifier_matches(classifier)) == 2
    for port, expected in ((53, True), (5353, True), (54, False), (5352, False)):
        assert classified(classifier, probe(Pkt(proto="udp", dport=port))) is expected
    assert not classified(classifier, probe(Pkt(proto="tcp", dport=53)))


def test_overlapping_alternatives_share_one_action_so_overlaps_are_harmless() -> None:
    classifier = grouped(
        ("ipv4", {"dscp": 46}), ("udp", {"dst_port_min": 53, "dst_port_max": 53}), operator="OR"
    )
    flows = switch_for(classifier).flows
    assert len(flows) == 2 and overlapping(flows) == []
    Switch(flows, reject_overlaps=True)  # the alternatives behave alike: not an ambiguity
    assert classified(classifier, probe(Pkt(proto="udp", dport=53), ip_dscp=46))
    assert classified(classifier, probe(Pkt(proto="udp", dport=53)))
    assert classified(classifier, probe(Pkt(proto="tcp"), ip_dscp=46))
    assert not classified(classifier, probe(Pkt(proto="tcp")))


def test_the_group_is_anded_with_the_classifier_fields() -> None:
    ef = ("ipv4", {"dscp": 46})
    classifier = grouped(ef, protocol=UDP, destination_port_range_min=53, destination_port_range_max=53,
                         source_ip_prefix="192.0.2.0/24")  # fmt: skip
    assert classified(classifier, probe(Pkt(proto="udp", dport=53), ip_dscp=46))
    assert not classified(classifier, probe(Pkt(proto="udp", dport=53)))
    assert not classified(classifier, probe(Pkt(proto="udp", dport=54), ip_dscp=46))
    assert not classified(classifier, probe(Pkt(src="192.0.3.1", proto="udp", dport=53), ip_dscp=46))


def test_narrower_fields_win_and_contradicting_alternatives_drop_out() -> None:
    either = (("tcp", {"dst_port_min": 80, "dst_port_max": 89}), ("udp", {}))
    classifier = grouped(*either, operator="OR", protocol=TCP, destination_port_range_min=85)
    assert classifier.terms() == (cls_terms.term({"eth_type": 0x0800, "ip_proto": 6, "tcp_dst": (85, 89)}),)
    assert classified(classifier, probe(Pkt(dport=89)))
    assert not classified(classifier, probe(Pkt(dport=84)))
    assert not classified(classifier, probe(Pkt(dport=90)))
    nested = grouped(("ipv4", {"src_addr": "192.0.2.0/24"}), source_ip_prefix="192.0.2.128/25")
    assert classified(nested, probe(Pkt(src="192.0.2.200")))
    assert not classified(nested, probe(Pkt(src="192.0.2.1")))


def test_a_classifier_contradicting_its_whole_group_is_refused_by_the_compiler() -> None:
    with pytest.raises(ClassifierError, match="contradict every term"):
        classifier_matches(grouped(("udp", {}), protocol=TCP))


def test_the_reverse_direction_swaps_the_group_fields() -> None:
    member = ("ethernet", {"src_addr": "02:00:00:00:00:01"})
    ports = ("udp", {"src_port_min": 5000, "src_port_max": 5000, "dst_port_min": 53, "dst_port_max": 53})
    address = ("ipv4", {"src_addr": "192.0.2.10"})
    back = reversed_classifier(grouped(member, ports, address))
    taken = probe(Pkt(src="198.51.100.20", dst="192.0.2.10", proto="udp", sport=53, dport=5000),
                  eth_dst="02:00:00:00:00:01")  # fmt: skip
    assert classified(back, taken)
    assert not classified(back, taken.set(udp_src=5000, udp_dst=53))
    assert not classified(back, taken.set(eth_dst="02:00:00:00:00:02"))
