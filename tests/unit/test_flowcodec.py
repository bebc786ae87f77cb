"""FlowCodec: canonical flows and groups survive encode -> decode; anything else is reported as such."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.flows.types import (
    Bucket,
    Drop,
    Field,
    Flow,
    Group,
    GroupAction,
    Match,
    Move,
    Multipath,
    Opaque,
    Output,
    Resubmit,
    SetField,
)
from steerflow.southbound.flowcodec import (
    OFPFC_ADD,
    OFPFC_DELETE_STRICT,
    OFPFC_MODIFY_STRICT,
    OFPGC_ADD,
    OFPGC_DELETE,
    CodecError,
    FlowCodec,
    decode_group,
    encode_flow_mod,
    encode_group_mod,
)
from steerflow.southbound.flowcodec_fields import BY_NAME
from steerflow.southbound.flowcodec_match import WIRE_ORDER, decode_match, decode_oxms, encode_match
from tests.builders.flow_strategies import FLOW_MOD, OFPP_IN_PORT, entry_of, flows, groups, matches, value_of


def round_trip(flow: Flow) -> tuple[Flow, bool]:
    codec = FlowCodec()
    (data,), odd = codec.flow_mods([flow], OFPFC_ADD)
    return codec.decode_flow(entry_of(data)), not odd


def group_desc(group_mod: bytes) -> bytes:
    """A group-mod's body laid out as the ofp_group_desc a switch reports."""
    _, code, group_id = struct.unpack_from("!HBxI", group_mod, 8)
    buckets = group_mod[16:]
    return struct.pack("!HBxI", 8 + len(buckets), code, group_id) + buckets


@settings(max_examples=400, deadline=None)
@given(flows())
def test_canonical_flows_survive_the_round_trip(flow: Flow) -> None:
    decoded, canonical = round_trip(flow)
    assert canonical
    assert decoded == flow


@settings(max_examples=200, deadline=None)
@given(groups())
def test_canonical_groups_survive_the_round_trip(group: Group) -> None:
    codec = FlowCodec()
    assert codec.canonical_group(group) is group
    assert decode_group(group_desc(encode_group_mod(group, OFPGC_ADD))) == group


@settings(max_examples=200, deadline=None)
@given(flows(), st.sampled_from([OFPFC_ADD, OFPFC_MODIFY_STRICT, OFPFC_DELETE_STRICT]))
def test_commands_share_one_layout(flow: Flow, command: int) -> None:
    data = encode_flow_mod(flow, command)
    head = FLOW_MOD.unpack_from(data)
    assert head[:3] == (4, 14, len(data))  # OF1.3 flow-mod, length
    assert head[4:8] == (flow.cookie, 0, flow.table, command)  # cookie, no cookie mask, table, command
    assert head[8:11] == (0, 0, flow.priority)  # no timeouts
    # buffer none, out_port/out_group ANY (a delete-strict must not filter on them), no reset-counts flag
    assert head[11:] == (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    add = encode_flow_mod(flow, OFPFC_ADD)
    if command == OFPFC_DELETE_STRICT:
        assert entry_of(data).match == entry_of(add).match and entry_of(data).instructions == b""
    else:
        assert data[26:] == add[26:]


NON_CANONICAL = [
    Flow(0, 1, Match((Field("tun_id", 5),))),  # an ovs-ofctl alias
    Flow(0, 1, Match((Field("eth_dst", "02:AA:00:00:00:01"),))),  # upper case
    Flow(0, 1, Match((Field("ipv4_dst", 0x0A000001),))),  # an int for an address
    Flow(0, 1, Match((Field("reg5", 5, 0xFFFFFFFF),))),  # a mask of all bits is no mask
    Flow(0, 1, Match((Field("reg5", 5, 4),))),  # bits outside the mask
    Flow(0, 1, Match((Field("reg5", 0, 0),))),  # a mask of no bits is no field
    Flow(0, 1, Match((Field("reg6", 1), Field("reg5", 1)))),  # not sorted
    Flow(0, 1, Match(), (Drop(),)),  # a switch says drop with no actions
    Flow(0, 1, Match(), (SetField("tun_dst", "10.0.0.1"),)),
    Flow(0, 1, Match(), (Move("dl_src", "eth_dst", 48),)),
    Flow(0, 1, Match(), (Resubmit(3, OFPP_IN_PORT),)),  # that is resubmit(,3)
    Flow(0, 1, Match(), (Multipath("nw_src", 0, "hrw", 4, 0, "tun_id"),)),
    Flow(0, 1, Match.of(ipv6_src="::ffff:1.2.3.4")),  # Match.of spells it the ipaddress way: canonical
]


@pytest.mark.parametrize("flow", NON_CANONICAL, ids=str)
def test_non_canonical_flows_are_reported_and_canonicalised(flow: Flow) -> None:
    decoded, canonical = round_trip(flow)
    assert canonical == (decoded == flow)
    codec = FlowCodec()
    fixed = codec.canonical_flow(flow)
    assert fixed == decoded
    assert round_trip(fixed) == (fixed, True)


@settings(max_examples=300, deadline=None)
@given(matches(), st.data())
def test_the_canonical_flag_tells_exactly_when_decoding_differs(match: Match, data: st.DataObject) -> None:
    spoilt = tuple(data.draw(st.sampled_from(_SPOILERS))(f) for f in match.fields)
    if data.draw(st.booleans()):
        spoilt = tuple(reversed(spoilt))
    flow = Flow(0, 1, Match(spoilt))
    decoded, canonical = round_trip(flow)
    assert canonical == (decoded == flow)


def _same(field: Field) -> Field:
    return field


def _upper(field: Field) -> Field:
    value = field.value.upper() if isinstance(field.value, str) else field.value
    return Field(field.name, value, field.mask)


def _full_mask(field: Field) -> Field:
    codec = BY_NAME[field.name]
    return Field(field.name, field.value, value_of(codec, codec.full_mask)) if field.mask is None else field


def _alias(field: Field) -> Field:
    aliases = {"tunnel_id": "tun_id", "ipv4_src": "nw_src", "eth_type": "dl_type", "tun_ipv4_dst": "tun_dst"}
    return Field(aliases.get(field.name, field.name), field.value, field.mask)


_SPOILERS = [_same, _upper, _full_mask, _alias]


def test_groups_outside_openflow_13_are_canonicalised() -> None:
    codec = FlowCodec()
    hashed = Group(1, "select", (Bucket((Output(1),), weight=3),), selection_fields=("ipv4_src",))
    assert codec.canonical_group(hashed) == Group(1, "select", (Bucket((Output(1),), weight=3),))
    weighted_all = Group(2, "all", (Bucket((Output(1),), weight=5),))
    assert codec.canonical_group(weighted_all) == Group(2, "all", (Bucket((Output(1),)),))
    with_id = Group(3, "indirect", (Bucket((GroupAction(9),), bucket_id=4),))
    assert codec.canonical_group(with_id) == Group(3, "indirect", (Bucket((GroupAction(9),)),))


def test_group_delete_names_only_the_group() -> None:
    data = encode_group_mod(Group(7, "all", (Bucket((Output(1),)),)), OFPGC_DELETE)
    assert len(data) == 16 and struct.unpack_from("!HBxI", data, 8) == (OFPGC_DELETE, 0, 7)


@pytest.mark.parametrize(
    "flow",
    [
        Flow(0, 1, Match((Field("reg5", 1 << 32),))),
        Flow(0, 1, Match((Field("eth_dst", "not a mac"),))),
        Flow(0, 1, Match((Field("no_such_field", 1),))),
        Flow(0, 1, Match(), (Move("reg0", "reg1", 33),)),
        Flow(0, 1, Match(), goto=255),
        Flow(300, 1, Match()),
        Flow(0, 1, Match(), (Output(-1),)),
        Flow(0, 1, Match(), (Multipath("ip_src", 0, "hrw", 4, 0, "reg9"),)),
        Flow(0, 1, Match(), (Multipath("nw_src", 0, "random", 4, 0, "reg9"),)),
        Flow(0, 1, Match(), (Multipath("nw_src", 0, "hrw", 0, 0, "reg9"),)),
        Flow(0, 1, Match(), (Multipath("nw_src", 0, "hrw", 0x10001, 0, "reg9"),)),
        Flow(0, 1, Match(), (Multipath("nw_src", 0, "hrw", 4, 0, "reg9", 20, 16),)),
        Flow(0, 1, Match(), (Multipath("nw_src", 0x10000, "hrw", 4, 0, "reg9"),)),
        Flow(0, 1, Match(), (Multipath("nw_src", 0, "hrw", 4, 0, "nsh_c1"),)),  # no NXM header
    ],
    ids=str,
)
def test_values_that_do_not_fit_are_clear_errors(flow: Flow) -> None:
    with pytest.raises(CodecError):
        encode_flow_mod(flow, OFPFC_ADD)


def test_fields_go_on_the_wire_in_ovs_order_prerequisites_first() -> None:
    match = Match.of(
        arp_sha="02:00:00:00:00:01", eth_type=0x0806, reg6=1, metadata=5, arp_op=1, in_port=3, tunnel_id=9
    )
    wire, canonical = encode_match(match)
    order = [f.name for f in decode_oxms(wire, 4, int.from_bytes(wire[2:4], "big"))]
    assert order == ["in_port", "eth_type", "arp_op", "arp_sha", "tunnel_id", "reg6", "metadata"]
    assert canonical and decode_match(wire) == match
    assert order == sorted(order, key=WIRE_ORDER.index)


@settings(max_examples=200, deadline=None)
@given(matches())
def test_every_match_is_encoded_in_wire_order(match: Match) -> None:
    wire, _ = encode_match(match)
    names = [f.name for f in decode_oxms(wire, 4, int.from_bytes(wire[2:4], "big"))]
    assert names == sorted(names, key=WIRE_ORDER.index)


def test_a_multipath_we_cannot_name_stays_opaque_and_re_encodes_exactly() -> None:
    codec = FlowCodec()
    (data,), _ = codec.flow_mods(
        [Flow(0, 1, Match(), (Multipath("nw_src", 0, "hrw", 4, 0, "reg9"),))], OFPFC_ADD
    )
    entry = entry_of(data)
    for offset, spoilt in ((10, b"\x00\x09"), (28, b"\xff\xff")):  # hash fields 9; an experimenter dst
        raw = bytearray(entry.instructions)
        raw[8 + offset : 8 + offset + 2] = spoilt
        foreign = codec.decode_flow(dataclasses.replace(entry, instructions=bytes(raw)))
        assert foreign.actions == (Opaque("action", bytes(raw[8:]).hex()),)
        (again,), _ = codec.flow_mods([foreign], OFPFC_ADD)
        assert entry_of(again).instructions == bytes(raw)
