"""The header and metadata fields the simulator knows: width, kind, prerequisites, maskability, writability.

Names are os-ken's (the names `steerflow.flows.Field` uses); ovs-ofctl and NXM spellings are accepted as
aliases. Properties follow Open vSwitch 3.1 (`ovs-fields(7)`), checked against `ovs-ofctl parse-flow`:
a field OVS refuses to mask is `maskable=False`, one it calls read-only is `writable=False`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

from steerflow.ofsim.errors import UnknownField

FieldValue = int | str


class Kind(Enum):
    INT = "int"
    MAC = "mac"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    PACKET_TYPE = "packet_type"


class Layer(Enum):
    """Where a field lives: pipeline metadata travels with the packet through encap/decap, headers do not."""

    META = "meta"
    HEADER = "header"
    MPLS = "mpls"  # top label stack entry
    NSH = "nsh"  # the NSH header


@dataclass(frozen=True)
class Condition:
    """A prerequisite: `field & mask` is one of `values`."""

    field: str
    values: frozenset[int]
    mask: int | None = None


@dataclass(frozen=True)
class FieldSpec:
    name: str
    bits: int
    layer: Layer
    kind: Kind = Kind.INT
    prereqs: tuple[Condition, ...] = ()
    maskable: bool = True
    writable: bool = True

    @property
    def full_mask(self) -> int:
        return (1 << self.bits) - 1


ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
ETH_RARP = 0x8035
ETH_MPLS = 0x8847
ETH_MPLS_MCAST = 0x8848
ETH_NSH = 0x894F
MPLS_TYPES = frozenset({ETH_MPLS, ETH_MPLS_MCAST})
VLAN_PRESENT = 0x1000  # OFPVID_PRESENT: vlan_vid carries it when the frame has a tag

PT_ETHERNET = 0  # packet_type (0,0)


def packet_type_of(namespace: int, ns_type: int) -> int:
    """packet_type as one integer: namespace in the high 16 bits, like OVS's (ns,type) pair."""
    return (namespace << 16) | ns_type


PT_NSH = packet_type_of(1, ETH_NSH)

ETHERNET = Condition("packet_type", frozenset({PT_ETHERNET}))
VLAN = Condition("vlan_vid", frozenset({VLAN_PRESENT}), VLAN_PRESENT)
IP_ANY = Condition("eth_type", frozenset({ETH_IPV4, ETH_IPV6}))
IPV4 = Condition("eth_type", frozenset({ETH_IPV4}))
IPV6 = Condition("eth_type", frozenset({ETH_IPV6}))
ARP = Condition("eth_type", frozenset({ETH_ARP, ETH_RARP}))
MPLS = Condition("eth_type", MPLS_TYPES)
NSH = Condition("eth_type", frozenset({ETH_NSH}))
NSH_MD1 = Condition("nsh_mdtype", frozenset({1}))


def _proto(number: int) -> Condition:
    return Condition("ip_proto", frozenset({number}))


TCP = (IP_ANY, _proto(6))
UDP = (IP_ANY, _proto(17))
SCTP = (IP_ANY, _proto(132))
ICMPV4 = (IPV4, _proto(1))
ICMPV6 = (IPV6, _proto(58))
ND = (*ICMPV6, Condition("icmpv6_type", frozenset({135, 136})))
ND_SLL = (*ICMPV6, Condition("icmpv6_type", frozenset({135})))
ND_TLL = (*ICMPV6, Condition("icmpv6_type", frozenset({136})))


def _spec(
    name: str,
    bits: int,
    layer: Layer = Layer.HEADER,
    kind: Kind = Kind.INT,
    prereqs: tuple[Condition, ...] = (),
    *,
    maskable: bool = True,
    writable: bool = True,
) -> FieldSpec:
    return FieldSpec(name, bits, layer, kind, prereqs, maskable, writable)


_M, _H = Layer.META, Layer.HEADER
_SPECS: list[FieldSpec] = [
    _spec("in_port", 32, _M, maskable=False),
    _spec("packet_type", 32, _M, Kind.PACKET_TYPE, maskable=False, writable=False),
    _spec("metadata", 64, _M),
    _spec("tunnel_id", 64, _M),
    _spec("tun_ipv4_src", 32, _M, Kind.IPV4),
    _spec("tun_ipv4_dst", 32, _M, Kind.IPV4),
    _spec("pkt_mark", 32, _M),
    # conntrack results, known after ct(table=...) recirculates (ct_mark, ct_label: written in ct's exec)
    _spec("ct_state", 32, _M, writable=False),
    _spec("ct_zone", 16, _M, maskable=False, writable=False),
    _spec("ct_mark", 32, _M),
    _spec("ct_label", 128, _M),
    *(_spec(f"reg{i}", 32, _M) for i in range(16)),
    *(_spec(f"tun_metadata{i}", 992, _M) for i in range(64)),
    _spec("eth_src", 48, _H, Kind.MAC, (ETHERNET,)),
    _spec("eth_dst", 48, _H, Kind.MAC, (ETHERNET,)),
    _spec("eth_type", 16, _H, maskable=False, writable=False),
    _spec("vlan_vid", 13, _H, prereqs=(ETHERNET,)),
    _spec("vlan_pcp", 3, _H, prereqs=(ETHERNET, VLAN), maskable=False),
    _spec("ip_proto", 8, _H, prereqs=(IP_ANY,), maskable=False, writable=False),
    _spec("ip_dscp", 6, _H, prereqs=(IP_ANY,), maskable=False),
    _spec("ip_ecn", 2, _H, prereqs=(IP_ANY,), maskable=False),
    _spec("nw_ttl", 8, _H, prereqs=(IP_ANY,), maskable=False),
    _spec("ipv4_src", 32, _H, Kind.IPV4, (IPV4,)),
    _spec("ipv4_dst", 32, _H, Kind.IPV4, (IPV4,)),
    _spec("ipv6_src", 128, _H, Kind.IPV6, (IPV6,)),
    _spec("ipv6_dst", 128, _H, Kind.IPV6, (IPV6,)),
    _spec("ipv6_flabel", 20, _H, prereqs=(IPV6,)),
    _spec("tcp_src", 16, _H, prereqs=TCP),
    _spec("tcp_dst", 16, _H, prereqs=TCP),
    _spec("tcp_flags", 12, _H, prereqs=TCP, writable=False),
    _spec("udp_src", 16, _H, prereqs=UDP),
    _spec("udp_dst", 16, _H, prereqs=UDP),
    _spec("sctp_src", 16, _H, prereqs=SCTP),
    _spec("sctp_dst", 16, _H, prereqs=SCTP),
    _spec("icmpv4_type", 8, _H, prereqs=ICMPV4, maskable=False),
    _spec("icmpv4_code", 8, _H, prereqs=ICMPV4, maskable=False),
    _spec("icmpv6_type", 8, _H, prereqs=ICMPV6, maskable=False),
    _spec("icmpv6_code", 8, _H, prereqs=ICMPV6, maskable=False),
    _spec("ipv6_nd_target", 128, _H, Kind.IPV6, ND),
    _spec("ipv6_nd_sll", 48, _H, Kind.MAC, ND_SLL),
    _spec("ipv6_nd_tll", 48, _H, Kind.MAC, ND_TLL),
    _spec("nd_reserved", 32, _H, prereqs=ND, maskable=False),
    _spec("nd_options_type", 8, _H, prereqs=ND, maskable=False),
    _spec("arp_op", 16, _H, prereqs=(ARP,), maskable=False),
    _spec("arp_spa", 32, _H, Kind.IPV4, (ARP,)),
    _spec("arp_tpa", 32, _H, Kind.IPV4, (ARP,)),
    _spec("arp_sha", 48, _H, Kind.MAC, (ARP,)),
    _spec("arp_tha", 48, _H, Kind.MAC, (ARP,)),
    _spec("mpls_label", 20, Layer.MPLS, prereqs=(MPLS,), maskable=False),
    _spec("mpls_tc", 3, Layer.MPLS, prereqs=(MPLS,), maskable=False),
    _spec("mpls_bos", 1, Layer.MPLS, prereqs=(MPLS,), maskable=False, writable=False),
    _spec("mpls_ttl", 8, Layer.MPLS, prereqs=(MPLS,), maskable=False),
    _spec("nsh_flags", 8, Layer.NSH, prereqs=(NSH,)),
    _spec("nsh_ttl", 6, Layer.NSH, prereqs=(NSH,), maskable=False),
    _spec("nsh_mdtype", 8, Layer.NSH, prereqs=(NSH,), maskable=False, writable=False),
    _spec("nsh_np", 8, Layer.NSH, prereqs=(NSH,), maskable=False, writable=False),
    _spec("nsh_spi", 24, Layer.NSH, prereqs=(NSH,), maskable=False),
    _spec("nsh_si", 8, Layer.NSH, prereqs=(NSH,), maskable=False),
    *(_spec(f"nsh_c{i}", 32, Layer.NSH, prereqs=(NSH, NSH_MD1)) for i in range(1, 5)),
]
SPECS: dict[str, FieldSpec] = {s.name: s for s in _SPECS}

_NXM = {
    "NXM_OF_IN_PORT": "in_port",
    "NXM_OF_ETH_SRC": "eth_src",
    "NXM_OF_ETH_DST": "eth_dst",
    "NXM_OF_ETH_TYPE": "eth_type",
    "NXM_OF_IP_SRC": "ipv4_src",
    "NXM_OF_IP_DST": "ipv4_dst",
    "NXM_OF_IP_PROTO": "ip_proto",
    "NXM_OF_TCP_SRC": "tcp_src",
    "NXM_OF_TCP_DST": "tcp_dst",
    "NXM_OF_UDP_SRC": "udp_src",
    "NXM_OF_UDP_DST": "udp_dst",
    "NXM_NX_TUN_ID": "tunnel_id",
    "NXM_NX_TUN_IPV4_SRC": "tun_ipv4_src",
    "NXM_NX_TUN_IPV4_DST": "tun_ipv4_dst",
    "NXM_NX_PKT_MARK": "pkt_mark",
    "NXM_NX_IP_TTL": "nw_ttl",
    "OXM_OF_METADATA": "metadata",
    "OXM_OF_MPLS_LABEL": "mpls_label",
    "OXM_OF_MPLS_TC": "mpls_tc",
    **{f"NXM_NX_REG{i}": f"reg{i}" for i in range(16)},
    "NXM_NX_CT_STATE": "ct_state",
    "NXM_NX_CT_ZONE": "ct_zone",
    "NXM_NX_CT_MARK": "ct_mark",
}
ALIASES: dict[str, str] = {
    "dl_src": "eth_src",
    "dl_dst": "eth_dst",
    "dl_type": "eth_type",
    "vlan": "vlan_vid",
    "nw_src": "ipv4_src",
    "nw_dst": "ipv4_dst",
    "ip_src": "ipv4_src",
    "ip_dst": "ipv4_dst",
    "nw_proto": "ip_proto",
    "nw_ecn": "ip_ecn",
    "ip_ttl": "nw_ttl",
    "icmp_type": "icmpv4_type",
    "icmp_code": "icmpv4_code",
    "ipv6_label": "ipv6_flabel",
    "nd_target": "ipv6_nd_target",
    "nd_sll": "ipv6_nd_sll",
    "nd_tll": "ipv6_nd_tll",
    "tun_id": "tunnel_id",
    "tun_src": "tun_ipv4_src",
    "tun_dst": "tun_ipv4_dst",
    **_NXM,
}


def canonical_name(name: str) -> str:
    """The os-ken name of a field given any accepted spelling; `UnknownField` otherwise."""
    bare = name[:-2] if name.endswith("[]") else name
    resolved = ALIASES.get(bare, bare)
    if resolved not in SPECS:
        raise UnknownField(f"unknown field {name!r}")
    return resolved


def spec(name: str) -> FieldSpec:
    return SPECS[canonical_name(name)]


def to_int(field: FieldSpec, value: FieldValue) -> int:
    """A field value (MAC/IP strings, "(ns,type)" packet types, ints) as the integer the switch compares."""
    number = _parse(field, value)
    if not 0 <= number <= field.full_mask:
        raise ValueError(f"{field.name}={value!r} does not fit in {field.bits} bits")
    return number


def _parse(field: FieldSpec, value: FieldValue) -> int:
    if isinstance(value, int):
        return value
    text = value.strip()
    if field.kind is Kind.MAC:
        return int(text.replace(":", "").replace("-", ""), 16)
    if field.kind is Kind.IPV4:
        return int(ipaddress.IPv4Address(text))
    if field.kind is Kind.IPV6:
        return int(ipaddress.IPv6Address(text))
    if field.kind is Kind.PACKET_TYPE:
        namespace, ns_type = text.strip("()").split(",")
        return packet_type_of(int(namespace, 0), int(ns_type, 0))
    return int(text, 0)


def mask_to_int(field: FieldSpec, mask: FieldValue) -> int:
    """A mask: an int, a dotted/colon mask, or a prefix length written "/24" style (as a str)."""
    if isinstance(mask, str) and mask.strip().isdigit() and field.kind in (Kind.IPV4, Kind.IPV6):
        length = int(mask)
        return field.full_mask ^ ((1 << (field.bits - length)) - 1)
    return to_int(field, mask)


def from_int(field: FieldSpec, number: int) -> FieldValue:
    """The canonical spelling of a value: lower-case MACs, compressed IPs, ints for everything else."""
    if field.kind is Kind.MAC:
        raw = f"{number:012x}"
        return ":".join(raw[i : i + 2] for i in range(0, 12, 2))
    if field.kind is Kind.IPV4:
        return str(ipaddress.IPv4Address(number))
    if field.kind is Kind.IPV6:
        return str(ipaddress.IPv6Address(number))
    return number


# Fields ovs-ofctl prints in decimal; the rest (registers, metadata, tunnel ids, SPIs) in hex.
_DECIMAL = frozenset(
    {"in_port", "vlan_pcp", "ip_proto", "ip_dscp", "ip_ecn", "nw_ttl", "arp_op"}
    | {f"{proto}_{end}" for proto in ("tcp", "udp", "sctp") for end in ("src", "dst")}
    | {f"icmpv{v}_{what}" for v in (4, 6) for what in ("type", "code")}
    | {"mpls_label", "mpls_tc", "mpls_bos", "mpls_ttl", "nsh_si", "nsh_ttl", "nsh_mdtype", "nsh_np"}
)


def render(field: FieldSpec, number: int) -> str:
    """A value as ovs-ofctl prints it: decimal ports and labels, hex registers, 0x0800 ethertypes."""
    if field.kind is Kind.PACKET_TYPE:
        return f"({number >> 16},{number & 0xFFFF:#x})"
    value = from_int(field, number)
    if isinstance(value, str):
        return value
    if field.name == "eth_type":
        return f"{value:#06x}"
    return str(value) if field.name in _DECIMAL or value < 10 else hex(value)
