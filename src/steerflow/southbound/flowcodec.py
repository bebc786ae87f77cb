"""FlowCodec: `Flow`/`Group` values to OpenFlow 1.3 flow-mod/group-mod bytes and back, without os-ken.

Encoding is plain `struct` packing of the few OXM fields and actions steerflow uses (the field table
is in flowcodec_fields.py, actions in flowcodec_actions.py), with instruction bytes cached per
(actions, goto): a cold install of 100k flows costs a few microseconds per flow instead of the ~50 us
an os-ken OFPFlowMod takes. Decoding turns what the switch reports (flow-stats entries, group
descriptions) into the same canonical values, so installed state diffs against desired state;
anything we do not model decodes to `Opaque` parts that make the flow differ from every flow we
compile (and so get replaced or deleted). `decode(encode(x)) == x` for every canonical value.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from steerflow.flows.types import Action, Bucket, Flow, Group, Opaque
from steerflow.southbound.flowcodec_actions import decode_actions, encode_actions, encode_instructions
from steerflow.southbound.flowcodec_actions import decode_instructions as _decode_instructions
from steerflow.southbound.flowcodec_fields import CodecError
from steerflow.southbound.flowcodec_match import decode_match, encode_match
from steerflow.southbound.ofcodec import FlowEntry

__all__ = [
    "OFPFC_ADD",
    "OFPFC_DELETE_STRICT",
    "OFPFC_MODIFY_STRICT",
    "OFPGC_ADD",
    "OFPGC_DELETE",
    "OFPGC_MODIFY",
    "CodecError",
    "FlowCodec",
    "decode_flow",
    "decode_group",
    "encode_flow_mod",
    "encode_group_mod",
    "group_entries",
]

OFP_VERSION = 4
OFPT_FLOW_MOD, OFPT_GROUP_MOD = 14, 15
OFPFC_ADD, OFPFC_MODIFY_STRICT, OFPFC_DELETE_STRICT = 0, 2, 4
OFPGC_ADD, OFPGC_MODIFY, OFPGC_DELETE = 0, 1, 2
OFP_NO_BUFFER = OFPP_ANY = OFPG_ANY = 0xFFFFFFFF
GROUP_TYPES = {"all": 0, "select": 1, "indirect": 2, "ff": 3}
GROUP_TYPE_NAMES = {code: name for name, code in GROUP_TYPES.items()}

# header; cookie, cookie_mask, table, command, idle, hard, priority, buffer, out_port, out_group, flags
_FLOW_MOD = struct.Struct("!BBHIQQBBHHHIIIH2x")
_GROUP_MOD = struct.Struct("!BBHIHBxI")
_GROUP_DESC = struct.Struct("!HBxI")
_BUCKET = struct.Struct("!HHII4x")
_MAX_INSTRUCTION_CACHE = 100_000  # distinct (actions, goto) pairs kept; real pipelines have far fewer


_NO_ATTRS = (0, 0, 0)


class FlowCodec:
    """Encoder/decoder; its decode cache makes it one per reconciler (not thread-safe)."""

    def __init__(self) -> None:
        self._decoded: dict[bytes, tuple[tuple[Action, ...], int | None]] = {}

    # ---- flows ---------------------------------------------------------------------------------

    def flow_mod(self, flow: Flow, command: int) -> bytes:
        """One flow-mod: OFPFC_ADD, OFPFC_MODIFY_STRICT or OFPFC_DELETE_STRICT (no instructions)."""
        return self.flow_mods((flow,), command)[0][0]

    def flow_mods(self, flows: Iterable[Flow], command: int) -> tuple[list[bytes], list[Flow]]:
        """Flow-mods for many flows (the hot path), and those of `flows` that are not canonical.

        Instructions are encoded afresh for every flow: hashing and comparing the action values
        to look them up in a cache costs as much as encoding them (measured; see docs/reconciler.md).
        """
        pack = _FLOW_MOD.pack
        with_instructions = command != OFPFC_DELETE_STRICT
        out: list[bytes] = []
        odd: list[Flow] = []
        for flow in flows:
            match, canonical = encode_match(flow.match)
            idle = hard = flags = 0
            if with_instructions:
                instructions, ok, opaque = encode_instructions(flow.actions, flow.goto)
                match += instructions
                canonical = canonical and ok
                if opaque:
                    idle, hard, flags = _flow_attrs(flow.actions)
            try:
                head = pack(
                    OFP_VERSION,
                    OFPT_FLOW_MOD,
                    48 + len(match),
                    0,
                    flow.cookie,
                    0,
                    flow.table,
                    command,
                    idle,
                    hard,
                    flow.priority,
                    OFP_NO_BUFFER,
                    OFPP_ANY,
                    OFPG_ANY,
                    flags,
                )
            except struct.error as exc:
                raise CodecError(f"cannot encode {flow}: {exc}") from None
            out.append(head + match)
            if not canonical:
                odd.append(flow)
        return out, odd

    def identities(self, flows: Iterable[Flow]) -> dict[tuple[int, int, bytes], tuple[Flow, bytes]]:
        """(table, priority, match bytes) -> (flow, instruction bytes) of the canonical `flows`: how a
        flow-stats entry of each will look, so a dump can be matched without decoding it."""
        out: dict[tuple[int, int, bytes], tuple[Flow, bytes]] = {}
        for flow in flows:
            match, canonical = encode_match(flow.match)
            instructions, ok, opaque = encode_instructions(flow.actions, flow.goto)
            if canonical and ok and not opaque:
                out[(flow.table, flow.priority, match)] = (flow, instructions)
        return out

    def decode_flow(self, entry: FlowEntry) -> Flow:
        """The Flow a flow-stats entry describes (timeouts or flags become an Opaque "flow" part)."""
        decoded = self._decoded.get(entry.instructions)
        if decoded is None:
            decoded = _decode_instructions(entry.instructions)
            if len(self._decoded) >= _MAX_INSTRUCTION_CACHE:
                self._decoded.clear()
            self._decoded[entry.instructions] = decoded
        actions, goto = decoded
        if entry.idle_timeout or entry.hard_timeout or entry.flags:
            attrs = f"idle_timeout={entry.idle_timeout},hard_timeout={entry.hard_timeout},flags={entry.flags}"
            actions = (*actions, Opaque("flow", attrs))
        return Flow(entry.table_id, entry.priority, decode_match(entry.match), actions, goto, entry.cookie)

    def canonical_flow(self, flow: Flow) -> Flow:
        """The flow as the switch will report it (itself when it is canonical already)."""
        data, odd = self.flow_mods((flow,), OFPFC_ADD)
        if not odd:
            return flow
        return self.decode_flow(_entry_of_flow_mod(data[0]))

    # ---- groups --------------------------------------------------------------------------------

    def group_mod(self, group: Group, command: int) -> bytes:
        """One group-mod: OFPGC_ADD, OFPGC_MODIFY or OFPGC_DELETE (no buckets)."""
        if command == OFPGC_DELETE:
            return _GROUP_MOD.pack(
                OFP_VERSION, OFPT_GROUP_MOD, _GROUP_MOD.size, 0, command, 0, group.group_id
            )
        code, buckets, _ = _group_body(group)
        size = _GROUP_MOD.size + len(buckets)
        return _GROUP_MOD.pack(OFP_VERSION, OFPT_GROUP_MOD, size, 0, command, code, group.group_id) + buckets

    def canonical_group(self, group: Group) -> Group:
        """The group as the switch will report it: OF1.3 has no selection method nor bucket ids."""
        code, buckets, canonical = _group_body(group)
        if canonical:
            return group
        return decode_group(_GROUP_DESC.pack(_GROUP_DESC.size + len(buckets), code, group.group_id) + buckets)


def _flow_attrs(actions: tuple[Action, ...]) -> tuple[int, int, int]:
    for action in actions:
        if type(action) is Opaque and action.kind == "flow":
            try:
                values = dict(part.split("=") for part in action.data.split(","))
                return int(values["idle_timeout"]), int(values["hard_timeout"]), int(values["flags"])
            except (KeyError, ValueError):
                raise CodecError(f"bad flow attributes {action.data!r}") from None
    return _NO_ATTRS


def _entry_of_flow_mod(data: bytes) -> FlowEntry:
    """A flow-mod read back as the flow-stats entry a switch would report for it."""
    fields = _FLOW_MOD.unpack_from(data)
    cookie, table, idle, hard, priority, flags = (
        fields[4],
        fields[6],
        fields[8],
        fields[9],
        fields[10],
        fields[14],
    )
    match_len = struct.unpack_from("!H", data, _FLOW_MOD.size + 2)[0]
    match_end = _FLOW_MOD.size + (match_len + 7) // 8 * 8
    match, instructions = data[_FLOW_MOD.size : match_end], data[match_end:]
    return FlowEntry(table, priority, cookie, idle, hard, flags, 0, 0, match, instructions)


# ---- groups on the wire --------------------------------------------------------------------------


def _group_body(group: Group) -> tuple[int, bytes, bool]:
    """(type code, buckets bytes, canonical) of a group."""
    code = GROUP_TYPES.get(group.type)
    if code is None:
        raise CodecError(f"unknown group type {group.type!r} in group {group.group_id}")
    select = code == GROUP_TYPES["select"]
    canonical = not group.selection_fields  # OF1.3 cannot carry a selection method (docs/openflow.md)
    parts: list[bytes] = []
    for bucket in group.buckets:
        actions, ok = encode_actions(bucket.actions)
        weight = bucket.weight if select else 0
        watch = OFPP_ANY if bucket.watch_port is None else bucket.watch_port
        try:
            parts.append(_BUCKET.pack(_BUCKET.size + len(actions), weight, watch, OFPG_ANY) + actions)
        except struct.error as exc:
            raise CodecError(f"cannot encode a bucket of group {group.group_id}: {exc}") from None
        canonical = canonical and ok and bucket.bucket_id is None and (select or bucket.weight == 1)
        canonical = canonical and bucket.watch_port != OFPP_ANY
    return code, b"".join(parts), canonical


def group_entries(body: bytes) -> Iterator[bytes]:
    """The ofp_group_desc entries of one group-desc multipart reply body."""
    offset = 0
    while offset + _GROUP_DESC.size <= len(body):
        length = _GROUP_DESC.unpack_from(body, offset)[0]
        if length < _GROUP_DESC.size:
            raise CodecError(f"bad group description length {length}")
        yield body[offset : offset + length]
        offset += length


def decode_group(data: bytes) -> Group:
    """The Group one ofp_group_desc describes (weights only for select groups, as OVS reports them)."""
    length, code, group_id = _GROUP_DESC.unpack_from(data)
    select = code == GROUP_TYPES["select"]
    buckets: list[Bucket] = []
    offset = _GROUP_DESC.size
    while offset + _BUCKET.size <= length:
        size, weight, watch_port, _watch_group = _BUCKET.unpack_from(data, offset)
        if size < _BUCKET.size or offset + size > length:
            raise CodecError(f"bad bucket length {size} in group {group_id}")
        actions = tuple(decode_actions(data, offset + _BUCKET.size, offset + size))
        watch = None if watch_port == OFPP_ANY else watch_port
        buckets.append(Bucket(actions, weight if select else 1, watch_port=watch))
        offset += size
    return Group(group_id, GROUP_TYPE_NAMES.get(code, f"type{code}"), tuple(buckets))


# ---- module-level conveniences -------------------------------------------------------------------

_DEFAULT = FlowCodec()


def encode_flow_mod(flow: Flow, command: int) -> bytes:
    return _DEFAULT.flow_mod(flow, command)


def encode_group_mod(group: Group, command: int) -> bytes:
    return _DEFAULT.group_mod(group, command)


def decode_flow(entry: FlowEntry) -> Flow:
    return _DEFAULT.decode_flow(entry)
