"""The frames a service function handles: parse Ethernet/VLAN/MPLS/NSH/IP/L4, add N to L4 payloads (pure)."""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass

ETH_HEADER = 14
ETH_P_IPV4 = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_MPLS_UC = 0x8847
ETH_P_MPLS_MC = 0x8848
ETH_P_NSH = 0x894F
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
VLAN_TAG = 4
NSH_NP_IPV4 = 1
NSH_NP_IPV6 = 2
NSH_NP_ETHERNET = 3
NSH_MD1_LENGTH = 6  # words: base + service path + 16 bytes of context
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
_IPV6_SKIPPABLE = {0, 60}  # hop-by-hop and destination options: they change neither payload nor checksum
_ICMP_ECHO = {4: (0, 8), 6: (128, 129)}  # echo reply / request: the only ICMP whose data is "payload"

PseudoHeader = Callable[[int, int], bytes]  # (protocol, upper-layer length) -> pseudo-header bytes


@dataclass(frozen=True)
class _Edit:
    """What a function does to a packet: payload bytes through `payload` (a translation table), the
    UDP destination port up by `nat_udp_dst`."""

    payload: bytes
    nat_udp_dst: int


class Mode(enum.StrEnum):
    """What a function expects on its ingress NIC."""

    UNAWARE = "unaware"  # plain Ethernet + IP
    MPLS = "mpls"  # Ethernet + MPLS label stack + IP
    NSH = "nsh"  # Ethernet + NSH (MD1 or MD2) + inner Ethernet or IP
    VLAN = "vlan"  # Ethernet + one 802.1Q tag + IP (the VID names the hop: tests/plugins' vlan driver)


class Ignored(ValueError):
    """A frame the function does not handle (ARP, ND, another encapsulation, a fragment...)."""


@dataclass(frozen=True)
class NshHeader:
    """The NSH fields a function may look at (RFC 8300)."""

    ttl: int
    length: int  # in 4-byte words, the whole NSH header
    md_type: int
    next_protocol: int
    spi: int
    si: int
    metadata: str = ""  # MD1: "md1 c1=0x.. c2=.. c3=.. c4=.."; MD2: "md2 tlv(class,type,0xvalue)..."


@dataclass(frozen=True)
class Rewritten:
    """The frame to send out, a one-line description of it for the log, and its NSH header if any."""

    frame: bytes
    summary: str
    nsh: NshHeader | None = None
    vlan_vid: int | None = None  # the VLAN tag's VID (Mode.VLAN)


def rewrite_frame(
    frame: bytes, mode: Mode, add: int = 1, *, decrement_si: bool = False, nat_udp_dst: int = 0
) -> Rewritten:
    """Add `add` (mod 256) to every L4 payload byte and fix the L4 checksum; everything else (MACs, labels,
    NSH fields but the SI when `decrement_si`) is left as it was, but a UDP destination port, which moves
    up by `nat_udp_dst` (mod 65536), like a NAT (service graphs branch on what functions rewrite).
    Raises Ignored for unexpected frames."""
    buf = bytearray(frame)
    ethertype, offset = _ethernet(buf, 0)
    edit = _Edit(bytes((i + add) % 256 for i in range(256)), nat_udp_dst % 0x10000)
    if mode is Mode.UNAWARE:
        summary = _rewrite_ip(buf, offset, _ip_version_of(ethertype), edit)
    elif mode is Mode.MPLS:
        summary = _rewrite_mpls(buf, ethertype, offset, edit)
    elif mode is Mode.VLAN:
        summary = _rewrite_vlan(buf, ethertype, offset, edit)
        return Rewritten(bytes(buf), summary, vlan_vid=struct.unpack_from("!H", buf, offset)[0] & 0xFFF)
    else:
        summary, nsh = _rewrite_nsh(buf, ethertype, offset, edit, decrement_si)
        return Rewritten(bytes(buf), summary, nsh)
    return Rewritten(bytes(buf), summary)


def internet_checksum(data: bytes | bytearray) -> int:
    """The RFC 1071 ones' complement checksum."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def parse_nsh(buf: bytes | bytearray, offset: int) -> NshHeader:
    """The NSH header at `offset`, checked for version, length and (MD2) TLV layout."""
    _need(buf, offset, 8, "NSH base and service path headers")
    b0, b1, b2, next_protocol = buf[offset : offset + 4]
    if b0 >> 6 != 0:
        raise Ignored(f"NSH version {b0 >> 6}")
    length, md_type = b1 & 0x3F, b2 & 0x0F
    spi_si = struct.unpack_from("!I", buf, offset + 4)[0]
    _need(buf, offset, length * 4, "NSH header")
    if md_type == 1 and length != NSH_MD1_LENGTH:
        raise Ignored(f"NSH MD type 1 with length {length}")
    if md_type == 2:
        metadata = "md2" + "".join(f" {t}" for t in _md2_tlvs(buf, offset + 8, offset + length * 4))
    elif md_type == 1:
        context = struct.unpack_from("!4I", buf, offset + 8)
        metadata = "md1" + "".join(f" c{i}={c:#x}" for i, c in enumerate(context, 1))
    else:
        raise Ignored(f"NSH MD type {md_type}")
    ttl = (b0 & 0x0F) << 2 | b1 >> 6
    return NshHeader(ttl, length, md_type, next_protocol, spi_si >> 8, spi_si & 0xFF, metadata)


def _md2_tlvs(buf: bytes | bytearray, start: int, end: int) -> list[str]:
    """The TLVs as `tlv(class,type,0xvalue)` (ovs-ofctl's spelling of an encap(nsh(...)) TLV)."""
    pos, tlvs = start, []
    while pos < end:
        _need(buf, pos, 4, "NSH MD2 TLV header")
        md_class, tlv_type, size = struct.unpack_from("!HBB", buf, pos)
        # RFC 8300: a 7-bit length in bytes, the value padded to a 4-byte boundary.
        value = bytes(buf[pos + 4 : pos + 4 + (size & 0x7F)])
        tlvs.append(f"tlv({md_class:#x},{tlv_type},0x{value.hex()})")
        pos += 4 + ((size & 0x7F) + 3) // 4 * 4
    if pos != end:
        raise Ignored("NSH MD2 TLVs overrun the header length")
    return tlvs


def _rewrite_mpls(buf: bytearray, ethertype: int, offset: int, edit: _Edit) -> str:
    if ethertype not in (ETH_P_MPLS_UC, ETH_P_MPLS_MC):
        raise Ignored(f"ethertype {ethertype:#06x} (expected MPLS)")
    labels: list[int] = []
    while True:
        _need(buf, offset, 4, "MPLS label stack entry")
        entry = struct.unpack_from("!I", buf, offset)[0]
        labels.append(entry >> 12)
        offset += 4
        if entry & 0x100:  # bottom of stack
            break
    version = buf[offset] >> 4 if offset < len(buf) else 0
    inner = _rewrite_ip(buf, offset, version, edit)
    return f"mpls{labels} {inner}"


def with_vlan_tag(frame: bytes, tci: int, tpid: int = ETH_P_8021Q) -> bytes:
    """The frame with a VLAN tag inserted after its MACs: how a frame arrived whose tag the kernel took
    off into packet metadata (AF_PACKET sockets read untagged frames, the tag apart)."""
    return frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]


def _rewrite_vlan(buf: bytearray, ethertype: int, offset: int, edit: _Edit) -> str:
    if ethertype not in (ETH_P_8021Q, ETH_P_8021AD):
        raise Ignored(f"ethertype {ethertype:#06x} (expected a VLAN tag)")
    _need(buf, offset, VLAN_TAG, "VLAN tag")
    tci, inner = struct.unpack_from("!HH", buf, offset)
    return f"vlan vid={tci & 0xFFF} {_rewrite_ip(buf, offset + VLAN_TAG, _ip_version_of(inner), edit)}"


def _rewrite_nsh(
    buf: bytearray, ethertype: int, offset: int, edit: _Edit, decrement_si: bool
) -> tuple[str, NshHeader]:
    if ethertype != ETH_P_NSH:
        raise Ignored(f"ethertype {ethertype:#06x} (expected NSH)")
    nsh = parse_nsh(buf, offset)
    if decrement_si:
        if nsh.si == 0:
            raise Ignored("NSH SI already 0")
        buf[offset + 7] = nsh.si - 1
    inner = offset + nsh.length * 4
    if nsh.next_protocol == NSH_NP_ETHERNET:
        inner_type, inner = _ethernet(buf, inner)
        version = _ip_version_of(inner_type)
    elif nsh.next_protocol in (NSH_NP_IPV4, NSH_NP_IPV6):
        version = 4 if nsh.next_protocol == NSH_NP_IPV4 else 6
    else:
        raise Ignored(f"NSH next protocol {nsh.next_protocol}")
    si = f"{nsh.si}->{nsh.si - 1}" if decrement_si else str(nsh.si)
    head = f"nsh md{nsh.md_type} spi={nsh.spi:#x} si={si} np={nsh.next_protocol}"
    return f"{head} {_rewrite_ip(buf, inner, version, edit)}", nsh


def _ethernet(buf: bytes | bytearray, offset: int) -> tuple[int, int]:
    _need(buf, offset, ETH_HEADER, "Ethernet header")
    ethertype: int = struct.unpack_from("!H", buf, offset + 12)[0]
    return ethertype, offset + ETH_HEADER


def _ip_version_of(ethertype: int) -> int:
    if ethertype == ETH_P_IPV4:
        return 4
    if ethertype == ETH_P_IPV6:
        return 6
    raise Ignored(f"ethertype {ethertype:#06x} (not IP)")


def _rewrite_ip(buf: bytearray, offset: int, version: int, edit: _Edit) -> str:
    if version == 4:
        proto, l4, end, src, dst = _ipv4(buf, offset)
    elif version == 6:
        proto, l4, end, src, dst = _ipv6(buf, offset)
    else:
        raise Ignored(f"IP version {version}")

    def pseudo(protocol: int, length: int) -> bytes:
        if version == 4:
            return src + dst + struct.pack("!BBH", 0, protocol, length)
        return src + dst + struct.pack("!IxxxB", length, protocol)

    l4_summary = _rewrite_l4(buf, l4, end, proto, version, pseudo, edit)
    return f"ipv{version} {ipaddress.ip_address(src)}>{ipaddress.ip_address(dst)} {l4_summary}"


def _ipv4(buf: bytearray, off: int) -> tuple[int, int, int, bytes, bytes]:
    _need(buf, off, 20, "IPv4 header")
    if buf[off] >> 4 != 4:
        raise Ignored(f"IP version {buf[off] >> 4} in an IPv4 frame")
    ihl = (buf[off] & 0x0F) * 4
    total = struct.unpack_from("!H", buf, off + 2)[0]
    if ihl < 20 or total < ihl:
        raise Ignored("malformed IPv4 header")
    _need(buf, off, total, "IPv4 packet")
    if struct.unpack_from("!H", buf, off + 6)[0] & 0x3FFF:
        raise Ignored("IPv4 fragment")  # a fragment's L4 checksum cannot be fixed alone
    src, dst = bytes(buf[off + 12 : off + 16]), bytes(buf[off + 16 : off + 20])
    return buf[off + 9], off + ihl, off + total, src, dst


def _ipv6(buf: bytearray, off: int) -> tuple[int, int, int, bytes, bytes]:
    _need(buf, off, 40, "IPv6 header")
    if buf[off] >> 4 != 6:
        raise Ignored(f"IP version {buf[off] >> 4} in an IPv6 frame")
    end = off + 40 + struct.unpack_from("!H", buf, off + 4)[0]
    _need(buf, off, end - off, "IPv6 packet")
    proto, pos = buf[off + 6], off + 40
    while proto in _IPV6_SKIPPABLE:
        _need(buf, pos, 8, "IPv6 extension header")
        proto, pos = buf[pos], pos + (buf[pos + 1] + 1) * 8
    if pos > end:
        raise Ignored("IPv6 extension headers overrun the payload")
    return proto, pos, end, bytes(buf[off + 8 : off + 24]), bytes(buf[off + 24 : off + 40])


def _rewrite_l4(
    buf: bytearray, l4: int, end: int, proto: int, version: int, pseudo: PseudoHeader, edit: _Edit
) -> str:
    if proto == IPPROTO_UDP:
        return _rewrite_udp(buf, l4, end, version, pseudo, edit)
    if proto == IPPROTO_TCP:
        _need(buf, l4, 20, "TCP header")
        data = (buf[l4 + 12] >> 4) * 4
        if data < 20 or l4 + data > end:
            raise Ignored("malformed TCP header")
        _add(buf, l4 + data, end, edit.payload)
        _set_checksum(buf, l4, end, l4 + 16, pseudo(IPPROTO_TCP, end - l4))
        return f"tcp {_ports(buf, l4)} payload={end - l4 - data}"
    if proto in (IPPROTO_ICMP, IPPROTO_ICMPV6) and (proto == IPPROTO_ICMP) == (version == 4):
        _need(buf, l4, 8, "ICMP echo header")
        if buf[l4] not in _ICMP_ECHO[version]:
            raise Ignored(f"ICMPv{version} type {buf[l4]}")
        _add(buf, l4 + 8, end, edit.payload)
        prefix = pseudo(proto, end - l4) if version == 6 else b""  # ICMPv4 has no pseudo-header
        _set_checksum(buf, l4, end, l4 + 2, prefix)
        return f"icmp type={buf[l4]} payload={end - l4 - 8}"
    raise Ignored(f"IP protocol {proto}")


def _rewrite_udp(buf: bytearray, l4: int, end: int, version: int, pseudo: PseudoHeader, edit: _Edit) -> str:
    _need(buf, l4, 8, "UDP header")
    length = struct.unpack_from("!H", buf, l4 + 4)[0]
    if length < 8 or l4 + length > end:
        raise Ignored("malformed UDP length")
    _add(buf, l4 + 8, l4 + length, edit.payload)
    if edit.nat_udp_dst:
        port = struct.unpack_from("!H", buf, l4 + 2)[0]
        struct.pack_into("!H", buf, l4 + 2, (port + edit.nat_udp_dst) % 0x10000)
    # Over IPv4 a zero checksum means "none": keep the sender's choice. IPv6 always needs a valid one.
    if version == 6 or struct.unpack_from("!H", buf, l4 + 6)[0] != 0:
        _set_checksum(buf, l4, l4 + length, l4 + 6, pseudo(IPPROTO_UDP, length), zero_as=0xFFFF)
    return f"udp {_ports(buf, l4)} payload={length - 8}"


def _ports(buf: bytearray, l4: int) -> str:
    src, dst = struct.unpack_from("!HH", buf, l4)
    return f"{src}>{dst}"


def _add(buf: bytearray, start: int, end: int, table: bytes) -> None:
    buf[start:end] = bytes(buf[start:end]).translate(table)


def _set_checksum(
    buf: bytearray, start: int, end: int, field: int, pseudo: bytes, zero_as: int | None = None
) -> None:
    struct.pack_into("!H", buf, field, 0)
    value = internet_checksum(pseudo + bytes(buf[start:end]))
    if value == 0 and zero_as is not None:  # UDP sends a computed 0 as 0xFFFF (0 means "no checksum")
        value = zero_as
    struct.pack_into("!H", buf, field, value)


def _need(buf: bytes | bytearray, offset: int, size: int, what: str) -> None:
    if offset + size > len(buf):
        raise Ignored(f"truncated {what}")
