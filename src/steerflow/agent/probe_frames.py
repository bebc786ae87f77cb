"""The frames of the health probes (pure): built to send into a function, recognised when they come back.

- `datapath`: a unicast UDP datagram between the probe's link-local addresses (`pipeline.probe`), in the
  header the function expects (plain, an MPLS label, or NSH MD1 around the Ethernet frame). Its payload
  is 20 equal bytes and a 32-bit sequence number: a function may add to every payload byte (the lab's
  emulator adds N), so the sequence is read relative to the first byte, and the equal bytes mark it.
- `arp`/`icmp`/`tcp`: an ARP request for the ingress port's address, then (icmp, tcp) an echo request or
  a SYN from an address of the port's subnet the probe borrows. The ARP request teaches the function's
  kernel that this address is at the probe MAC, so it can answer without resolving anything (a function
  cannot: br-int drops what a service port sends from its own MAC), and the answer, addressed to the
  probe MAC, goes to the agent (`compiler.l2`).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from steerflow.pipeline.probe import PROBE_DST_IPV4, PROBE_DST_MAC, PROBE_IPV4, PROBE_MAC, PROBE_UDP_PORT

ETH_IPV4, ETH_ARP, ETH_MPLS, ETH_NSH = 0x0800, 0x0806, 0x8847, 0x894F
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17
NSH_NP_ETHERNET = 3
MARK_BYTES = 20  # equal payload bytes before the sequence number
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10
PROBE_ICMP_ID = 0x5F68
_ETH = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_TCP = struct.Struct("!HHIIBBHHH")


@dataclass(frozen=True)
class ProbeHeader:
    """The service header a datapath probe carries: `correlation` None (plain), mpls (`label`) or nsh
    (`spi`, `si`)."""

    correlation: str | None = None
    label: int = 0
    spi: int = 0
    si: int = 255


@dataclass(frozen=True)
class Answer:
    """What a function sent back to the probe MAC: an ARP reply, an echo reply or a TCP answer."""

    kind: str  # "arp", "icmp", "tcp"
    source: str  # the answering address
    ident: int = 0  # icmp: the echo's sequence; tcp: the port the answer is to
    ok: bool = True  # tcp: a SYN-ACK (False: a reset, nobody listens)
    ack: int = 0  # tcp: the answer's ack number (what a reset closing it must carry)


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0) -> bytes:
    header = _IPV4.pack(0x45, 0, 20 + len(payload), ident & 0xFFFF, 0, 64, proto, 0, _addr(src), _addr(dst))
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + payload


def _addr(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def datapath_probe(header: ProbeHeader, seq: int) -> bytes:
    """The datagram of probe `seq`, in `header`."""
    payload = bytes(MARK_BYTES) + (seq & 0xFFFFFFFF).to_bytes(4, "big")
    udp = struct.pack("!HHHH", PROBE_UDP_PORT, PROBE_UDP_PORT, 8 + len(payload), 0) + payload
    packet = _ipv4(PROBE_IPV4, PROBE_DST_IPV4, IPPROTO_UDP, udp, seq)
    macs = _mac(PROBE_DST_MAC) + _mac(PROBE_MAC)
    if header.correlation == "mpls":
        entry = (header.label & 0xFFFFF) << 12 | 0x100 | 64  # TC 0 (IPv4), bottom of stack, TTL 64
        return macs + struct.pack("!HI", ETH_MPLS, entry) + packet
    inner = macs + struct.pack("!H", ETH_IPV4) + packet
    if header.correlation == "nsh":
        base = struct.pack("!HBB", 63 << 6 | 6, 1, NSH_NP_ETHERNET)  # TTL 63, 6 words, MD type 1
        path = struct.pack("!I", (header.spi & 0xFFFFFF) << 8 | (header.si & 0xFF))
        return macs + struct.pack("!H", ETH_NSH) + base + path + bytes(16) + inner
    return inner


def probe_sequence(frame: bytes) -> int | None:
    """The sequence number of a datapath probe that came back (whatever its header), None if `frame` does
    not end like one."""
    tail = frame[-(MARK_BYTES + 4) :]
    if len(tail) < MARK_BYTES + 4:
        return None
    shift = tail[0]
    if any(b != shift for b in tail[1:MARK_BYTES]):
        return None
    return int.from_bytes(bytes((b - shift) % 256 for b in tail[MARK_BYTES:]), "big")


def arp_request(source: str, target: str, target_mac: str) -> bytes:
    """Who has `target`? Tell `source`, at the probe MAC (unicast to the port, as a refresh would be)."""
    arp = _ARP.pack(1, ETH_IPV4, 6, 4, 1, _mac(PROBE_MAC), _addr(source), bytes(6), _addr(target))
    return _ETH.pack(_mac(target_mac), _mac(PROBE_MAC), ETH_ARP) + arp


def echo_request(source: str, target: str, target_mac: str, seq: int) -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, PROBE_ICMP_ID, seq & 0xFFFF) + b"steerflow-probe!"
    icmp = body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
    packet = _ipv4(source, target, IPPROTO_ICMP, icmp, seq)
    return _ETH.pack(_mac(target_mac), _mac(PROBE_MAC), ETH_IPV4) + packet


def tcp_segment(
    source: str, target: str, target_mac: str, ports: tuple[int, int], flags: int, seq: int, ack: int = 0
) -> bytes:
    """A TCP segment without options (a SYN to connect, a RST to close what the SYN opened)."""
    sport, dport = ports
    raw = _TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 1024, 0, 0)
    pseudo = _addr(source) + _addr(target) + struct.pack("!BBH", 0, IPPROTO_TCP, len(raw))
    segment = raw[:16] + struct.pack("!H", _checksum(pseudo + raw)) + raw[18:]
    packet = _ipv4(source, target, IPPROTO_TCP, segment)
    return _ETH.pack(_mac(target_mac), _mac(PROBE_MAC), ETH_IPV4) + packet


def parse_answer(frame: bytes) -> Answer | None:
    """A function's answer to an ARP/ICMP/TCP probe, None for anything else."""
    if len(frame) < _ETH.size:
        return None
    dst, _, ethertype = _ETH.unpack_from(frame)
    if dst != _mac(PROBE_MAC):
        return None
    if ethertype == ETH_ARP and len(frame) >= _ETH.size + _ARP.size:
        op, spa = _ARP.unpack_from(frame, _ETH.size)[4], _ARP.unpack_from(frame, _ETH.size)[6]
        return Answer("arp", str(ipaddress.IPv4Address(spa))) if op == 2 else None
    if ethertype != ETH_IPV4 or len(frame) < _ETH.size + _IPV4.size:
        return None
    ip = _IPV4.unpack_from(frame, _ETH.size)
    l4 = _ETH.size + (ip[0] & 0xF) * 4
    source = str(ipaddress.IPv4Address(ip[8]))
    if ip[6] == IPPROTO_ICMP and len(frame) >= l4 + 8:
        kind, _, _, ident, seq = struct.unpack_from("!BBHHH", frame, l4)
        return Answer("icmp", source, seq) if kind == 0 and ident == PROBE_ICMP_ID else None
    if ip[6] == IPPROTO_TCP and len(frame) >= l4 + _TCP.size:
        _, dport, _, ack, _, flags = _TCP.unpack_from(frame, l4)[:6]
        syn_ack = flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK
        return Answer("tcp", source, dport, syn_ack, ack) if syn_ack or flags & TCP_RST else None
    return None


def borrowed_address(cidr: str, taken: str) -> str:
    """The address of `cidr` a check borrows as its source: the last host address, or the one before if
    that is the probed port's own."""
    network = ipaddress.ip_network(cidr, strict=False)
    last = network.broadcast_address - 1 if network.num_addresses > 2 else network.broadcast_address
    return str(last - 1 if str(last) == taken else last)
