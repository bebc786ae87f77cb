"""ofp_match on the wire: OXM TLVs in OVS's order, to and from canonical `Match` values.

Encoding reports whether its input was canonical, i.e. whether decoding the bytes gives back an
equal value: field values spelled canonically (flowcodec_fields.py), masks only where they mask
something (value & mask == value, neither all-ones nor zero), fields sorted by name. The reconciler
relies on that flag to key desired flows the way the switch will report them. Both directions run
once per flow of a 100k-flow install or resync, so the common cases are inlined.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from steerflow.flows.types import Field, FieldValue, Match
from steerflow.southbound.flowcodec_fields import (
    BY_HEADER,
    BY_NAME,
    CODECS,
    OFPMT_OXM,
    OFPXMC_EXPERIMENTER,
    U32,
    CodecError,
    FieldCodec,
    Kind,
    codec_for,
    codec_of_header,
    oxm_header,
    value_bytes,
)

_MATCH_HEAD = struct.Struct("!HH")
_PADDING = [bytes(n) for n in range(8)]
# Unmasked 32-bit headers of the non-experimenter fields: the decoder's fast path.
_EXACT_HEADERS: dict[int, FieldCodec] = {
    oxm_header(cls, fld, c.size): c for (cls, fld, exp), c in BY_HEADER.items() if exp is None
}


# ---- matches -------------------------------------------------------------------------------------


def encode_field(field: Field) -> tuple[bytes, bool]:
    """One OXM TLV and whether `field` is canonical.

    A mask is normalised as a switch would: bits outside it are cleared, a mask of every bit is
    no mask, and a mask of no bit is no field at all (b"").
    """
    codec = codec_for(field.name)
    value, ok = value_bytes(codec, field.value)
    ok = ok and codec.name == field.name
    if field.mask is None:
        return codec.prefix + value, ok
    mask, mask_ok = value_bytes(codec, field.mask)
    number, mask_number = int.from_bytes(value, "big"), int.from_bytes(mask, "big")
    ok = ok and mask_ok and number & mask_number == number and 0 < mask_number < codec.full_mask
    if mask_number & codec.full_mask == codec.full_mask:
        return codec.prefix + value, ok
    if not mask_number:
        return b"", ok
    value = (number & mask_number).to_bytes(codec.size, "big")
    return codec.masked_prefix + value + mask, ok


def encode_match(match: Match) -> tuple[bytes, bool]:
    """The ofp_match (OXM, padded to 8 bytes) and whether `match` is canonical.

    Fields go on the wire in OVS's order (`WIRE_ORDER`), not the Match's name order: OVS checks
    each field's prerequisites against the fields before it. Exact fields spelled canonically take
    one call each (`_TLV`); anything else goes through encode_field. This runs for every flow of a
    cold install.
    """
    parts: list[tuple[int, bytes]] = []
    canonical = True
    in_order = True
    previous = ""
    last_rank = -1
    tlv_of, rank_of = _TLV.get, _RANK.get
    for field in match.fields:
        name = field.name
        encode = tlv_of(name)
        tlv = encode(field.value) if encode is not None and field.mask is None else None
        if tlv is None:
            tlv, ok = encode_field(field)
            canonical = canonical and ok
        if name <= previous:
            canonical = False
        rank = rank_of(name, _UNRANKED) if encode is not None else _rank_of_alias(name)
        if rank < last_rank:
            in_order = False
        parts.append((rank, tlv))
        previous, last_rank = name, rank
    if not in_order:
        parts.sort(key=_first)
    body = b"".join([tlv for _, tlv in parts])
    length = 4 + len(body)
    head = _MATCH_HEADS[length] if length < len(_MATCH_HEADS) else _MATCH_HEAD.pack(OFPMT_OXM, length)
    return head + body + _PADDING[-length % 8], canonical


def _first(part: tuple[int, bytes]) -> int:
    return part[0]


def _rank_of_alias(name: str) -> int:
    codec = BY_NAME.get(name)
    return _RANK.get(codec.name, _UNRANKED) if codec is not None else _UNRANKED


# The order OVS 3.1 writes match fields in (nx_put_raw), read back from its flow dumps: every field
# comes after its prerequisites (eth_type before ipv4_*/arp_*, ip_proto before tcp_*, icmpv6_type
# before ipv6_nd_*), which OVS checks field by field (OFPBMC_BAD_PREREQ). Encoding in this order
# also makes our bytes the very bytes a dump returns. Fields we do not model go last.
WIRE_ORDER: tuple[str, ...] = (
    "packet_type",
    "conj_id",
    "in_port",
    "eth_src",
    "eth_dst",
    "eth_type",
    "vlan_vid",
    "vlan_pcp",
    "mpls_tc",
    "mpls_bos",
    "mpls_ttl",
    "mpls_label",
    "ipv4_src",
    "ipv4_dst",
    "ipv6_src",
    "ipv6_dst",
    "ipv6_flabel",
    "ip_dscp",
    "ip_ecn",
    "nw_ttl",
    "ip_proto",
    "arp_op",
    "arp_spa",
    "arp_tpa",
    "arp_sha",
    "arp_tha",
    "tcp_src",
    "tcp_dst",
    "tcp_flags",
    "udp_src",
    "udp_dst",
    "sctp_src",
    "sctp_dst",
    "icmpv4_type",
    "icmpv4_code",
    "icmpv6_type",
    "icmpv6_code",
    "ipv6_nd_target",
    "ipv6_nd_sll",
    "ipv6_nd_tll",
    "nd_reserved",
    "nd_options_type",
    "nsh_flags",
    "nsh_ttl",
    "nsh_mdtype",
    "nsh_np",
    "nsh_spi",
    "nsh_si",
    "nsh_c1",
    "nsh_c2",
    "nsh_c3",
    "nsh_c4",
    "tunnel_id",
    "tun_ipv4_src",
    "tun_ipv4_dst",
    *(f"reg{i}" for i in range(16)),
    "pkt_mark",
    "ct_state",
    "ct_zone",
    "ct_mark",
    "ct_label",
    "metadata",
)
_RANK = {name: rank for rank, name in enumerate(WIRE_ORDER)}
_UNRANKED = len(WIRE_ORDER)


_MATCH_HEADS = [_MATCH_HEAD.pack(OFPMT_OXM, n) for n in range(1024)]


def _tlv_encoder(codec: FieldCodec) -> Callable[[FieldValue], bytes | None]:
    """value -> OXM TLV when `value` is canonical, else None: one call per field on the hot path."""
    prefix, size, full = codec.prefix, codec.size, codec.full_mask
    if codec.kind is Kind.INT:

        def int_tlv(value: FieldValue) -> bytes | None:
            if type(value) is int and 0 <= value <= full:
                return prefix + value.to_bytes(size, "big")
            return None

        return int_tlv
    if codec.kind is Kind.IPV4:
        pton, ntop, af_inet = socket.inet_pton, socket.inet_ntop, socket.AF_INET

        def ipv4_tlv(value: FieldValue) -> bytes | None:
            if type(value) is str:
                try:
                    raw = pton(af_inet, value)
                except OSError:
                    return None
                if ntop(af_inet, raw) == value:
                    return prefix + raw
            return None

        return ipv4_tlv
    exact = codec.exact

    def tlv(value: FieldValue) -> bytes | None:
        raw = exact(value)
        return None if raw is None else prefix + raw

    return tlv


# Canonical names only: an alias misses here and takes the slow path, which reports it.
_TLV: dict[str, Callable[[FieldValue], bytes | None]] = {c.name: _tlv_encoder(c) for c in CODECS}


def decode_match(data: bytes) -> Match:
    """A canonical Match from an ofp_match (with or without its padding)."""
    match_type, length = _MATCH_HEAD.unpack_from(data)
    if match_type != OFPMT_OXM:
        raise CodecError(f"match type {match_type} is not OXM")
    fields = decode_oxms(data, 4, length)
    if len(fields) > 1:
        fields.sort(key=_by_name)
    return Match(tuple(fields))


def _by_name(field: Field) -> str:
    return field.name


def decode_oxms(data: bytes, offset: int, end: int) -> list[Field]:
    """The fields of consecutive OXM TLVs in data[offset:end], normalised as OVS does."""
    fields: list[Field] = []
    unpack = U32.unpack_from
    exact_headers = _EXACT_HEADERS
    while offset + 4 <= end:
        (header,) = unpack(data, offset)
        codec = exact_headers.get(header)
        if codec is not None:
            start, offset = offset + 4, offset + 4 + codec.size
            fields.append(Field(codec.name, codec.value_of(data[start:offset])))
            continue
        length = header & 0xFF
        start, offset = offset + 4, offset + 4 + length
        if offset > end:
            raise CodecError(f"OXM field of {length} bytes overruns its match")
        fields.append(_field(header, data[start:offset]))
    return fields


def _field(header: int, payload: bytes) -> Field:
    oxm_class, field, masked = header >> 16, (header >> 9) & 0x7F, bool(header & 0x100)
    experimenter = None
    if oxm_class == OFPXMC_EXPERIMENTER:
        experimenter = U32.unpack_from(payload)[0]
        payload = payload[4:]
    size = len(payload) // 2 if masked else len(payload)
    codec = BY_HEADER.get((oxm_class, field, experimenter))
    if codec is None or codec.size != size:
        codec = codec_of_header(oxm_class, field, size, experimenter)
    value = payload[:size]
    if not masked:
        return Field(codec.name, codec.value_of(value))
    mask_number = int.from_bytes(payload[size:], "big")
    if mask_number & codec.full_mask == codec.full_mask:
        return Field(codec.name, codec.value_of(value))
    value = (int.from_bytes(value, "big") & mask_number).to_bytes(size, "big")
    return Field(codec.name, codec.value_of(value), codec.value_of(payload[size:]))


def field_by_move_header(data: bytes, offset: int) -> tuple[FieldCodec, int]:
    """The field a reg_move/copy_field header at `offset` names, and the offset after the header."""
    (header,) = U32.unpack_from(data, offset)
    oxm_class, field, length = header >> 16, (header >> 9) & 0x7F, header & 0xFF
    experimenter = None
    end = offset + 4
    if oxm_class == OFPXMC_EXPERIMENTER:
        (experimenter,) = U32.unpack_from(data, end)
        end += 4
        length -= 4
    codec = BY_HEADER.get((oxm_class, field, experimenter))
    if codec is None:
        codec = codec_of_header(oxm_class, field, length, experimenter)
    return codec, end
