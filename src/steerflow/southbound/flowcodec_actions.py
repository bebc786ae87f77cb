"""OpenFlow 1.3 actions and instructions on the wire, as OVS writes them, to and from `flows` values.

Standard actions (output, group, set_field, push/pop_mpls, push/pop_vlan) and the Nicira extensions
steerflow uses (resubmit, reg_move, multipath, encap/decap, ct, clone) have an exact encoding here.
Anything else a switch reports (an action or instruction someone else wrote) decodes to `Opaque`
carrying its bytes, so a foreign flow compares unequal to every flow we compile and re-encodes to the
very same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from steerflow.flows.types import (
    MULTIPATH_ALGORITHMS,
    MULTIPATH_FIELDS,
    Action,
    Clone,
    Ct,
    Decap,
    Drop,
    EncapEthernet,
    EncapNsh,
    GroupAction,
    Move,
    Multipath,
    NshTlv,
    Opaque,
    Output,
    PopMpls,
    PopVlan,
    PushMpls,
    PushVlan,
    Resubmit,
    SetField,
)
from steerflow.southbound.flowcodec_fields import (
    BY_NAME,
    CODECS,
    CodecError,
    FieldCodec,
    codec_for,
    value_bytes,
)
from steerflow.southbound.flowcodec_match import decode_oxms, field_by_move_header

OFPAT_OUTPUT, OFPAT_PUSH_MPLS, OFPAT_POP_MPLS, OFPAT_GROUP, OFPAT_SET_FIELD = 0, 19, 20, 22, 25
OFPAT_PUSH_VLAN, OFPAT_POP_VLAN = 17, 18
OFPAT_EXPERIMENTER = 0xFFFF
OFPIT_GOTO_TABLE, OFPIT_APPLY_ACTIONS = 1, 4
NX_VENDOR = 0x00002320
NXAST_REG_MOVE, NXAST_MULTIPATH, NXAST_RESUBMIT_TABLE, NXAST_ENCAP, NXAST_DECAP = 6, 10, 14, 46, 47
NXAST_CT = 35
NXAST_CLONE = 42
_CT_COMMIT, _CT_NO_TABLE = 0x1, 0xFF
OFPP_IN_PORT = 0xFFFFFFF8
OFPP_CONTROLLER = 0xFFFFFFFD
OFPCML_NO_BUFFER = 0xFFFF
_OFPP10_IN_PORT = 0xFFF8
_PT_ETHERNET = 0x00000000
_PT_NSH = 0x0001894F
_PT_USE_NEXT_PROTO = 0x0000FFFE  # decap(): the next header is named by the one removed
_NSH_PROP_CLASS, _NSH_PROP_MD_TYPE, _NSH_PROP_TLV = 0x0004, 1, 2

_TL = struct.Struct("!HH")
_OUTPUT = struct.Struct("!HHIH6x")
_GROUP = struct.Struct("!HHI")
_MPLS = struct.Struct("!HHH2x")
_NX_HEAD = struct.Struct("!HHIH")  # type, len, vendor, subtype
_RESUBMIT = struct.Struct("!HHIHHB3x")
_MOVE = struct.Struct("!HHIHHHH")
# ..., fields, basis, pad, algorithm, max_link, arg, pad, ofs_nbits, dst (its NXM header): 32 bytes
_MULTIPATH = struct.Struct("!HHIHHH2xHHI2xHI")
_ENCAP = struct.Struct("!HHIHHI")  # ..., hdr_size, new_pkt_type; properties follow
_DECAP = struct.Struct("!HHIH2xI")
# ..., flags, zone_src (0: immediate), zone, recirc_table, pad, alg; nested actions follow: 24 bytes
_CT = struct.Struct("!HHIHHIHB3xH")
_CLONE = struct.Struct("!HHIH6x")  # ext_action_header; nested actions follow: 16 bytes
_NSH_MD_TYPE = struct.Struct("!HBBB3x")
_NSH_TLV = struct.Struct("!HBBHBB")
_INSTRUCTION = struct.Struct("!HH4x")
_GOTO = struct.Struct("!HHB3x")


def _pad8(data: bytes) -> bytes:
    return data + bytes(-len(data) % 8)


# ---- encoding ------------------------------------------------------------------------------------


def encode_action(action: Action) -> tuple[bytes, bool]:
    """One action's bytes and whether `action` is canonical (decoding gives it back)."""
    encoder = _ENCODERS.get(type(action))
    if encoder is None:
        raise CodecError(f"cannot encode action {action!r}")
    return encoder(action)


def _output(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, Output)
    max_len = OFPCML_NO_BUFFER if action.port == OFPP_CONTROLLER else 0
    return _OUTPUT.pack(OFPAT_OUTPUT, 16, _u32(action.port, "output port"), max_len), True


def _group(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, GroupAction)
    return _GROUP.pack(OFPAT_GROUP, 8, _u32(action.group_id, "group id")), True


def _set_field(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, SetField)
    head = _SET_FIELD_HEADS.get(action.name)
    if head is not None:
        prefix, codec, padding = head
        raw = codec.exact(action.value)
        if raw is not None:
            return prefix + raw + padding, True
    codec = codec_for(action.name)
    value, ok = value_bytes(codec, action.value)
    prefix, _, padding = _set_field_head(codec)
    return prefix + value + padding, ok and codec.name == action.name


def _set_field_head(codec: FieldCodec) -> tuple[bytes, FieldCodec, bytes]:
    """What precedes and follows a set_field's value: action header + OXM header, then padding."""
    oxm_length = len(codec.prefix) + codec.size
    length = (4 + oxm_length + 7) // 8 * 8
    return _TL.pack(OFPAT_SET_FIELD, length) + codec.prefix, codec, bytes(length - 4 - oxm_length)


_SET_FIELD_HEADS = {c.name: _set_field_head(c) for c in CODECS}


def _move(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, Move)
    src, dst = codec_for(action.src), codec_for(action.dst)
    if (
        action.n_bits < 1
        or action.src_ofs + action.n_bits > src.bits
        or action.dst_ofs + action.n_bits > dst.bits
    ):
        raise CodecError(f"{action} is outside the fields' bits")
    body = src.move_header + dst.move_header
    length = (_MOVE.size + len(body) + 7) // 8 * 8
    head = _MOVE.pack(
        OFPAT_EXPERIMENTER, length, NX_VENDOR, NXAST_REG_MOVE, action.n_bits, action.src_ofs, action.dst_ofs
    )
    data = head + body
    return data + bytes(length - len(data)), src.name == action.src and dst.name == action.dst


def _multipath(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, Multipath)
    dst = codec_for(action.dst)
    if action.fields not in MULTIPATH_FIELDS or action.algorithm not in MULTIPATH_ALGORITHMS:
        raise CodecError(f"{action}: unknown hash fields or algorithm")
    if len(dst.move_header) != 4 or not (1 <= action.n_bits <= 64 and 0 <= action.ofs < 1024):
        raise CodecError(f"{action}: the destination must be an NXM field range")
    if action.ofs + action.n_bits > dst.bits or not 1 <= action.n_links <= 0x10000:
        raise CodecError(f"{action}: outside {dst.name}'s bits, or n_links not in 1..65536")
    if not (0 <= action.basis <= 0xFFFF and 0 <= action.arg <= 0xFFFFFFFF):
        raise CodecError(f"{action}: basis or arg out of range")
    data = _MULTIPATH.pack(
        OFPAT_EXPERIMENTER,
        _MULTIPATH.size,
        NX_VENDOR,
        NXAST_MULTIPATH,
        MULTIPATH_FIELDS.index(action.fields),
        action.basis,
        MULTIPATH_ALGORITHMS.index(action.algorithm),
        action.n_links - 1,
        action.arg,
        (action.ofs << 6) | (action.n_bits - 1),
        int.from_bytes(dst.move_header, "big"),
    )
    return data, dst.name == action.dst


def _ct(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, Ct)
    if not 0 <= action.zone <= 0xFFFF or not 0 <= (action.table or 0) <= 0xFE:
        raise CodecError(f"{action}: zone or table out of range")
    if not all(isinstance(a, SetField | Move) for a in action.actions):
        raise CodecError(f"{action}: only set_field and move may run in ct's exec")
    nested, canonical = encode_actions(action.actions)
    table = _CT_NO_TABLE if action.table is None else action.table
    flags = _CT_COMMIT if action.commit else 0
    head = _CT.pack(
        OFPAT_EXPERIMENTER, _CT.size + len(nested), NX_VENDOR, NXAST_CT, flags, 0, action.zone, table, 0
    )
    return head + nested, canonical


def _clone(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, Clone)
    nested, canonical = encode_actions(action.actions)
    head = _CLONE.pack(OFPAT_EXPERIMENTER, _CLONE.size + len(nested), NX_VENDOR, NXAST_CLONE)
    return head + nested, canonical


def _resubmit(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, Resubmit)
    port = action.in_port
    if port is None:
        port16 = _OFPP10_IN_PORT
    elif 0 <= port < 0xFF00:
        port16 = port
    elif 0xFFFFFF00 <= port <= 0xFFFFFFFF:
        port16 = port - 0xFFFF0000  # OF1.1+ reserved ports are 0xffffff00.. in OF1.0's 0xff00..
    else:
        raise CodecError(f"resubmit port {port} does not fit NXAST_RESUBMIT_TABLE")
    if not 0 <= action.table <= 0xFF:
        raise CodecError(f"resubmit table {action.table} out of range")
    data = _RESUBMIT.pack(OFPAT_EXPERIMENTER, 16, NX_VENDOR, NXAST_RESUBMIT_TABLE, port16, action.table)
    return data, port != OFPP_IN_PORT


def _push_mpls(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, PushMpls)
    return _MPLS.pack(OFPAT_PUSH_MPLS, 8, action.ethertype), True


def _pop_mpls(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, PopMpls)
    return _MPLS.pack(OFPAT_POP_MPLS, 8, action.ethertype), True


def _push_vlan(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, PushVlan)
    return _MPLS.pack(OFPAT_PUSH_VLAN, 8, action.ethertype), True  # ofp_action_push, as push_mpls


def _pop_vlan(action: Action) -> tuple[bytes, bool]:
    return _MPLS.pack(OFPAT_POP_VLAN, 8, 0), True  # ofp_action_header: type, length, 4 bytes of pad


def _encap_nsh(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, EncapNsh)
    props = [_NSH_MD_TYPE.pack(_NSH_PROP_CLASS, _NSH_PROP_MD_TYPE, 5, action.md_type)]
    for tlv in action.tlvs:
        length = (_NSH_TLV.size + len(tlv.value) + 7) // 8 * 8
        head = _NSH_TLV.pack(_NSH_PROP_CLASS, _NSH_PROP_TLV, length, tlv.md_class, tlv.type, len(tlv.value))
        props.append(_pad8(head + tlv.value))
    return _encap(_PT_NSH, b"".join(props)), True


def _encap_ethernet(action: Action) -> tuple[bytes, bool]:
    return _encap(_PT_ETHERNET, b""), True


def _encap(packet_type: int, props: bytes) -> bytes:
    length = _ENCAP.size + len(props)
    return _ENCAP.pack(OFPAT_EXPERIMENTER, length, NX_VENDOR, NXAST_ENCAP, 0, packet_type) + props


def _decap(action: Action) -> tuple[bytes, bool]:
    return _DECAP.pack(OFPAT_EXPERIMENTER, 16, NX_VENDOR, NXAST_DECAP, _PT_USE_NEXT_PROTO), True


def _drop(action: Action) -> tuple[bytes, bool]:
    return b"", False  # "no actions" is how a switch says drop: Drop() itself never comes back


def _opaque(action: Action) -> tuple[bytes, bool]:
    assert isinstance(action, Opaque)
    if action.kind != "action":
        return b"", True  # instructions and flow attributes are placed by encode_instructions
    return bytes.fromhex(action.data), True


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise CodecError(f"{what} {value} does not fit in 32 bits")
    return value


_ENCODERS: dict[type, Callable[[Action], tuple[bytes, bool]]] = {
    Output: _output,
    GroupAction: _group,
    SetField: _set_field,
    Move: _move,
    Multipath: _multipath,
    Ct: _ct,
    Clone: _clone,
    Resubmit: _resubmit,
    PushMpls: _push_mpls,
    PopMpls: _pop_mpls,
    PushVlan: _push_vlan,
    PopVlan: _pop_vlan,
    EncapNsh: _encap_nsh,
    EncapEthernet: _encap_ethernet,
    Decap: _decap,
    Drop: _drop,
    Opaque: _opaque,
}


def encode_actions(actions: Iterable[Action]) -> tuple[bytes, bool]:
    """An action list's bytes and whether every action in it is canonical."""
    parts: list[bytes] = []
    canonical = True
    for action in actions:
        data, ok = encode_action(action)
        parts.append(data)
        canonical = canonical and ok
    return b"".join(parts), canonical


def encode_instructions(actions: tuple[Action, ...], goto: int | None) -> tuple[bytes, bool, bool]:
    """Apply-actions (if any), the opaque instructions of a foreign flow, then goto-table (if any).

    Returns the bytes, whether the actions are canonical and whether any is Opaque.
    """
    parts: list[bytes] = []
    canonical = True
    opaque = False
    for action in actions:
        encoder = _ENCODERS.get(type(action))
        if encoder is None:
            raise CodecError(f"cannot encode action {action!r}")
        data, ok = encoder(action)
        parts.append(data)
        canonical = canonical and ok
        opaque = opaque or type(action) is Opaque
    body = b"".join(parts)
    out = _INSTRUCTION.pack(OFPIT_APPLY_ACTIONS, _INSTRUCTION.size + len(body)) + body if body else b""
    if opaque:
        out += b"".join(
            bytes.fromhex(a.data) for a in actions if isinstance(a, Opaque) and a.kind == "instruction"
        )
    if goto is not None:
        if not 0 <= goto <= 0xFE:
            raise CodecError(f"goto_table {goto} out of range")
        out += _GOTO_BYTES[goto]
    return out, canonical, opaque


_GOTO_BYTES = [_GOTO.pack(OFPIT_GOTO_TABLE, 8, table) for table in range(0xFF)]


# ---- decoding ------------------------------------------------------------------------------------


def decode_actions(data: bytes, offset: int = 0, end: int | None = None) -> list[Action]:
    """The actions in data[offset:end]; ones we do not model become Opaque("action", hex)."""
    end = len(data) if end is None else end
    actions: list[Action] = []
    while offset + 4 <= end:
        action_type, length = _TL.unpack_from(data, offset)
        if length < 8 or offset + length > end:
            raise CodecError(f"bad action length {length} at offset {offset}")
        raw = data[offset : offset + length]
        actions.append(_decode_action(action_type, raw) or Opaque("action", raw.hex()))
        offset += length
    return actions


def _decode_action(action_type: int, raw: bytes) -> Action | None:
    if action_type == OFPAT_OUTPUT and len(raw) == 16:
        return Output(_OUTPUT.unpack(raw)[2])
    if action_type == OFPAT_GROUP and len(raw) == 8:
        return GroupAction(_GROUP.unpack(raw)[2])
    if action_type == OFPAT_SET_FIELD:
        return _decode_set_field(raw)
    if action_type in (OFPAT_PUSH_MPLS, OFPAT_POP_MPLS) and len(raw) == 8:
        ethertype = _MPLS.unpack(raw)[2]
        return PushMpls(ethertype) if action_type == OFPAT_PUSH_MPLS else PopMpls(ethertype)
    if action_type == OFPAT_PUSH_VLAN and len(raw) == 8:
        return PushVlan(_MPLS.unpack(raw)[2])
    if action_type == OFPAT_POP_VLAN and raw == _MPLS.pack(OFPAT_POP_VLAN, 8, 0):
        return PopVlan()
    if action_type == OFPAT_EXPERIMENTER and len(raw) >= _NX_HEAD.size:
        _, _, vendor, subtype = _NX_HEAD.unpack_from(raw)
        decoder = _NX_DECODERS.get(subtype) if vendor == NX_VENDOR else None
        return decoder(raw) if decoder else None
    return None


def _decode_set_field(raw: bytes) -> Action | None:
    fields = decode_oxms(raw, 4, 8 + (raw[7] if len(raw) >= 8 else 0))
    if len(fields) != 1 or fields[0].mask is not None or fields[0].name not in BY_NAME:
        return None
    return SetField(fields[0].name, fields[0].value)


def _decode_resubmit(raw: bytes) -> Action | None:
    if len(raw) != 16:
        return None
    port16, table = _RESUBMIT.unpack(raw)[4:6]
    if port16 == _OFPP10_IN_PORT:
        return Resubmit(table)
    return Resubmit(table, port16 + 0xFFFF0000 if port16 >= 0xFF00 else port16)


def _decode_move(raw: bytes) -> Action | None:
    _, _, _, _, n_bits, src_ofs, dst_ofs = _MOVE.unpack_from(raw)
    src, offset = field_by_move_header(raw, _MOVE.size)
    dst, _ = field_by_move_header(raw, offset)
    if src.name not in BY_NAME or dst.name not in BY_NAME:
        return None
    return Move(src.name, dst.name, n_bits, src_ofs, dst_ofs)


def _decode_multipath(raw: bytes) -> Action | None:
    if len(raw) != _MULTIPATH.size:
        return None
    fields, basis, algorithm, max_link, arg, ofs_nbits = _MULTIPATH.unpack(raw)[4:10]
    if fields >= len(MULTIPATH_FIELDS) or algorithm >= len(MULTIPATH_ALGORITHMS):
        return None
    if raw[-4:-2] == b"\xff\xff":  # an experimenter OXM does not fit here (OVS takes NXM only)
        return None
    dst, _ = field_by_move_header(raw, _MULTIPATH.size - 4)
    if dst.name not in BY_NAME:
        return None
    return Multipath(
        MULTIPATH_FIELDS[fields],
        basis,
        MULTIPATH_ALGORITHMS[algorithm],
        max_link + 1,
        arg,
        dst.name,
        ofs_nbits >> 6,
        (ofs_nbits & 0x3F) + 1,
    )


def _decode_encap(raw: bytes) -> Action | None:
    _, length, _, _, hdr_size, packet_type = _ENCAP.unpack_from(raw)
    if hdr_size != 0:
        return None
    if packet_type == _PT_ETHERNET and length == _ENCAP.size:
        return EncapEthernet()
    if packet_type != _PT_NSH:
        return None
    return _decode_nsh_props(raw, _ENCAP.size, length)


def _decode_nsh_props(raw: bytes, offset: int, end: int) -> Action | None:
    md_type: int | None = None
    tlvs: list[NshTlv] = []
    while offset + 4 <= end:
        prop_class, prop_type, prop_len = _TL.unpack_from(raw, offset)[0], raw[offset + 2], raw[offset + 3]
        if prop_class != _NSH_PROP_CLASS or prop_len < 4:
            return None
        if prop_type == _NSH_PROP_MD_TYPE:
            md_type = raw[offset + 4]
        elif prop_type == _NSH_PROP_TLV:
            _, _, _, md_class, tlv_type, tlv_len = _NSH_TLV.unpack_from(raw, offset)
            start = offset + _NSH_TLV.size
            tlvs.append(NshTlv(md_class, tlv_type, raw[start : start + tlv_len]))
        else:
            return None
        offset += (prop_len + 7) // 8 * 8
    return None if md_type is None else EncapNsh(md_type, tuple(tlvs))


def _decode_decap(raw: bytes) -> Action | None:
    if len(raw) == 16 and _DECAP.unpack(raw)[4] == _PT_USE_NEXT_PROTO:
        return Decap()
    return None


def _decode_ct(raw: bytes) -> Action | None:
    if len(raw) < _CT.size:
        return None
    flags, zone_src, zone, table, alg = _CT.unpack_from(raw)[4:9]
    if flags & ~_CT_COMMIT or zone_src != 0 or alg != 0:
        return None  # force, a zone from a field, ALGs: not modelled
    nested = decode_actions(raw, _CT.size)
    if not all(isinstance(a, SetField | Move) for a in nested):
        return None
    actions = tuple(a for a in nested if isinstance(a, SetField | Move))
    return Ct(bool(flags & _CT_COMMIT), zone, None if table == _CT_NO_TABLE else table, actions)


def _decode_clone(raw: bytes) -> Action | None:
    if len(raw) < _CLONE.size:
        return None
    return Clone(tuple(decode_actions(raw, _CLONE.size)))


_NX_DECODERS: dict[int, Callable[[bytes], Action | None]] = {
    NXAST_RESUBMIT_TABLE: _decode_resubmit,
    NXAST_REG_MOVE: _decode_move,
    NXAST_MULTIPATH: _decode_multipath,
    NXAST_ENCAP: _decode_encap,
    NXAST_DECAP: _decode_decap,
    NXAST_CT: _decode_ct,
    NXAST_CLONE: _decode_clone,
}


def decode_instructions(data: bytes) -> tuple[tuple[Action, ...], int | None]:
    """(actions, goto) from an instruction list; other instructions become Opaque("instruction")."""
    actions: list[Action] = []
    extra: list[Action] = []
    goto: int | None = None
    offset = 0
    while offset + 4 <= len(data):
        kind, length = _TL.unpack_from(data, offset)
        if length < 8 or offset + length > len(data):
            raise CodecError(f"bad instruction length {length} at offset {offset}")
        if kind == OFPIT_APPLY_ACTIONS:
            actions.extend(decode_actions(data, offset + 8, offset + length))
        elif kind == OFPIT_GOTO_TABLE and length == 8:
            goto = data[offset + 4]
        else:
            extra.append(Opaque("instruction", data[offset : offset + length].hex()))
        offset += length
    return tuple(actions + extra), goto
