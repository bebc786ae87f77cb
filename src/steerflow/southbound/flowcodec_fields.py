"""The OXM field table: every match field FlowCodec knows, its OXM/NXM headers, width and value codecs.

Field names are os-ken's (`steerflow.flows.Field`); a few ovs-ofctl spellings (`tun_id`, `nw_dst`...)
are accepted when encoding but are not canonical. A value's codec reports whether it was spelled
canonically, i.e. whether decoding its bytes gives back an equal value (MACs lower case, IPs as
`ipaddress` writes them). The ofp_match encoder/decoder is in flowcodec_match.py.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from steerflow.flows.types import FieldValue

OFPXMC_NXM_0 = 0x0000
OFPXMC_NXM_1 = 0x0001
OFPXMC_ERICSSON = 0x1000
OFPXMC_OPENFLOW_BASIC = 0x8000
OFPXMC_EXPERIMENTER = 0xFFFF
ONF_EXPERIMENTER = 0x4F4E4600  # the Open Networking Foundation's extensions to OpenFlow 1.3
NSH_EXPERIMENTER = 0x005AD650  # OVS's NSH fields are experimenter OXMs (class 0xffff)
OFPMT_OXM = 1

U32 = struct.Struct("!I")
_AF_INET = socket.AF_INET
_inet_pton, _inet_ntop = socket.inet_pton, socket.inet_ntop


class Kind(enum.Enum):
    INT = "int"
    MAC = "mac"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    HEX = "hex"  # a field we do not model: its exact bytes as "0x..."


class CodecError(ValueError):
    """A value the codec cannot put on the wire (unknown field, value out of range, bad address)."""


@dataclass(frozen=True, slots=True)
class FieldCodec:
    """How one field travels: OXM header, value size and kind, and its value converters."""

    name: str
    oxm_class: int
    field: int
    size: int  # value bytes
    bits: int  # meaningful bits: a mask of all of them is no mask
    full_mask: int
    kind: Kind
    experimenter: int | None
    prefix: bytes  # the unmasked OXM header (+ experimenter id) that precedes a value
    masked_prefix: bytes  # the same for a value followed by a mask
    move_header: bytes  # how NXAST_REG_MOVE names it (NXM where one exists, as OVS writes it)
    nxm: tuple[int, int] | None  # the NXM (class, field) OVS also uses for it
    exact: Callable[[FieldValue], bytes | None]  # canonical value -> bytes; None: take the slow path
    value_of: Callable[[bytes], FieldValue]  # bytes -> canonical value


_Exact = Callable[[FieldValue], bytes | None]
_ValueOf = Callable[[bytes], FieldValue]


def oxm_header(oxm_class: int, field: int, length: int) -> int:
    return (oxm_class << 16) | (field << 9) | length


def _exact_int(size: int, full_mask: int) -> Callable[[FieldValue], bytes | None]:
    def exact(value: FieldValue) -> bytes | None:
        if type(value) is int and 0 <= value <= full_mask:
            return value.to_bytes(size, "big")
        return None

    return exact


def _exact_mac(value: FieldValue) -> bytes | None:
    if type(value) is str and len(value) == 17:
        try:
            raw = bytes.fromhex(value.replace(":", ""))
        except ValueError:
            return None
        return raw if raw.hex(":") == value else None
    return None


def _exact_ipv4(value: FieldValue) -> bytes | None:
    if type(value) is str:
        try:
            raw = _inet_pton(_AF_INET, value)
        except OSError:
            return None
        return raw if _inet_ntop(_AF_INET, raw) == value else None
    return None


def _exact_ipv6(value: FieldValue) -> bytes | None:
    if type(value) is str:
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError:
            return None
        return address.packed if str(address) == value else None
    return None


def _exact_hex(size: int) -> Callable[[FieldValue], bytes | None]:
    def exact(value: FieldValue) -> bytes | None:
        if (
            type(value) is str
            and len(value) == 2 + 2 * size
            and value.startswith("0x")
            and value == value.lower()
        ):
            try:
                return bytes.fromhex(value[2:])
            except ValueError:
                return None
        return None

    return exact


def _int_value(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _mac_value(raw: bytes) -> str:
    return raw.hex(":")


def _ipv4_value(raw: bytes) -> str:
    return _inet_ntop(_AF_INET, raw)


def _ipv6_value(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))


def _hex_value(raw: bytes) -> str:
    return "0x" + raw.hex()


def _codec(
    name: str,
    oxm: tuple[int, int],
    size: int,
    bits: int | None = None,
    kind: Kind = Kind.INT,
    nxm: tuple[int, int] | None = None,
    experimenter: int | None = None,
) -> FieldCodec:
    exp = b"" if experimenter is None else U32.pack(experimenter)
    header = oxm_header(oxm[0], oxm[1], size + len(exp))
    masked = oxm_header(oxm[0], oxm[1], 2 * size + len(exp)) | 0x100
    move = U32.pack(oxm_header(nxm[0], nxm[1], size)) if nxm else U32.pack(header) + exp
    bits = bits or 8 * size
    full = (1 << bits) - 1
    converters: dict[Kind, tuple[_Exact, _ValueOf]] = {
        Kind.INT: (_exact_int(size, full), _int_value),
        Kind.MAC: (_exact_mac, _mac_value),
        Kind.IPV4: (_exact_ipv4, _ipv4_value),
        Kind.IPV6: (_exact_ipv6, _ipv6_value),
        Kind.HEX: (_exact_hex(size), _hex_value),
    }
    exact, value_of = converters[kind]
    prefix, masked_prefix = U32.pack(header) + exp, U32.pack(masked) + exp
    return FieldCodec(
        name,
        oxm[0],
        oxm[1],
        size,
        bits,
        full,
        kind,
        experimenter,
        prefix,
        masked_prefix,
        move,
        nxm,
        exact,
        value_of,
    )


_B, _N0, _N1 = OFPXMC_OPENFLOW_BASIC, OFPXMC_NXM_0, OFPXMC_NXM_1
_MAC, _V4, _V6 = Kind.MAC, Kind.IPV4, Kind.IPV6


def _nsh(name: str, field: int, size: int, bits: int | None = None) -> FieldCodec:
    return _codec(name, (OFPXMC_EXPERIMENTER, field), size, bits, experimenter=NSH_EXPERIMENTER)


CODECS: tuple[FieldCodec, ...] = (
    _codec("in_port", (_B, 0), 4),
    _codec("metadata", (_B, 2), 8),
    _codec("eth_dst", (_B, 3), 6, kind=_MAC, nxm=(_N0, 1)),
    _codec("eth_src", (_B, 4), 6, kind=_MAC, nxm=(_N0, 2)),
    _codec("eth_type", (_B, 5), 2, nxm=(_N0, 3)),
    _codec("vlan_vid", (_B, 6), 2, 13),
    _codec("vlan_pcp", (_B, 7), 1, 3),
    _codec("ip_dscp", (_B, 8), 1, 6),
    _codec("ip_ecn", (_B, 9), 1, 2, nxm=(_N1, 28)),
    _codec("ip_proto", (_B, 10), 1, nxm=(_N0, 6)),
    _codec("ipv4_src", (_B, 11), 4, kind=_V4, nxm=(_N0, 7)),
    _codec("ipv4_dst", (_B, 12), 4, kind=_V4, nxm=(_N0, 8)),
    _codec("tcp_src", (_B, 13), 2, nxm=(_N0, 9)),
    _codec("tcp_dst", (_B, 14), 2, nxm=(_N0, 10)),
    # OpenFlow 1.3's ONF extension 56 (OpenFlow 1.5's tcp_flags), as OVS writes it in 1.3 flow dumps
    _codec("tcp_flags", (OFPXMC_EXPERIMENTER, 42), 2, 12, nxm=(_N1, 34), experimenter=ONF_EXPERIMENTER),
    _codec("udp_src", (_B, 15), 2, nxm=(_N0, 11)),
    _codec("udp_dst", (_B, 16), 2, nxm=(_N0, 12)),
    _codec("sctp_src", (_B, 17), 2),
    _codec("sctp_dst", (_B, 18), 2),
    _codec("icmpv4_type", (_B, 19), 1, nxm=(_N0, 13)),
    _codec("icmpv4_code", (_B, 20), 1, nxm=(_N0, 14)),
    _codec("arp_op", (_B, 21), 2, nxm=(_N0, 15)),
    _codec("arp_spa", (_B, 22), 4, kind=_V4, nxm=(_N0, 16)),
    _codec("arp_tpa", (_B, 23), 4, kind=_V4, nxm=(_N0, 17)),
    _codec("arp_sha", (_B, 24), 6, kind=_MAC, nxm=(_N1, 17)),
    _codec("arp_tha", (_B, 25), 6, kind=_MAC, nxm=(_N1, 18)),
    _codec("ipv6_src", (_B, 26), 16, kind=_V6, nxm=(_N1, 19)),
    _codec("ipv6_dst", (_B, 27), 16, kind=_V6, nxm=(_N1, 20)),
    _codec("ipv6_flabel", (_B, 28), 4, 20, nxm=(_N1, 27)),
    _codec("icmpv6_type", (_B, 29), 1, nxm=(_N1, 21)),
    _codec("icmpv6_code", (_B, 30), 1, nxm=(_N1, 22)),
    _codec("ipv6_nd_target", (_B, 31), 16, kind=_V6, nxm=(_N1, 23)),
    _codec("ipv6_nd_sll", (_B, 32), 6, kind=_MAC, nxm=(_N1, 24)),
    _codec("ipv6_nd_tll", (_B, 33), 6, kind=_MAC, nxm=(_N1, 25)),
    # Ericsson's OXM class (OVS 2.11+): the NA flags and the ND option type, for the ND responder
    _codec("nd_reserved", (OFPXMC_ERICSSON, 1), 4),
    _codec("nd_options_type", (OFPXMC_ERICSSON, 2), 1),
    _codec("mpls_label", (_B, 34), 4, 20),
    _codec("mpls_tc", (_B, 35), 1, 3),
    _codec("mpls_bos", (_B, 36), 1, 1),
    _codec("tunnel_id", (_B, 38), 8, nxm=(_N1, 16)),
    _codec("packet_type", (_B, 44), 4),  # namespace << 16 | type, e.g. 0x1894f for NSH
    *(_codec(f"reg{i}", (_N1, i), 4) for i in range(16)),
    _codec("nw_ttl", (_N1, 29), 1),
    _codec("mpls_ttl", (_N1, 30), 1),
    _codec("tun_ipv4_src", (_N1, 31), 4, kind=_V4),
    _codec("tun_ipv4_dst", (_N1, 32), 4, kind=_V4),
    _codec("pkt_mark", (_N1, 33), 4),
    _codec("conj_id", (_N1, 37), 4),
    _codec("ct_state", (_N1, 105), 4),
    _codec("ct_zone", (_N1, 106), 2),
    _codec("ct_mark", (_N1, 107), 4),
    _codec("ct_label", (_N1, 108), 16),
    _nsh("nsh_flags", 1, 1),
    _nsh("nsh_mdtype", 2, 1),
    _nsh("nsh_np", 3, 1),
    _nsh("nsh_spi", 4, 4, 24),
    _nsh("nsh_si", 5, 1),
    *(_nsh(f"nsh_c{i}", 5 + i, 4) for i in range(1, 5)),
    _nsh("nsh_ttl", 10, 1, 6),
)

# ovs-ofctl / NXM spellings accepted on input; they are not canonical (decoding gives the os-ken name).
ALIASES: dict[str, str] = {
    "tun_id": "tunnel_id",
    "tun_src": "tun_ipv4_src",
    "tun_dst": "tun_ipv4_dst",
    "dl_src": "eth_src",
    "dl_dst": "eth_dst",
    "dl_type": "eth_type",
    "nw_src": "ipv4_src",
    "nw_dst": "ipv4_dst",
    "nw_proto": "ip_proto",
    "ip_src": "ipv4_src",
    "ip_dst": "ipv4_dst",
}

BY_NAME: dict[str, FieldCodec] = {c.name: c for c in CODECS}
BY_NAME.update({alias: BY_NAME[name] for alias, name in ALIASES.items()})

# Every (class, field, experimenter) a switch may use for a field we know: OVS reports some fields
# by their NXM header (always in reg_move actions).
BY_HEADER: dict[tuple[int, int, int | None], FieldCodec] = {}
for _c in CODECS:
    BY_HEADER[(_c.oxm_class, _c.field, _c.experimenter)] = _c
    if _c.nxm is not None:
        BY_HEADER[(*_c.nxm, None)] = _c


def codec_for(name: str) -> FieldCodec:
    return BY_NAME.get(name) or unknown_codec(name)


@functools.lru_cache(maxsize=1024)
def unknown_codec(name: str) -> FieldCodec:
    """The codec of a field we do not model, named `oxm_<class>_<field>[_<experimenter>]_<bytes>`.

    Such fields come from flows someone else wrote: they decode to a hex-string value of the exact
    width, so the flow can be compared, and deleted-strict with exactly its match.
    """
    parts = name.split("_")
    try:
        if parts[0] != "oxm" or len(parts) not in (4, 5):
            raise ValueError(name)
        oxm_class, field, size = int(parts[1], 16), int(parts[2]), int(parts[-1])
        experimenter = int(parts[3], 16) if len(parts) == 5 else None
    except ValueError:
        raise CodecError(f"unknown match field {name!r}") from None
    return codec_of_header(oxm_class, field, size, experimenter)


@functools.lru_cache(maxsize=1024)
def codec_of_header(oxm_class: int, field: int, size: int, experimenter: int | None) -> FieldCodec:
    exp = "" if experimenter is None else f"_{experimenter:08x}"
    name = f"oxm_{oxm_class:04x}_{field}{exp}_{size}"
    return _codec(name, (oxm_class, field), size, kind=Kind.HEX, experimenter=experimenter)


# ---- values --------------------------------------------------------------------------------------


def value_bytes(codec: FieldCodec, value: FieldValue) -> tuple[bytes, bool]:
    """The wire bytes of a value and whether `value` is its canonical spelling."""
    raw = codec.exact(value)
    if raw is not None:
        return raw, True
    return _any_bytes(codec, value), False


def _any_bytes(codec: FieldCodec, value: FieldValue) -> bytes:
    """The slow path: any spelling of a value (an int, a MAC or IP string in any form), or an error."""
    try:
        if isinstance(value, str) and codec.kind is Kind.MAC:
            octets = value.replace("-", ":").split(":")
            if len(octets) != 6:
                raise ValueError(value)
            return bytes(int(o, 16) for o in octets)
        if isinstance(value, str) and codec.kind in (Kind.IPV4, Kind.IPV6):
            packed = ipaddress.ip_address(value).packed
            if len(packed) != codec.size:
                raise ValueError(value)
            return packed
        number = int(value, 0) if isinstance(value, str) else value
        if not 0 <= number <= codec.full_mask:
            raise ValueError(value)
        return number.to_bytes(codec.size, "big")
    except (ValueError, TypeError, OverflowError):
        raise CodecError(f"{codec.name}={value!r} is not a valid {codec.kind.value} value") from None
