"""ofsim.Packet: field names and values, visibility under encapsulation, MPLS and NSH layers, immutability."""

from __future__ import annotations

import dataclasses

import pytest

from steerflow.flows import NshTlv
from steerflow.ofsim import Packet, PipelineError, UnknownField

TCP: dict[str, int | str] = {
    "in_port": 3,
    "eth_src": "02:00:00:00:00:01",
    "eth_dst": "02:00:00:00:00:02",
    "eth_type": 0x0800,
    "ipv4_src": "10.0.0.1",
    "ipv4_dst": "10.0.0.2",
    "ip_proto": 6,
    "ip_dscp": 46,
    "nw_ttl": 33,
    "tcp_src": 40000,
    "tcp_dst": 80,
}


def tcp_packet() -> Packet:
    return Packet.of(**TCP).with_payload(b"hello")


def test_fields_read_back_canonical_under_any_spelling() -> None:
    p = Packet.of(in_port=1, dl_src="02:AA:BB:CC:DD:EE", dl_type=0x0800, nw_src="10.0.0.1", tun_id=7)
    assert p["eth_src"] == "02:aa:bb:cc:dd:ee"
    assert p["dl_src"] == "02:aa:bb:cc:dd:ee"
    assert p["ipv4_src"] == "10.0.0.1"
    assert p["tunnel_id"] == 7 and p.get("tun_id") == 7
    assert p.value("ipv4_src") == 0x0A000001
    assert set(p) == {"in_port", "tunnel_id", "eth_src", "eth_type", "ipv4_src"}


def test_ipv6_and_arp_fields() -> None:
    v6 = Packet.of(eth_type=0x86DD, ipv6_src="2001:DB8::0001", ip_proto=58, icmpv6_type=135)
    assert v6["ipv6_src"] == "2001:db8::1"
    assert v6["icmpv6_type"] == 135
    arp = Packet.of(eth_type=0x0806, arp_op=1, arp_spa="10.0.0.1", arp_sha="02:00:00:00:00:01")
    assert arp["arp_spa"] == "10.0.0.1" and arp["arp_op"] == 1


def test_unknown_fields_raise_instead_of_reading_absent() -> None:
    p = tcp_packet()
    with pytest.raises(UnknownField):
        p.get("tcp_dport")
    with pytest.raises(UnknownField):
        Packet.of(bogus=1)


def test_values_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bits"):
        Packet.of(tcp_dst=70000)


def test_updates_are_immutable() -> None:
    p = tcp_packet()
    q = p.set(reg6=5, eth_dst="02:00:00:00:00:09")
    assert p.get("reg6") is None and p["eth_dst"] == "02:00:00:00:00:02"
    assert q["reg6"] == 5 and q["eth_dst"] == "02:00:00:00:00:09"
    assert q.without("reg6").set(eth_dst="02:00:00:00:00:02") == p
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.meta = ()  # type: ignore[misc]
    assert hash(p) == hash(tcp_packet()) and p == tcp_packet()


def test_a_field_whose_prerequisites_fail_is_hidden() -> None:
    udp = Packet.of(eth_type=0x0800, ip_proto=17, udp_dst=53, tcp_dst=80)
    assert "tcp_dst" not in udp and udp.get("tcp_dst") is None
    assert udp["udp_dst"] == 53
    assert udp.value("tcp_dst") == 80  # still stored, as OVS keeps it in its flow struct


def test_push_mpls_takes_tc_and_ttl_from_the_ip_header_and_hides_it() -> None:
    p = tcp_packet().push_mpls()
    assert p["eth_type"] == 0x8847
    assert (p["mpls_label"], p["mpls_tc"], p["mpls_ttl"], p["mpls_bos"]) == (0, 46 & 7, 33, 1)
    assert "ipv4_src" not in p and "tcp_dst" not in p
    non_ip = Packet.of(eth_type=0x0806).push_mpls()
    assert (non_ip["mpls_ttl"], non_ip["mpls_tc"]) == (64, 0)


def test_second_label_copies_the_top_and_clears_bottom_of_stack() -> None:
    p = tcp_packet().push_mpls().set(mpls_label=17).push_mpls().set(mpls_label=99)
    assert (p["mpls_label"], p["mpls_bos"]) == (99, 0)
    assert [e.label for e in p.mpls] == [99, 17]
    inner = p.pop_mpls(0x8847)
    assert (inner["mpls_label"], inner["mpls_bos"]) == (17, 1)


def test_mpls_round_trip_restores_the_ethertype_and_headers() -> None:
    p = tcp_packet()
    back = p.push_mpls().set(mpls_label=17, mpls_tc=5).pop_mpls(0x0800)
    assert back == p
    assert back["ipv4_dst"] == "10.0.0.2" and back["tcp_dst"] == 80


def test_pop_mpls_refuses_ethertypes_that_would_corrupt_the_packet() -> None:
    labelled = tcp_packet().push_mpls()
    with pytest.raises(PipelineError, match="under the label is 0x0800"):
        labelled.pop_mpls(0x86DD)
    with pytest.raises(PipelineError, match="not the bottom"):
        labelled.push_mpls().pop_mpls(0x0800)
    with pytest.raises(PipelineError, match="no MPLS label"):
        tcp_packet().pop_mpls(0x0800)


def test_packet_built_with_a_label() -> None:
    p = Packet.of(in_port=2, eth_type=0x8847, mpls_label=1001, mpls_ttl=9)
    assert (p["mpls_label"], p["mpls_ttl"], p["mpls_bos"]) == (1001, 9, 1)
    assert p.pop_mpls(0x0800)["eth_type"] == 0x0800  # the payload type was not given: any is taken


def test_encap_nsh_wraps_the_frame_without_an_ethernet_header() -> None:
    p = tcp_packet().set(reg6=4).encap_nsh()
    assert p["packet_type"] == "(1,0x894f)" or p.value("packet_type") == (1 << 16) | 0x894F
    assert "eth_src" not in p and "ipv4_src" not in p
    assert (p["nsh_spi"], p["nsh_si"], p["nsh_np"], p["nsh_ttl"], p["nsh_mdtype"]) == (0, 255, 3, 63, 1)
    assert p["reg6"] == 4  # pipeline metadata stays with the packet
    framed = p.set(nsh_spi=0x123, nsh_si=254, nsh_c1=7).encap_ethernet()
    assert framed.value("packet_type") == 0
    assert (framed["eth_src"], framed["eth_type"], framed["nsh_c1"]) == ("00:00:00:00:00:00", 0x894F, 7)


def test_nsh_decap_returns_the_original_frame_and_payload() -> None:
    p = tcp_packet()
    wrapped = p.encap_nsh().set(nsh_spi=9).encap_ethernet().set(eth_dst="02:00:00:00:00:77")
    stripped = wrapped.decap()
    assert stripped.value("packet_type") == (1 << 16) | 0x894F and "eth_dst" not in stripped
    inner = stripped.decap()
    assert inner == p
    assert inner.payload == b"hello"


def test_nsh_md2_carries_tlvs_and_no_context_words() -> None:
    tlv = NshTlv(0x1000, 10, b"\x12\x34\x56\x78")
    p = tcp_packet().encap_nsh(md_type=2, tlvs=(tlv,))
    assert p["nsh_mdtype"] == 2 and p.nsh is not None and p.nsh.tlvs == (tlv,)
    assert "nsh_c1" not in p  # context words exist only in MD type 1
    assert "md2 tlv(0x1000,10,0x12345678)" in str(p)


def test_packet_built_with_nsh_fields_decaps_to_a_bare_frame_of_its_next_protocol() -> None:
    p = Packet.of(in_port=1, eth_type=0x894F, nsh_spi=5, nsh_si=200, nsh_np=1)
    assert (p["nsh_spi"], p["nsh_si"]) == (5, 200)
    ip = p.decap().decap()
    assert ip.value("packet_type") == (1 << 16) | 0x0800


def test_decap_errors() -> None:
    with pytest.raises(PipelineError, match="VLAN"):
        Packet.of(vlan_vid=0x1005).decap()
    with pytest.raises(PipelineError, match="cannot decap"):
        Packet.of(eth_type=0x0800).decap().decap()
    with pytest.raises(PipelineError, match="already has an Ethernet"):
        tcp_packet().encap_ethernet()


def test_rendering_is_ovs_flow_syntax() -> None:
    text = tcp_packet().set(reg6=0x20).ovs_flow()
    assert text.startswith("in_port=3,reg6=0x20,eth_src=02:00:00:00:00:01")
    assert "eth_type=0x0800" in text and "nw_src=10.0.0.1" in text and "tcp_dst=80" in text
    assert "payload 5 bytes" in str(tcp_packet())
    two = tcp_packet().push_mpls().push_mpls()
    assert "mpls stack [0/tc=6/ttl=33,0/tc=6/ttl=33]" in str(two)


def test_parse_ovs_flow_syntax() -> None:
    p = Packet.parse(
        "in_port=3,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80,dl_dst=02:00:00:00:00:02,reg6=0x5"
    )
    assert (p["eth_type"], p["ip_proto"], p["tcp_dst"], p["reg6"]) == (0x0800, 6, 80, 5)
    assert p["ipv4_dst"] == "10.0.0.2" and p["eth_dst"] == "02:00:00:00:00:02"
    assert Packet.parse("udp6,ipv6_src=2001:db8::1,tp_src=53")["udp_src"] == 53
    nsh = Packet.parse("packet_type=(1,0x894f),nsh_spi=0x123,nsh_si=254")
    assert not nsh.frame.ethernet and (nsh["nsh_spi"], nsh["nsh_si"]) == (0x123, 254)
    labelled = Packet.parse("in_port=9,mpls,mpls_label=1001,mpls_ttl=64")
    assert labelled["mpls_label"] == 1001
    with pytest.raises(UnknownField):
        Packet.parse("in_port=1,tcpp")


def test_parse_reads_back_what_ovs_flow_writes() -> None:
    for packet in (tcp_packet().with_payload(b""), tcp_packet().push_mpls().set(mpls_label=7)):
        again = Packet.parse(packet.ovs_flow())
        assert again.ovs_flow() == packet.ovs_flow()
    assert Packet.parse(tcp_packet().ovs_flow()) == tcp_packet().with_payload(b"")
