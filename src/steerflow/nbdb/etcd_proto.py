"""The few etcd v3 messages the driver speaks, in protobuf's wire format by hand, and the watch's from
the JSON gateway.

Only what the driver reads is decoded: a `WatchResponse`'s header revision, `canceled`,
`cancel_reason`, `compact_revision` and its events' type, key, mod_revision and value; the unary
calls' header revision, key-values, a txn's `succeeded` and the ranges of its responses, a lease's
ID. Every other field is skipped by its wire type, so a newer etcd that adds fields is read as before.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# wire types
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_INT64_SIGN = 1 << 63
_UINT64 = 1 << 64


@dataclass(frozen=True, slots=True)
class Change:
    """A key at a revision and its value (None: deleted): one event of a watch, or one key read."""

    key: bytes
    mod_revision: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class WatchMessage:
    """One watch response, whichever way it came (gRPC or the JSON gateway)."""

    revision: int = 0
    changes: tuple[Change, ...] = ()
    compact_revision: int = 0
    canceled: bool = False
    cancel_reason: str = ""


@dataclass(frozen=True, slots=True)
class Range:
    """Read [key, range_end), or the key alone when range_end is empty."""

    key: bytes
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class Write:
    """Put `value` at `key` (on `lease` when not 0)."""

    key: bytes
    value: bytes
    lease: int = 0


@dataclass(frozen=True, slots=True)
class Erase:
    """Delete `key`."""

    key: bytes


@dataclass(frozen=True, slots=True)
class Txn:
    """If `key`'s mod_revision equals `mod_revision` (no compare when key is empty), `success`, else
    `failure`; a txn may hold txns (etcd 3.3+), applied as part of it."""

    success: tuple[RequestOp, ...]
    failure: tuple[RequestOp, ...] = ()
    key: bytes = b""
    mod_revision: int = 0


RequestOp = Range | Write | Erase | Txn


@dataclass(frozen=True, slots=True)
class Reply:
    """What a unary call answered: etcd's revision, the keys read (a Range), a txn's outcome and the
    key-values of each of its ranges, a granted lease's ID."""

    revision: int
    kvs: tuple[Change, ...] = ()
    succeeded: bool = True
    ranges: tuple[tuple[Change, ...], ...] = ()
    lease: int = 0


def range_request(op: Range) -> bytes:
    """`RangeRequest`: key = 1, range_end = 2."""
    return _bytes_field(1, op.key) + _bytes_field(2, op.range_end)


def put_request(op: Write) -> bytes:
    """`PutRequest`: key = 1, value = 2, lease = 3."""
    return _bytes_field(1, op.key) + _bytes_field(2, op.value) + _varint_field(3, op.lease)


def delete_request(op: Erase) -> bytes:
    """`DeleteRangeRequest`: key = 1."""
    return _bytes_field(1, op.key)


def txn_request(txn: Txn) -> bytes:
    """`TxnRequest`: compare = 1, success = 2, failure = 3; a `Compare` of result EQUAL (0, left out),
    target MOD = 2, key = 3, mod_revision = 6 (a proto3 oneof: sent even when 0)."""
    compare = b""
    if txn.key:
        fields = (
            _varint_field(2, 2)
            + _bytes_field(3, txn.key)
            + _tag(6, _VARINT)
            + _encode_varint(txn.mod_revision)
        )
        compare = _message_field(1, fields)
    success = b"".join(_message_field(2, _request_op(op)) for op in txn.success)
    failure = b"".join(_message_field(3, _request_op(op)) for op in txn.failure)
    return compare + success + failure


def compaction_request(revision: int, physical: bool) -> bytes:
    """`CompactionRequest`: revision = 1, physical = 2."""
    return _varint_field(1, revision) + _varint_field(2, int(physical))


def lease_grant_request(ttl: int) -> bytes:
    """`LeaseGrantRequest`: TTL = 1."""
    return _varint_field(1, ttl)


def _request_op(op: RequestOp) -> bytes:
    """`RequestOp`: request_range = 1, request_put = 2, request_delete_range = 3, request_txn = 4."""
    if isinstance(op, Range):
        return _message_field(1, range_request(op))
    if isinstance(op, Write):
        return _message_field(2, put_request(op))
    if isinstance(op, Txn):
        return _message_field(4, txn_request(op))
    return _message_field(3, delete_request(op))


def range_response(data: bytes) -> Reply:
    """`RangeResponse`: header = 1, kvs = 2."""
    revision, kvs = _range_result(data, 0, len(data))
    return Reply(revision, kvs)


def _range_result(data: bytes, pos: int, end: int) -> tuple[int, tuple[Change, ...]]:
    revision = 0
    kvs: list[Change] = []
    for field, _number, begin, stop in _fields(data, pos, end):
        if field == 1:
            revision = _header_revision(data, begin, stop)
        elif field == 2:
            kvs.append(_key_value(data, begin, stop))
    return revision, tuple(kvs)


def txn_response(data: bytes) -> Reply:
    """`TxnResponse`: header = 1, succeeded = 2, responses = 3 (`ResponseOp`: response_range = 1)."""
    revision = 0
    succeeded = False
    ranges: list[tuple[Change, ...]] = []
    for field, number, begin, stop in _fields(data, 0, len(data)):
        if field == 1:
            revision = _header_revision(data, begin, stop)
        elif field == 2:
            succeeded = bool(number)
        elif field == 3:
            for inner, _n, first, last in _fields(data, begin, stop):
                if inner == 1:
                    ranges.append(_range_result(data, first, last)[1])
    return Reply(revision, succeeded=succeeded, ranges=tuple(ranges))


def header_response(data: bytes) -> Reply:
    """A response of which only the header (field 1) is read: Put, DeleteRange, Compaction."""
    revision = 0
    for field, _number, begin, stop in _fields(data, 0, len(data)):
        if field == 1:
            revision = _header_revision(data, begin, stop)
    return Reply(revision)


def lease_grant_response(data: bytes) -> Reply:
    """`LeaseGrantResponse`: header = 1, ID = 2 (int64)."""
    revision = lease = 0
    for field, number, begin, stop in _fields(data, 0, len(data)):
        if field == 1:
            revision = _header_revision(data, begin, stop)
        elif field == 2:
            lease = _int64(number)
    return Reply(revision, lease=lease)


def watch_create_request(key: bytes, range_end: bytes, start_revision: int) -> bytes:
    """A `WatchRequest` holding one `WatchCreateRequest` (field 1) for [key, range_end) from a revision."""
    create = _bytes_field(1, key) + _bytes_field(2, range_end) + _varint_field(3, start_revision)
    return _bytes_field(1, create)


def watch_response(data: bytes) -> WatchMessage:
    """Decode a `WatchResponse`: header = 1, canceled = 4, compact_revision = 5, cancel_reason = 6,
    events = 11 (mvccpb.Event)."""
    revision = compact = 0
    canceled = False
    reason = ""
    changes: list[Change] = []
    for field, number, begin, stop in _fields(data, 0, len(data)):
        if field == 11:
            changes.append(_event(data, begin, stop))
        elif field == 1:
            revision = _header_revision(data, begin, stop)
        elif field == 4:
            canceled = bool(number)
        elif field == 5:
            compact = _int64(number)
        elif field == 6:
            reason = data[begin:stop].decode(errors="replace")
    return WatchMessage(revision, tuple(changes), compact, canceled, reason)


def _header_revision(data: bytes, pos: int, end: int) -> int:
    """`ResponseHeader.revision` (field 3)."""
    revision = 0
    for field, number, _begin, _stop in _fields(data, pos, end):
        if field == 3:
            revision = _int64(number)
    return revision


def _event(data: bytes, pos: int, end: int) -> Change:
    """An `mvccpb.Event`: type = 1 (PUT 0, DELETE 1), kv = 2 (prev_kv = 3 is never asked for)."""
    deleted = False
    kv = Change(b"", 0, b"")
    for field, number, begin, stop in _fields(data, pos, end):
        if field == 1:
            deleted = number == 1
        elif field == 2:
            kv = _key_value(data, begin, stop)
    return Change(kv.key, kv.mod_revision, None) if deleted else kv


def _key_value(data: bytes, pos: int, end: int) -> Change:
    """An `mvccpb.KeyValue`: key = 1, mod_revision = 3, value = 5 (an absent value is empty)."""
    key = value = b""
    mod_revision = 0
    for field, number, begin, stop in _fields(data, pos, end):
        if field == 1:
            key = data[begin:stop]
        elif field == 3:
            mod_revision = _int64(number)
        elif field == 5:
            value = data[begin:stop]
    return Change(key, mod_revision, value)


def _fields(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """The varint and length-delimited fields of the message in data[pos:end], as (field number, the
    varint's value, the bytes' start, their end); fixed-width fields are skipped. The fields this
    module reads have one wire type each, so a reader looks only at the half that applies."""
    while pos < end:
        tag, pos = _varint(data, pos)
        wire = tag & 7
        if wire == _VARINT:
            number, pos = _varint(data, pos)
            yield tag >> 3, number, 0, 0
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            yield tag >> 3, 0, pos, pos + size
            pos += size
        else:
            pos += _fixed_width(wire)
    if pos != end:
        raise Malformed(f"a field runs past its message ({pos} > {end})")


def gateway_message(result: dict[str, Any]) -> WatchMessage:
    """The same message from the JSON gateway's `result` (proto3 JSON: int64 as strings, bytes in
    base64, fields at their default left out)."""
    changes = tuple(
        Change(
            base64.b64decode(e["kv"]["key"]),
            int(e["kv"]["mod_revision"]),
            None if e.get("type") == "DELETE" else base64.b64decode(e["kv"].get("value", "")),
        )
        for e in result.get("events", ())
    )
    return WatchMessage(
        int(result.get("header", {}).get("revision", 0)),
        changes,
        int(result.get("compact_revision", 0)),
        bool(result.get("canceled", False)),
        str(result.get("cancel_reason", "")),
    )


class Malformed(ValueError):
    """Bytes that are not the protobuf message they should be."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    try:
        byte = data[pos]
        if byte < 0x80:
            return byte, pos + 1
        result, shift = byte & 0x7F, 7
        while True:
            pos += 1
            byte = data[pos]
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result, pos + 1
            shift += 7
    except IndexError:
        raise Malformed("varint runs past the end of the message") from None


def _fixed_width(wire: int) -> int:
    """The size of a fixed-width field (the only kinds `_fields` skips)."""
    if wire == _FIXED64:
        return 8
    if wire == _FIXED32:
        return 4
    raise Malformed(f"unknown wire type {wire}")


def _int64(value: int) -> int:
    """A varint read as int64 (negative numbers take ten bytes, two's complement)."""
    return value - _UINT64 if value >= _INT64_SIGN else value


def _encode_varint(value: int) -> bytes:
    value &= _UINT64 - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_field(field: int, value: int) -> bytes:
    # proto3 leaves a field at its default (0) out
    return _tag(field, _VARINT) + _encode_varint(value) if value else b""


def _bytes_field(field: int, value: bytes) -> bytes:
    return _message_field(field, value) if value else b""


def _message_field(field: int, value: bytes) -> bytes:
    """A length-delimited field sent even when empty (an embedded message, or a oneof's member)."""
    return _tag(field, _LEN) + _encode_varint(len(value)) + value


def _tag(field: int, wire: int) -> bytes:
    return _encode_varint(field << 3 | wire)
