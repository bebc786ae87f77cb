"""Nicira multipath as the simulator runs it: hash a fixed field set of the packet, pick a link, store it.

The field sets mean what they mean in OVS 3.1 (`flow_hash_fields`): which headers count, when a set
falls back to L2, which ports count for which protocol. The hash itself is ours (a keyed BLAKE2b, not
OVS's jhash), so a real switch may pick another link for a given packet; what holds for both is what
tests assert: the same fields always give the same link, symmetric sets give both directions of a
connection the same link, and links win in equal shares. The link choice follows OVS's algorithms
(modulo_n, hash_threshold, hrw: highest random weight, falling back to iter_hash above 64 links).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from steerflow.flows.types import Multipath
from steerflow.ofsim import fields as fd
from steerflow.ofsim.packet import Packet

HRW_MAX_LINKS = 64  # OVS computes hrw only up to here, iter_hash beyond

_PORT_PAIRS = {6: ("tcp_src", "tcp_dst"), 132: ("sctp_src", "sctp_dst"), 17: ("udp_src", "udp_dst")}
_IP_PAIRS = {fd.ETH_IPV4: ("ipv4_src", "ipv4_dst"), fd.ETH_IPV6: ("ipv6_src", "ipv6_dst")}


def apply(action: Multipath, packet: Packet) -> Packet:
    """`packet` with the chosen link written into dst[ofs..ofs+n_bits)."""
    hashed = flow_hash(action.fields, action.basis, packet)
    link = choose_link(hashed, action.algorithm, action.n_links, action.arg)
    spec = fd.spec(action.dst)
    width = (1 << action.n_bits) - 1
    old = packet.raw(spec) & ~(width << action.ofs)
    return packet.set_int(spec.name, old | ((link & width) << action.ofs))


def flow_hash(fields: str, basis: int, packet: Packet) -> int:
    """A 32-bit hash of the packet's `fields` set (an ovs-ofctl name such as "symmetric_l3l4+udp")."""
    key = _KEYS[fields](packet)
    return _h32(basis.to_bytes(2, "big") + b"|" + key)


def choose_link(hash32: int, algorithm: str, n_links: int, arg: int) -> int:
    """The link in [0, n_links) an algorithm picks for a hash, shaped like OVS's `multipath_algorithm`."""
    if algorithm == "modulo_n":
        return hash32 % n_links
    if algorithm == "hash_threshold":
        return 0 if n_links == 1 else hash32 // (0xFFFFFFFF // n_links + 1)
    if algorithm == "hrw" and n_links <= HRW_MAX_LINKS:
        weights = [_mix(hash32, link) for link in range(n_links)]
        return weights.index(max(weights))  # the first best wins ties, as in OVS
    return _iter_hash(hash32, n_links, arg if algorithm == "iter_hash" else 0)


def _iter_hash(hash32: int, n_links: int, modulo: int) -> int:
    if modulo < n_links or modulo // 2 > n_links:
        modulo = 1 << (n_links - 1).bit_length()
    i = 0
    while True:
        link = _mix(hash32, i) % modulo
        if link < n_links:
            return link
        i += 1


def _h32(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "big")


def _mix(hash32: int, word: int) -> int:
    return _h32(hash32.to_bytes(4, "big") + word.to_bytes(4, "big"))


# ---- the field sets ------------------------------------------------------------------------------------


def _get(packet: Packet, name: str) -> int:
    spec = fd.SPECS[name]
    return packet.raw(spec) if packet.satisfies(spec) else 0


def _pair(packet: Packet, a: str, b: str) -> str:
    """Both directions alike: the two values in ascending order."""
    low, high = sorted((_get(packet, a), _get(packet, b)))
    return f"{low:x},{high:x}"


def _ethernet(packet: Packet) -> bool:
    return packet.packet_type == fd.PT_ETHERNET


def _l2(packet: Packet) -> list[str]:
    vlan = _get(packet, "vlan_vid") & 0xFFF
    return [_pair(packet, "eth_src", "eth_dst"), f"{vlan:x}", f"{packet.value('eth_type'):x}"]


def _ip(packet: Packet) -> tuple[str, str] | None:
    return _IP_PAIRS.get(packet.value("eth_type"))


def _ports(packet: Packet, protocols: frozenset[int]) -> list[str]:
    proto = _get(packet, "ip_proto")
    return [_pair(packet, *_PORT_PAIRS[proto])] if proto in protocols else []


def _eth_src(packet: Packet) -> bytes:
    return f"{_get(packet, 'eth_src'):x}".encode()


def _symmetric_l4(packet: Packet) -> bytes:
    """MACs, VLAN, eth_type; IP addresses and protocol; TCP/SCTP (never UDP) ports."""
    parts = _l2(packet) if _ethernet(packet) else ["", "", f"{packet.value('eth_type'):x}"]
    ip = _ip(packet)
    if ip is not None:
        parts += [_pair(packet, *ip), f"{_get(packet, 'ip_proto'):x}", *_ports(packet, frozenset({6, 132}))]
    return ";".join(parts).encode()


def _symmetric_l3l4(udp: bool) -> Callable[[Packet], bytes]:
    """IP addresses, protocol and TCP/SCTP (and UDP) ports; a packet that is not IP hashes its L2."""
    protocols = frozenset({6, 132, 17} if udp else {6, 132})

    def key(packet: Packet) -> bytes:
        ip = _ip(packet)
        if ip is None:
            return ";".join(["l2", *_l2(packet)]).encode() if _ethernet(packet) else b"none"
        parts = [_pair(packet, *ip), f"{_get(packet, 'ip_proto'):x}", *_ports(packet, protocols)]
        return ";".join(parts).encode()

    return key


def _address(index: int) -> Callable[[Packet], bytes]:
    """nw_src (index 0) or nw_dst (1): that IPv4 or IPv6 address; nothing for other packets."""

    def key(packet: Packet) -> bytes:
        ip = _ip(packet)
        return b"" if ip is None else f"{_get(packet, ip[index]):x}".encode()

    return key


def _symmetric_l3(packet: Packet) -> bytes:
    ip = _ip(packet)
    pair = "" if ip is None else _pair(packet, *ip)
    return f"{packet.value('eth_type'):x};{pair}".encode()


_KEYS: dict[str, Callable[[Packet], bytes]] = {
    "eth_src": _eth_src,
    "symmetric_l4": _symmetric_l4,
    "symmetric_l3l4": _symmetric_l3l4(udp=False),
    "symmetric_l3l4+udp": _symmetric_l3l4(udp=True),
    "nw_src": _address(0),
    "nw_dst": _address(1),
    "symmetric_l3": _symmetric_l3,
}
