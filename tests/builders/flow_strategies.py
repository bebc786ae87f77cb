"""Hypothesis strategies (no tests here): canonical flows and groups, as FlowCodec encodes them."""

from __future__ import annotations

import ipaddress
import socket
import struct

from hypothesis import strategies as st

from steerflow.flows.types import (
    MULTIPATH_ALGORITHMS,
    MULTIPATH_FIELDS,
    Action,
    Bucket,
    Ct,
    Decap,
    EncapEthernet,
    EncapNsh,
    Field,
    Flow,
    Group,
    GroupAction,
    Match,
    Move,
    Multipath,
    NshTlv,
    Output,
    PopMpls,
    PopVlan,
    PushMpls,
    PushVlan,
    Resubmit,
    SetField,
)
from steerflow.southbound.flowcodec_fields import CODECS, FieldCodec, Kind
from steerflow.southbound.ofcodec import FlowEntry

OFPP_IN_PORT = 0xFFFFFFF8
OFPP_ANY = 0xFFFFFFFF
U32 = st.integers(0, 0xFFFFFFFF)


def value_of(codec: FieldCodec, number: int) -> int | str:
    """The canonical spelling of a field value given as an integer."""
    raw = number.to_bytes(codec.size, "big")
    if codec.kind is Kind.MAC:
        return raw.hex(":")
    if codec.kind is Kind.IPV4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if codec.kind is Kind.IPV6:
        return str(ipaddress.IPv6Address(raw))
    return number


@st.composite
def fields(draw: st.DrawFn, codec: FieldCodec) -> Field:
    value = draw(st.integers(0, codec.full_mask))
    if codec.full_mask < 3 or not draw(st.booleans()):
        return Field(codec.name, value_of(codec, value))
    mask = draw(st.integers(1, codec.full_mask - 1))
    return Field(codec.name, value_of(codec, value & mask), value_of(codec, mask))


@st.composite
def matches(draw: st.DrawFn, max_fields: int = 6) -> Match:
    chosen = draw(st.lists(st.sampled_from(CODECS), max_size=max_fields, unique_by=lambda c: c.name))
    return Match(tuple(sorted(draw(fields(c)) for c in chosen)))


@st.composite
def set_fields(draw: st.DrawFn) -> SetField:
    codec = draw(st.sampled_from(CODECS))
    return SetField(codec.name, value_of(codec, draw(st.integers(0, codec.full_mask))))


@st.composite
def moves(draw: st.DrawFn) -> Move:
    src, dst = draw(st.sampled_from(CODECS)), draw(st.sampled_from(CODECS))
    n_bits = draw(st.integers(1, min(src.bits, dst.bits)))
    src_ofs = draw(st.integers(0, src.bits - n_bits))
    dst_ofs = draw(st.integers(0, dst.bits - n_bits))
    return Move(src.name, dst.name, n_bits, src_ofs, dst_ofs)


NXM_CODECS = [c for c in CODECS if len(c.move_header) == 4]  # multipath names its destination by NXM


@st.composite
def multipaths(draw: st.DrawFn) -> Multipath:
    dst = draw(st.sampled_from(NXM_CODECS))
    n_bits = draw(st.integers(1, min(64, dst.bits)))
    return Multipath(
        draw(st.sampled_from(MULTIPATH_FIELDS)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.sampled_from(MULTIPATH_ALGORITHMS)),
        draw(st.integers(1, 0x10000)),
        draw(U32),
        dst.name,
        draw(st.integers(0, min(1023, dst.bits - n_bits))),
        n_bits,
    )


@st.composite
def mark_moves(draw: st.DrawFn) -> Move:
    src = draw(st.sampled_from(CODECS))
    n_bits = draw(st.integers(1, min(src.bits, 32)))
    return Move(
        src.name,
        "ct_mark",
        n_bits,
        draw(st.integers(0, src.bits - n_bits)),
        draw(st.integers(0, 32 - n_bits)),
    )


# what OVS lets ct's exec do: write the connection's mark
CT_EXEC = st.one_of(st.builds(SetField, st.just("ct_mark"), U32), mark_moves())


@st.composite
def cts(draw: st.DrawFn) -> Ct:
    table = draw(st.none() | st.integers(0, 0xFE))
    actions = tuple(draw(st.lists(CT_EXEC, max_size=3)))
    return Ct(draw(st.booleans()), draw(st.integers(0, 0xFFFF)), table, actions)


RESUBMIT_PORTS = st.one_of(
    st.none(),
    st.integers(0, 0xFEFF),
    st.integers(0xFFFFFF00, 0xFFFFFFFF).filter(lambda p: p != OFPP_IN_PORT),
)
NSH_TLVS = st.builds(NshTlv, st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.binary(max_size=16))

ACTIONS: st.SearchStrategy[Action] = st.one_of(
    st.builds(Output, U32),
    st.builds(GroupAction, U32),
    set_fields(),
    moves(),
    multipaths(),
    cts(),
    st.builds(Resubmit, st.integers(0, 0xFF), RESUBMIT_PORTS),
    st.builds(PushMpls, st.integers(0, 0xFFFF)),
    st.builds(PopMpls, st.integers(0, 0xFFFF)),
    st.builds(PushVlan, st.integers(0, 0xFFFF)),
    st.just(PopVlan()),
    st.builds(EncapNsh, st.integers(0, 0xFF), st.lists(NSH_TLVS, max_size=3).map(tuple)),
    st.just(EncapEthernet()),
    st.just(Decap()),
)


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    return Flow(
        table=draw(st.integers(0, 0xFE)),
        priority=draw(st.integers(0, 0xFFFF)),
        match=draw(matches()),
        actions=tuple(draw(st.lists(ACTIONS, max_size=6))),
        goto=draw(st.none() | st.integers(0, 0xFE)),
        cookie=draw(st.integers(0, 2**64 - 1)),
    )


@st.composite
def groups(draw: st.DrawFn) -> Group:
    kind = draw(st.sampled_from(["all", "select", "indirect", "ff"]))
    bucket = st.builds(
        Bucket,
        st.lists(ACTIONS, max_size=4).map(tuple),
        st.integers(0, 0xFFFF) if kind == "select" else st.just(1),
        st.none(),
        st.none() | st.integers(0, 0xFFFFFFFE),
    )
    return Group(draw(U32), kind, tuple(draw(st.lists(bucket, max_size=4))))


FLOW_MOD = struct.Struct("!BBHIQQBBHHHIIIH2x")


def entry_of(flow_mod: bytes) -> FlowEntry:
    """What a switch would report for the flow a flow-mod installs."""
    _, _, _, _, cookie, _, table, _, idle, hard, priority, _, _, _, flags = FLOW_MOD.unpack_from(flow_mod)
    match_len = struct.unpack_from("!H", flow_mod, FLOW_MOD.size + 2)[0]
    match_end = FLOW_MOD.size + (match_len + 7) // 8 * 8
    return FlowEntry(
        table,
        priority,
        cookie,
        idle,
        hard,
        flags,
        0,
        0,
        flow_mod[FLOW_MOD.size : match_end],
        flow_mod[match_end:],
    )
