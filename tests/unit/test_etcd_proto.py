"""The etcd watch messages in protobuf's wire format, as etcd's proto files define them: the request the
driver sends byte for byte, and responses decoded (unknown fields skipped, bad bytes refused)."""

from __future__ import annotations

import base64

import pytest

from steerflow.nbdb import etcd_proto as proto
from steerflow.nbdb.etcd_proto import Change, WatchMessage

# ResponseHeader: cluster_id 1, member_id 2, revision 300 (varint ac 02), raft_term 5
HEADER = b"\x08\x01\x10\x02\x18\xac\x02\x20\x05"
# KeyValue: key "/t/o/port/a", create_revision 299, mod_revision 300, version 2, value {"n":1}, lease 0,
# then fields etcd does not send (14: fixed64, 15: fixed32) that a reader must skip
PUT_KV = (
    b"\x0a\x0b/t/o/port/a\x10\xab\x02\x18\xac\x02\x20\x02\x2a\x07" + b'{"n":1}' + b"\x30\x00"
    b"\x71" + bytes(8) + b"\x7d" + bytes(4)
)
# Event: type DELETE (1), kv with key "/t/o/port/b" and mod_revision 300 only
DELETE_EVENT = b"\x08\x01\x12\x10\x0a\x0b/t/o/port/b\x18\xac\x02"
RESPONSE = (
    b"\x0a" + bytes([len(HEADER)]) + HEADER
    + b"\x10\x07"  # watch_id 7
    + b"\x5a" + bytes([len(PUT_KV) + 2]) + b"\x12" + bytes([len(PUT_KV)]) + PUT_KV  # events (11)
    + b"\x5a" + bytes([len(DELETE_EVENT)]) + DELETE_EVENT
)  # fmt: skip
DECODED = WatchMessage(
    revision=300,
    changes=(Change(b"/t/o/port/a", 300, b'{"n":1}'), Change(b"/t/o/port/b", 300, None)),
)


def test_a_create_request_is_key_range_end_and_start_revision_inside_field_1() -> None:
    create = b"\x0a\x03/t/" + b"\x12\x03/t0" + b"\x18\xac\x02"
    assert proto.watch_create_request(b"/t/", b"/t0", 300) == b"\x0a" + bytes([len(create)]) + create


def test_a_response_gives_its_revision_and_events_and_skips_the_rest() -> None:
    assert proto.watch_response(RESPONSE) == DECODED


def test_cancellation_and_compaction_are_read() -> None:
    reason = b"mvcc: required revision has been compacted"
    data = b"\x0a\x03\x18\xac\x02" + b"\x20\x01" + b"\x28\x96\x01" + b"\x32" + bytes([len(reason)]) + reason
    assert proto.watch_response(data) == WatchMessage(300, (), 150, True, reason.decode())


def test_a_negative_int64_takes_ten_bytes() -> None:
    assert proto.watch_response(b"\x28" + b"\xff" * 9 + b"\x01").compact_revision == -1


@pytest.mark.parametrize("cut", [1, 3, len(DELETE_EVENT) + 1])
def test_a_truncated_response_is_refused(cut: int) -> None:
    with pytest.raises(proto.Malformed):
        proto.watch_response(RESPONSE[:-cut])


def test_the_gateway_json_of_the_same_response_reads_the_same() -> None:
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    result = {
        "header": {"cluster_id": "1", "member_id": "2", "revision": "300", "raft_term": "5"},
        "watch_id": "7",
        "events": [
            {
                "kv": {
                    "key": b64(b"/t/o/port/a"),
                    "create_revision": "299",
                    "mod_revision": "300",
                    "version": "2",
                    "value": b64(b'{"n":1}'),
                }
            },
            {"type": "DELETE", "kv": {"key": b64(b"/t/o/port/b"), "mod_revision": "300"}},
        ],
    }
    assert proto.gateway_message(result) == DECODED
