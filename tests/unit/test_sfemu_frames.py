"""The service function emulator's frame rewrite: payload + N, valid L4 checksums, every other byte kept.

Frames are built here with struct and a checksum written independently of the module under test, so
`rewrite(build(payload)) == build(payload + N)` checks the payload, the checksum and every other byte.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steerflow.lab.sfframes import Ignored, Mode, parse_nsh, rewrite_frame, with_vlan_tag

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
V4_A, V4_B = ipaddress.ip_address("203.0.113.1").packed, ipaddress.ip_address("203.0.113.2").packed
V6_A, V6_B = ipaddress.ip_address("2001:db8::1").packed, ipaddress.ip_address("2001:db8::2").packed
ETH_IPV4, ETH_IPV6, ETH_MPLS, ETH_NSH = 0x0800, 0x86DD, 0x8847, 0x894F
UDP, TCP, ICMP, ICMP6 = 17, 6, 1, 58


# ---- independent builders ----------------------------------------------------------------------


def ref_sum(data: bytes) -> int:
    """Ones' complement sum of 16-bit words, written out the long way."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def ref_checksum(data: bytes) -> int:
    return 0xFFFF - ref_sum(data)


def pseudo(v6: bool, proto: int, length: int) -> bytes:
    if v6:
        return V6_A + V6_B + length.to_bytes(4, "big") + bytes([0, 0, 0, proto])
    return V4_A + V4_B + bytes([0, proto]) + length.to_bytes(2, "big")


def udp(payload: bytes, v6: bool, *, no_checksum: bool = False, dst_port: int = 5000) -> bytes:
    length = 8 + len(payload)
    header = struct.pack("!HHHH", 40000, dst_port, length, 0)
    if no_checksum:
        return header + payload
    checksum = ref_checksum(pseudo(v6, UDP, length) + header + payload) or 0xFFFF
    return header[:6] + checksum.to_bytes(2, "big") + payload


def tcp(payload: bytes, v6: bool, *, options: bytes = b"") -> bytes:
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", 40000, 5001, 1000, 2000, offset << 4, 0x18, 65535, 0, 0) + options
    checksum = ref_checksum(pseudo(v6, TCP, len(header) + len(payload)) + header + payload)
    return header[:16] + checksum.to_bytes(2, "big") + header[18:] + payload


def icmp_echo(payload: bytes, v6: bool, kind: int | None = None) -> bytes:
    kind = kind if kind is not None else (128 if v6 else 8)
    header = struct.pack("!BBHHH", kind, 0, 0, 0x1234, 7)
    prefix = pseudo(True, ICMP6, len(header) + len(payload)) if v6 else b""
    checksum = ref_checksum(prefix + header + payload)
    return header[:2] + checksum.to_bytes(2, "big") + header[4:] + payload


def ipv4(proto: int, l4: bytes, *, frag: int = 0) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, frag, 64, proto, 0, V4_A, V4_B)
    checksum = ref_checksum(header)
    return header[:10] + checksum.to_bytes(2, "big") + header[12:] + l4


def ipv6(proto: int, l4: bytes, *, ext: bytes = b"") -> bytes:
    first = 0 if ext else proto
    header = struct.pack("!IHBB16s16s", 6 << 28, len(ext) + len(l4), first, 64, V6_A, V6_B)
    return header + ext + l4


def packet(v6: bool, l4: str, payload: bytes) -> bytes:
    if l4 == "udp":
        return ipv6(UDP, udp(payload, True)) if v6 else ipv4(UDP, udp(payload, False))
    if l4 == "tcp":
        return ipv6(TCP, tcp(payload, True)) if v6 else ipv4(TCP, tcp(payload, False))
    return ipv6(ICMP6, icmp_echo(payload, True)) if v6 else ipv4(ICMP, icmp_echo(payload, False))


def eth(ethertype: int, body: bytes, dst: bytes = MAC_B, src: bytes = MAC_A) -> bytes:
    return dst + src + ethertype.to_bytes(2, "big") + body


def ip_eth(v6: bool, body: bytes) -> bytes:
    return eth(ETH_IPV6 if v6 else ETH_IPV4, body)


def mpls(label: int, body: bytes, *, tc: int = 0, bos: bool = True, ttl: int = 63) -> bytes:
    return struct.pack("!I", label << 12 | tc << 9 | int(bos) << 8 | ttl) + body


def nsh(
    spi: int, si: int, next_protocol: int, metadata: bytes, md_type: int, body: bytes, ttl: int = 63
) -> bytes:
    length = 2 + len(metadata) // 4
    base = bytes([ttl >> 2, (ttl & 3) << 6 | length, md_type, next_protocol])
    return base + struct.pack("!I", spi << 8 | si) + metadata + body


def tlv(cls: int, kind: int, value: bytes) -> bytes:
    padded = value + b"\0" * (-len(value) % 4)
    return struct.pack("!HBB", cls, kind, len(value)) + padded


def plus(payload: bytes, n: int = 1) -> bytes:
    return bytes((x + n) % 256 for x in payload)


PAYLOAD = bytes(range(250, 256)) + b"steerflow" + bytes(range(5))
CASES = [(v6, l4) for v6 in (False, True) for l4 in ("udp", "tcp", "icmp")]


# ---- SFC-unaware ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("v6", "l4"), CASES)
def test_unaware_adds_one_to_the_payload_and_keeps_checksums_valid(v6: bool, l4: str) -> None:
    out = rewrite_frame(ip_eth(v6, packet(v6, l4, PAYLOAD)), Mode.UNAWARE)
    assert out.frame == ip_eth(v6, packet(v6, l4, plus(PAYLOAD)))
    assert l4 in out.summary and ("ipv6" if v6 else "ipv4") in out.summary


@pytest.mark.parametrize("add", [0, 2, 255, 257])
def test_add_n_wraps_mod_256(add: int) -> None:
    out = rewrite_frame(ip_eth(True, packet(True, "udp", PAYLOAD)), Mode.UNAWARE, add)
    assert out.frame == ip_eth(True, packet(True, "udp", plus(PAYLOAD, add)))


def test_ipv4_udp_without_checksum_keeps_none() -> None:
    frame = ip_eth(False, ipv4(UDP, udp(PAYLOAD, False, no_checksum=True)))
    out = rewrite_frame(frame, Mode.UNAWARE)
    assert out.frame == ip_eth(False, ipv4(UDP, udp(plus(PAYLOAD), False, no_checksum=True)))


def test_udp_checksum_that_computes_to_zero_is_sent_as_ffff() -> None:
    # Choose the 2 rewritten payload bytes so that the ones' complement sum of everything is 0xffff.
    rest = ref_sum(pseudo(True, UDP, 10) + struct.pack("!HHHH", 40000, 5000, 10, 0))
    word = (0xFFFF - rest) or 0xFFFF
    after = word.to_bytes(2, "big")
    out = rewrite_frame(ip_eth(True, ipv6(UDP, udp(plus(after, 255), True))), Mode.UNAWARE)
    assert out.frame[14 + 40 + 6 : 14 + 40 + 8] == b"\xff\xff"
    assert out.frame == ip_eth(True, ipv6(UDP, udp(after, True)))


def test_tcp_options_are_not_payload() -> None:
    options = b"\x02\x04\x05\xb4\x01\x01\x04\x02"  # MSS, NOPs, SACK permitted
    frame = ip_eth(False, ipv4(TCP, tcp(PAYLOAD, False, options=options)))
    expected = ip_eth(False, ipv4(TCP, tcp(plus(PAYLOAD), False, options=options)))
    assert rewrite_frame(frame, Mode.UNAWARE).frame == expected


def test_ethernet_padding_after_a_short_packet_is_kept() -> None:
    padding = b"\xaa" * 12
    frame = ip_eth(False, packet(False, "udp", b"ab")) + padding  # 48 bytes padded up to 60
    out = rewrite_frame(frame, Mode.UNAWARE)
    assert out.frame == ip_eth(False, packet(False, "udp", b"bc")) + padding


def test_ipv6_hop_by_hop_header_is_skipped() -> None:
    hop_by_hop = bytes([UDP, 0, 5, 2, 0, 0, 1, 0])  # router alert + PadN, 8 bytes
    frame = ip_eth(True, ipv6(UDP, udp(PAYLOAD, True), ext=hop_by_hop))
    expected = ip_eth(True, ipv6(UDP, udp(plus(PAYLOAD), True), ext=hop_by_hop))
    assert rewrite_frame(frame, Mode.UNAWARE).frame == expected


@given(
    payload=st.binary(max_size=300),
    add=st.integers(0, 255),
    v6=st.booleans(),
    l4=st.sampled_from(["udp", "tcp"]),
)
def test_adding_n_then_256_minus_n_gives_the_frame_back(payload: bytes, add: int, v6: bool, l4: str) -> None:
    frame = ip_eth(v6, packet(v6, l4, payload))
    there = rewrite_frame(frame, Mode.UNAWARE, add).frame
    assert there == ip_eth(v6, packet(v6, l4, plus(payload, add)))
    assert rewrite_frame(there, Mode.UNAWARE, 256 - add).frame == frame


# ---- MPLS-aware -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("v6", "l4"), CASES)
def test_mpls_keeps_the_label_and_rewrites_the_ip_packet_above_it(v6: bool, l4: str) -> None:
    frame = eth(ETH_MPLS, mpls(100, packet(v6, l4, PAYLOAD), tc=5))
    out = rewrite_frame(frame, Mode.MPLS)
    assert out.frame == eth(ETH_MPLS, mpls(100, packet(v6, l4, plus(PAYLOAD)), tc=5))
    assert "mpls[100]" in out.summary


def test_mpls_label_stack_is_walked_to_the_bottom() -> None:
    inner = mpls(200, packet(False, "udp", PAYLOAD))
    out = rewrite_frame(eth(ETH_MPLS, mpls(100, inner, bos=False)), Mode.MPLS)
    assert out.frame == eth(ETH_MPLS, mpls(100, mpls(200, packet(False, "udp", plus(PAYLOAD))), bos=False))
    assert "mpls[100, 200]" in out.summary


# ---- a NAT: the UDP destination port moves -------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize(("step", "moved"), [(100, 5100), (65536 - 5000, 0), (-1, 4999)])
def test_nat_moves_the_udp_destination_port_and_keeps_the_checksum_valid(
    v6: bool, step: int, moved: int
) -> None:
    def frame(dst_port: int, payload: bytes) -> bytes:
        l4 = udp(payload, v6, dst_port=dst_port)
        return eth(ETH_MPLS, mpls(100, ipv6(UDP, l4) if v6 else ipv4(UDP, l4)))

    out = rewrite_frame(frame(5000, PAYLOAD), Mode.MPLS, nat_udp_dst=step)
    assert out.frame == frame(moved, plus(PAYLOAD))
    assert f"udp 40000>{moved}" in out.summary


def test_nat_leaves_tcp_ports_alone() -> None:
    frame = ip_eth(False, packet(False, "tcp", PAYLOAD))
    assert rewrite_frame(frame, Mode.UNAWARE, nat_udp_dst=100).frame == ip_eth(
        False, packet(False, "tcp", plus(PAYLOAD))
    )


# ---- VLAN-aware -----------------------------------------------------------------------------------


def vlan(tci: int, inner_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", tci, inner_type) + body


@pytest.mark.parametrize(("v6", "l4"), CASES)
def test_vlan_keeps_the_tag_and_rewrites_the_ip_packet_inside(v6: bool, l4: str) -> None:
    inner_type = ETH_IPV6 if v6 else ETH_IPV4
    frame = eth(0x8100, vlan(0x2000 | 77, inner_type, packet(v6, l4, PAYLOAD)))  # PCP 1, VID 77
    out = rewrite_frame(frame, Mode.VLAN)
    assert out.frame == eth(0x8100, vlan(0x2000 | 77, inner_type, packet(v6, l4, plus(PAYLOAD))))
    assert "vlan vid=77" in out.summary and out.vlan_vid == 77


def test_a_tag_the_kernel_took_off_goes_back_after_the_macs() -> None:
    plain = ip_eth(False, packet(False, "udp", PAYLOAD))
    assert with_vlan_tag(plain, 77) == eth(0x8100, vlan(77, ETH_IPV4, packet(False, "udp", PAYLOAD)))
    assert with_vlan_tag(plain, 5, 0x88A8)[12:16] == bytes.fromhex("88a80005")


def test_vlan_mode_ignores_untagged_frames_and_unaware_mode_tagged_ones() -> None:
    plain = ip_eth(False, packet(False, "udp", PAYLOAD))
    with pytest.raises(Ignored, match="expected a VLAN tag"):
        rewrite_frame(plain, Mode.VLAN)
    with pytest.raises(Ignored, match="not IP"):
        rewrite_frame(with_vlan_tag(plain, 77), Mode.UNAWARE)


# ---- NSH-aware ------------------------------------------------------------------------------------

CONTEXT = bytes.fromhex("deadbeef000000010000000200000003")
MD2 = tlv(0x0100, 1, b"\x01\x02\x03\x04\x05") + tlv(0xFFFF, 0x7F, b"")


@pytest.mark.parametrize(("v6", "l4"), CASES)
@pytest.mark.parametrize(("md_type", "metadata"), [(1, CONTEXT), (2, MD2), (2, b"")])
def test_nsh_keeps_every_nsh_field_and_the_inner_ethernet(
    v6: bool, l4: str, md_type: int, metadata: bytes
) -> None:
    def frame(payload: bytes) -> bytes:
        return eth(ETH_NSH, nsh(0x10, 255, 3, metadata, md_type, ip_eth(v6, packet(v6, l4, payload))))

    out = rewrite_frame(frame(PAYLOAD), Mode.NSH)
    assert out.frame == frame(plus(PAYLOAD))
    assert f"nsh md{md_type} spi=0x10 si=255 np=3" in out.summary


@pytest.mark.parametrize("v6", [False, True])
def test_nsh_with_an_ip_next_protocol_has_no_inner_ethernet(v6: bool) -> None:
    def frame(payload: bytes, si: int) -> bytes:
        return eth(ETH_NSH, nsh(0xABCDEF, si, 2 if v6 else 1, CONTEXT, 1, packet(v6, "udp", payload)))

    out = rewrite_frame(frame(PAYLOAD, 9), Mode.NSH, decrement_si=True)
    assert out.frame == frame(plus(PAYLOAD), 8)
    assert "spi=0xabcdef si=9->8" in out.summary


def test_parse_nsh_reads_the_fields() -> None:
    header = nsh(0x123456, 7, 3, MD2, 2, b"", ttl=41)
    parsed = parse_nsh(header, 0)
    assert (parsed.ttl, parsed.length, parsed.md_type, parsed.next_protocol) == (41, 2 + len(MD2) // 4, 2, 3)
    assert (parsed.spi, parsed.si) == (0x123456, 7)
    assert parsed.metadata == "md2 tlv(0x100,1,0x0102030405) tlv(0xffff,127,0x)"


def test_parse_nsh_reads_md1_context() -> None:
    parsed = parse_nsh(nsh(0x10, 255, 3, CONTEXT, 1, b""), 0)
    assert parsed.metadata == "md1 c1=0xdeadbeef c2=0x1 c3=0x2 c4=0x3"
    out = rewrite_frame(eth(ETH_NSH, nsh(0x10, 255, 1, CONTEXT, 1, packet(False, "udp", PAYLOAD))), Mode.NSH)
    assert out.nsh is not None and out.nsh.metadata == parsed.metadata  # what sfemu counts


# ---- frames a function ignores ------------------------------------------------------------------

ARP = eth(0x0806, bytes(28), dst=b"\xff" * 6)
LLDP = eth(0x88CC, bytes(30), dst=bytes.fromhex("0180c200000e"))
NEIGHBOUR_SOLICITATION = ip_eth(True, ipv6(ICMP6, icmp_echo(bytes(16), True, kind=135)))
UDP4 = packet(False, "udp", PAYLOAD)
IGNORED = [
    ("arp", ARP, Mode.UNAWARE, "0x0806"),
    ("lldp", LLDP, Mode.UNAWARE, "0x88cc"),
    ("ipv6 nd", NEIGHBOUR_SOLICITATION, Mode.UNAWARE, "ICMPv6 type 135"),
    ("icmp unreachable", ip_eth(False, ipv4(ICMP, icmp_echo(b"x", False, kind=3))), Mode.UNAWARE, "type 3"),
    ("sctp", ip_eth(False, ipv4(132, b"\0" * 12)), Mode.UNAWARE, "protocol 132"),
    ("ipv4 fragment", ip_eth(False, ipv4(UDP, udp(PAYLOAD, False), frag=0x2000)), Mode.UNAWARE, "fragment"),
    ("truncated ipv4", ip_eth(False, UDP4[:30]), Mode.UNAWARE, "truncated"),
    ("truncated udp", ip_eth(False, ipv4(UDP, b"\0" * 4)), Mode.UNAWARE, "truncated UDP"),
    ("vlan", eth(0x8100, b"\0\x01\x08\x00" + UDP4), Mode.UNAWARE, "0x8100"),
    ("mpls to unaware", eth(ETH_MPLS, mpls(1, UDP4)), Mode.UNAWARE, "0x8847"),
    ("plain ip to mpls", ip_eth(False, UDP4), Mode.MPLS, "expected MPLS"),
    ("plain ip to nsh", ip_eth(False, UDP4), Mode.NSH, "expected NSH"),
    ("mpls without bottom", eth(ETH_MPLS, mpls(1, b"", bos=False)), Mode.MPLS, "truncated MPLS"),
    ("nsh md type 3", eth(ETH_NSH, nsh(1, 255, 1, b"", 3, UDP4)), Mode.NSH, "MD type 3"),
    ("nsh md1 too short", eth(ETH_NSH, nsh(1, 255, 1, b"", 1, UDP4)), Mode.NSH, "length 2"),
    ("nsh bad tlv", eth(ETH_NSH, nsh(1, 255, 1, b"\0\0\0\x08", 2, UDP4)), Mode.NSH, "overrun"),
    ("nsh next proto mpls", eth(ETH_NSH, nsh(1, 255, 5, CONTEXT, 1, UDP4)), Mode.NSH, "next protocol 5"),
    ("nsh np says ipv6", eth(ETH_NSH, nsh(1, 255, 2, CONTEXT, 1, UDP4)), Mode.NSH, "IP version 4"),
]


@pytest.mark.parametrize(("frame", "mode", "reason"), [c[1:] for c in IGNORED], ids=[c[0] for c in IGNORED])
def test_unexpected_frames_are_ignored_with_a_reason(frame: bytes, mode: Mode, reason: str) -> None:
    with pytest.raises(Ignored, match=reason):
        rewrite_frame(frame, mode)


def test_nsh_si_zero_cannot_be_decremented() -> None:
    frame = eth(ETH_NSH, nsh(1, 0, 1, CONTEXT, 1, UDP4))
    with pytest.raises(Ignored, match="SI already 0"):
        rewrite_frame(frame, Mode.NSH, decrement_si=True)
    assert rewrite_frame(frame, Mode.NSH).frame == eth(
        ETH_NSH, nsh(1, 0, 1, CONTEXT, 1, packet(False, "udp", plus(PAYLOAD)))
    )
