"""OpenFlow 1.3 wire codec: the frames the agent sends and reads, by hand; os-ken for the rare others.

What a running agent exchanges (handshake, echo, barrier, bundles, flow and group dumps, SET_CONFIG,
errors) is framed and sliced here with `struct`, from the constants of the OpenFlow 1.3 spec below
(`tests/unit/test_ofcodec_wire.py` holds them and the frames to os-ken's). os-ken's `ofproto` modules
(`ofp`, `parser`, `nicira_ext`, `DATAPATH`) load on first use only: importing them costs a third of
the agent's start, which a restart pays before it can read the switch. When they load, only os-ken's
OpenFlow 1.3 modules are imported (`_import_of13`): not its packet library, its other OpenFlow
versions and oslo.config, which `os_ken.ofproto`'s package and the parser's `packet` import would pull
in (~28 MB of an agent's memory), and never eventlet: that comes with `os_ken.lib.hub`, which only the
app manager / controller import (`tests/functional/test_openflow_channel.py` checks both).

The hand-built frames are the hot path: a bundle of 100k flow-mods is framed from pre-serialized
bytes with `struct` (about 1 us per message), where building os-ken objects costs ~50 us each.
"""

from __future__ import annotations

import importlib
import importlib.util
import struct
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


def _import_of13() -> None:
    """Import os-ken's OpenFlow 1.3 parser with three modules stood in for while it loads: the
    `os_ken.lib.packet` package's `__init__` (it imports every protocol, down to BGP, zebra and
    oslo.config), `os_ken.lib.packet.packet` (the parser reads it only for packet-outs built from
    os-ken `Packet` objects, which we never send) and `os_ken.ofproto.ofproto_protocol` (every
    OpenFlow version's parser, for its `ProtocolDesc`). The stand-ins leave `sys.modules` afterwards:
    code that imports those modules later gets the real ones."""
    real = ("os_ken.lib.packet", "os_ken.lib.packet.packet", "os_ken.ofproto.ofproto_protocol")
    if any(name in sys.modules for name in real):
        return  # already loaded for real: nothing to save
    found = importlib.util.find_spec("os_ken.lib.packet")
    package = types.ModuleType("os_ken.lib.packet")
    package.__path__ = list(found.submodule_search_locations or []) if found else []
    packet = types.ModuleType("os_ken.lib.packet.packet")
    packet.Packet = type("Packet", (), {})  # type: ignore[attr-defined]  # nothing is one
    stand_ins = dict(zip(real, (package, packet, types.ModuleType(real[2])), strict=True))
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("os_ken.ofproto.ofproto_v1_3_parser")
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
            parent, _, child = name.rpartition(".")
            if getattr(sys.modules.get(parent), child, None) is module:
                delattr(sys.modules[parent], child)


__all__ = ["OFP_VERSION", "decode", "serialize"]

OFP_VERSION = 4  # OpenFlow 1.3
# message types (ofp_type)
OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY, OFPT_EXPERIMENTER = 0, 1, 2, 3, 4
OFPT_FEATURES_REQUEST, OFPT_FEATURES_REPLY, OFPT_SET_CONFIG, OFPT_PACKET_IN = 5, 6, 9, 10
OFPT_MULTIPART_REQUEST, OFPT_MULTIPART_REPLY, OFPT_BARRIER_REQUEST, OFPT_BARRIER_REPLY = 18, 19, 20, 21
_TYPE_NAMES: dict[int, str] = dict(enumerate((
    "OFPT_HELLO", "OFPT_ERROR", "OFPT_ECHO_REQUEST", "OFPT_ECHO_REPLY", "OFPT_EXPERIMENTER",
    "OFPT_FEATURES_REQUEST", "OFPT_FEATURES_REPLY", "OFPT_GET_CONFIG_REQUEST", "OFPT_GET_CONFIG_REPLY",
    "OFPT_SET_CONFIG", "OFPT_PACKET_IN", "OFPT_FLOW_REMOVED", "OFPT_PORT_STATUS", "OFPT_PACKET_OUT",
    "OFPT_FLOW_MOD", "OFPT_GROUP_MOD", "OFPT_PORT_MOD", "OFPT_TABLE_MOD", "OFPT_MULTIPART_REQUEST",
    "OFPT_MULTIPART_REPLY", "OFPT_BARRIER_REQUEST", "OFPT_BARRIER_REPLY", "OFPT_QUEUE_GET_CONFIG_REQUEST",
    "OFPT_QUEUE_GET_CONFIG_REPLY", "OFPT_ROLE_REQUEST", "OFPT_ROLE_REPLY", "OFPT_GET_ASYNC_REQUEST",
    "OFPT_GET_ASYNC_REPLY", "OFPT_SET_ASYNC", "OFPT_METER_MOD",
)))  # fmt: skip
OFPMP_FLOW, OFPMP_GROUP_DESC = 1, 7  # multipart types
OFPMPF_REPLY_MORE = 1
OFP_MULTIPART_REPLY_SIZE = 16  # header, type, flags, padding: the body follows
OFPTT_ALL = 0xFF
OFPP_ANY = OFPG_ANY = 0xFFFFFFFF
OFPG_ALL = 0xFFFFFFFC
OFPC_FRAG_NORMAL = 0
OFPHET_VERSIONBITMAP = 1
ONF_ET_BUNDLE_CONTROL, ONF_ET_BUNDLE_ADD_MESSAGE = 2300, 2301
ONF_BCT_OPEN_REQUEST, ONF_BCT_COMMIT_REQUEST, ONF_BCT_DISCARD_REQUEST = 0, 4, 6
ONF_BF_ATOMIC, ONF_BF_ORDERED = 1, 2
BUNDLE_ATOMIC_ORDERED = ONF_BF_ATOMIC | ONF_BF_ORDERED

HEADER = struct.Struct("!BBHI")  # version, type, length, xid
_XID = struct.Struct("!I")
_HELLO_ELEMENT = struct.Struct("!HH")
_ONF_EXPERIMENTER_ID = 0x4F4E4600  # OVS speaks the ONF bundle extension (EXT-230) on OF1.3
_BUNDLE_HEAD = struct.Struct("!BBHIIIIHH")  # header, experimenter, exp_type, bundle_id, type, flags
_BUNDLE_ADD_HEAD = struct.Struct("!BBHIIII2xH")  # header, experimenter, exp_type, bundle_id, pad, flags
BUNDLE_ADD_OVERHEAD = _BUNDLE_ADD_HEAD.size
MAX_MESSAGE = 0xFFFF
MULTIPART_REPLY = struct.Struct("!HH4x")  # type, flags; the body follows
_MULTIPART_REQUEST = struct.Struct("!BBHIHH4x")  # header, type, flags
_FLOW_STATS_REQUEST = struct.Struct("!B3xII4xQQ")  # table, out_port, out_group, cookie, cookie_mask
_EMPTY_MATCH = struct.pack("!HH4x", 1, 4)  # OFPMT_OXM without fields, padded to 8 bytes
_SWITCH_CONFIG = struct.Struct("!BBHIHH")  # header, flags, miss_send_len
_FEATURES_REPLY = struct.Struct("!QIBB2xII")  # datapath id, buffers, tables, auxiliary id, ...
_FLOW_STATS = struct.Struct("!HBxIIHHHH4xQQQ")  # ofp_flow_stats up to its match
_MATCH_HEAD = struct.Struct("!HH")  # ofp_match type, length (without its padding)
_LENGTH = struct.Struct("!H")
_FLOW_COUNTS = struct.Struct("!H22xQQQ")  # an ofp_flow_stats' length, cookie, packet and byte counts
assert _FLOW_COUNTS.size == _FLOW_STATS.size

# os-ken, loaded on first use (see the module docstring): name -> module
_OS_KEN = {
    "ofp": "os_ken.ofproto.ofproto_v1_3",
    "parser": "os_ken.ofproto.ofproto_v1_3_parser",
    "nicira_ext": "os_ken.ofproto.nicira_ext",
    "ofproto_parser": "os_ken.ofproto.ofproto_parser",
}


def __getattr__(name: str) -> Any:
    """`ofp`, `parser`, `nicira_ext`, `ofproto_parser` (os-ken's modules) and `DATAPATH`, loaded when
    first asked for."""
    if name in _OS_KEN:
        _import_of13()
        value: Any = importlib.import_module(_OS_KEN[name])
    elif name == "DATAPATH":
        value = _Datapath(__getattr__("ofp"), __getattr__("parser"))
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


@dataclass(frozen=True)
class _Datapath:
    """What os-ken messages need of a "datapath": its ofproto/ofproto_parser attributes (os-ken's
    ProtocolDesc would load every OpenFlow version for them)."""

    ofproto: Any
    ofproto_parser: Any


def type_name(msg_type: int) -> str:
    return _TYPE_NAMES.get(msg_type, f"type{msg_type}")


def serialize(msg: Any, xid: int = 0) -> bytes:
    """The wire bytes of an os-ken message (cache these: building the object is the slow part)."""
    msg.xid = xid
    msg.serialize()
    return bytes(msg.buf)


def with_xid(data: bytes | bytearray | memoryview, xid: int) -> bytearray:
    """A copy of one pre-serialized OF1.3 message carrying `xid`, after checking its header."""
    out = bytearray(data)
    if len(out) < HEADER.size:
        raise ValueError(f"an OpenFlow message is at least 8 bytes, got {len(out)}")
    version, _msg_type, length, _xid = HEADER.unpack_from(out)
    if version != OFP_VERSION or length != len(out):
        raise ValueError(f"not one OF1.3 message: version {version}, header length {length}, size {len(out)}")
    _XID.pack_into(out, 4, xid)
    return out


def hello(xid: int) -> bytes:
    """HELLO offering only OF1.3 through a version bitmap (so OVS cannot pick 1.4/1.5)."""
    element = _HELLO_ELEMENT.pack(OFPHET_VERSIONBITMAP, 8) + _XID.pack(1 << OFP_VERSION)
    return HEADER.pack(OFP_VERSION, OFPT_HELLO, HEADER.size + len(element), xid) + element


def hello_accepts_of13(frame: bytes) -> bool:
    """Whether the peer's HELLO allows OF1.3: its version bitmap if it sent one, else its header version."""
    version = frame[0]
    offset = HEADER.size
    while offset + _HELLO_ELEMENT.size <= len(frame):
        elem_type, elem_len = _HELLO_ELEMENT.unpack_from(frame, offset)
        if elem_len < _HELLO_ELEMENT.size:
            break
        if elem_type == OFPHET_VERSIONBITMAP and elem_len >= 8:
            return bool(_XID.unpack_from(frame, offset + 4)[0] & (1 << OFP_VERSION))
        offset += (elem_len + 7) // 8 * 8
    return version >= OFP_VERSION


def echo(msg_type: int, xid: int, data: bytes = b"") -> bytes:
    return HEADER.pack(OFP_VERSION, msg_type, HEADER.size + len(data), xid) + data


def features_request(xid: int) -> bytes:
    return HEADER.pack(OFP_VERSION, OFPT_FEATURES_REQUEST, HEADER.size, xid)


def features(frame: bytes) -> tuple[int, int]:
    """(datapath id, number of tables) of a FEATURES_REPLY."""
    datapath_id, _buffers, n_tables, *_ = _FEATURES_REPLY.unpack_from(frame, HEADER.size)
    return datapath_id, n_tables


def set_config(miss_send_len: int, flags: int = OFPC_FRAG_NORMAL, xid: int = 0) -> bytes:
    return _SWITCH_CONFIG.pack(OFP_VERSION, OFPT_SET_CONFIG, _SWITCH_CONFIG.size, xid, flags, miss_send_len)


def _multipart_request(mp_type: int, body: bytes, xid: int) -> bytes:
    head = _MULTIPART_REQUEST.pack(
        OFP_VERSION, OFPT_MULTIPART_REQUEST, _MULTIPART_REQUEST.size + len(body), xid, mp_type, 0
    )
    return head + body


def flow_stats_request(
    table_id: int = OFPTT_ALL, cookie: int = 0, cookie_mask: int = 0, xid: int = 0
) -> bytes:
    """A flow-stats request over every out port and group, without a match (every flow of the table)."""
    body = _FLOW_STATS_REQUEST.pack(table_id, OFPP_ANY, OFPG_ANY, cookie, cookie_mask) + _EMPTY_MATCH
    return _multipart_request(OFPMP_FLOW, body, xid)


def group_desc_request(xid: int = 0) -> bytes:
    return _multipart_request(OFPMP_GROUP_DESC, b"", xid)


def bundle_ctrl(xid: int, bundle_id: int, ctrl_type: int, flags: int) -> bytes:
    return _BUNDLE_HEAD.pack(
        OFP_VERSION,
        OFPT_EXPERIMENTER,
        _BUNDLE_HEAD.size,
        xid,
        _ONF_EXPERIMENTER_ID,
        ONF_ET_BUNDLE_CONTROL,
        bundle_id,
        ctrl_type,
        flags,
    )


def is_bundle_ctrl(frame: bytes) -> bool:
    """Whether `frame` is an ONF bundle control message (the switch's reply to an open, commit or
    discard): nothing in it is read but its xid (a failure comes as an OFPT_ERROR), so it is taken as
    bytes; decoding it loaded os-ken's parser (~20 ms of CPU, ~3.5 MB for good) on every agent's
    first bundle."""
    if len(frame) < _BUNDLE_HEAD.size:
        return False
    _, msg_type, _, _, experimenter, exp_type, *_ = _BUNDLE_HEAD.unpack_from(frame)
    return msg_type == OFPT_EXPERIMENTER and (experimenter, exp_type) == (
        _ONF_EXPERIMENTER_ID,
        ONF_ET_BUNDLE_CONTROL,
    )


def bundle_adds(
    bundle_id: int, flags: int, first_xid: int, messages: Iterable[bytes | bytearray], chunk_bytes: int
) -> Iterator[bytearray]:
    """ONF bundle-add frames around pre-serialized messages, in chunks of about `chunk_bytes`.

    Message i gets xid first_xid + i, in the outer and the inner header alike (OVS rejects a
    mismatch with OFPBFC_MSG_BAD_XID), so an error reply names the failing message by its xid.
    """
    pack = _BUNDLE_ADD_HEAD.pack
    pack_xid = _XID.pack_into
    out = bytearray()
    xid = first_xid
    for data in messages:
        size = len(data)
        if size + BUNDLE_ADD_OVERHEAD > MAX_MESSAGE:
            raise ValueError(f"message {xid - first_xid} is {size} bytes, too long to bundle")
        out += pack(
            OFP_VERSION,
            OFPT_EXPERIMENTER,
            size + BUNDLE_ADD_OVERHEAD,
            xid,
            _ONF_EXPERIMENTER_ID,
            ONF_ET_BUNDLE_ADD_MESSAGE,
            bundle_id,
            flags,
        )
        inner = len(out)
        out += data
        pack_xid(out, inner + 4, xid)
        xid += 1
        if len(out) >= chunk_bytes:
            yield out
            out = bytearray()
    if out:
        yield out


def decode(frame: bytes) -> Any:
    """An os-ken message object for one complete frame (None if os-ken cannot parse it)."""
    version, msg_type, length, xid = HEADER.unpack_from(frame)
    return __getattr__("ofproto_parser").msg(__getattr__("DATAPATH"), version, msg_type, length, xid, frame)


@dataclass(frozen=True, slots=True)
class FlowEntry:
    """One installed flow as the switch reported it, sliced from the wire without os-ken (~1 us each).

    `match` is the ofp_match (with its padding) and `instructions` the instruction list, both as
    bytes; `decode()` builds os-ken's OFPFlowStats when the details are needed.
    """

    table_id: int
    priority: int
    cookie: int
    idle_timeout: int
    hard_timeout: int
    flags: int
    packet_count: int
    byte_count: int
    match: bytes
    instructions: bytes

    def decode(self) -> Any:
        return __getattr__("parser").OFPFlowStats.parser(self.encode(), 0)

    def encode(self) -> bytes:
        """The ofp_flow_stats entry as the switch sends it (durations 0)."""
        head = _FLOW_STATS.pack(
            _FLOW_STATS.size + len(self.match) + len(self.instructions),
            self.table_id,
            0,
            0,
            self.priority,
            self.idle_timeout,
            self.hard_timeout,
            self.flags,
            self.cookie,
            self.packet_count,
            self.byte_count,
        )
        return head + self.match + self.instructions


def flow_entries(body: bytes | memoryview) -> Iterator[FlowEntry]:
    """The ofp_flow_stats entries of one flow-stats multipart reply body (matches and instructions
    are copied out: an entry never keeps the reply alive)."""
    for offset, instructions_at, end in _flow_stats_spans(body):
        _, table_id, _, _, priority, idle, hard, flags, cookie, packets, nbytes = _FLOW_STATS.unpack_from(
            body, offset
        )
        yield FlowEntry(
            table_id,
            priority,
            cookie,
            idle,
            hard,
            flags,
            packets,
            nbytes,
            bytes(body[offset + _FLOW_STATS.size : instructions_at]),
            bytes(body[instructions_at:end]),
        )


def flow_counts(body: bytes | memoryview) -> Iterator[tuple[int, int, int, int, int]]:
    """(cookie, packets, bytes, where its instructions start, where they end) for each entry of one
    flow-stats reply body: what counting needs, with nothing sliced out or built per entry."""
    unpack = _FLOW_COUNTS.unpack_from
    for offset, instructions_at, end in _flow_stats_spans(body):
        _, cookie, packets, nbytes = unpack(body, offset)
        yield cookie, packets, nbytes, instructions_at, end


def _flow_stats_spans(body: bytes | memoryview) -> Iterator[tuple[int, int, int]]:
    """(start, instructions start, end) of each ofp_flow_stats entry in a reply body."""
    offset, size = 0, len(body)
    while offset + _FLOW_STATS.size <= size:
        length = _LENGTH.unpack_from(body, offset)[0]
        if length < _FLOW_STATS.size + _MATCH_HEAD.size or offset + length > size:
            raise ValueError(f"flow stats entry of {length} bytes at {offset} in a body of {size}")
        match_at = offset + _FLOW_STATS.size
        yield offset, match_at + (_MATCH_HEAD.unpack_from(body, match_at)[1] + 7) // 8 * 8, offset + length
        offset += length
