"""The conntrack action (NXAST_CT) on the wire: round trips, and what OVS's own parser reads in our bytes."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steerflow.flows.types import Ct, Flow, Match, Move, Output, SetField
from steerflow.southbound.flowcodec import FlowCodec
from steerflow.southbound.flowcodec_actions import decode_actions, encode_action
from steerflow.southbound.flowcodec_fields import CodecError

REG = st.sampled_from([f"reg{i}" for i in range(16)])
EXEC = st.one_of(
    st.builds(SetField, st.just("ct_mark"), st.integers(0, 0xFFFFFFFF)),
    st.builds(lambda src: Move(src, "ct_mark", 32), REG),
)
CTS = st.builds(
    Ct,
    st.booleans(),
    st.integers(0, 0xFFFF),
    st.none() | st.integers(0, 0xFE),
    st.lists(EXEC, max_size=3).map(tuple),
)


@given(CTS)
def test_ct_round_trips_canonically(action: Ct) -> None:
    data, canonical = encode_action(action)
    assert canonical and len(data) % 8 == 0
    assert decode_actions(data) == [action]


def test_ct_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(CodecError):
        encode_action(Ct(zone=0x10000))
    with pytest.raises(CodecError):
        encode_action(Ct(table=0xFF))


def test_a_forced_commit_or_a_zone_from_a_field_is_not_modelled() -> None:
    data, _ = encode_action(Ct(commit=True, zone=3))
    forced = data[:10] + b"\x00\x03" + data[12:]  # NX_CT_F_FORCE
    assert decode_actions(forced)[0].__class__.__name__ == "Opaque"


@pytest.mark.skipif(shutil.which("ovs-ofctl") is None, reason="ovs-ofctl not installed")
@pytest.mark.parametrize(
    ("action", "text"),
    [
        (
            Ct(True, 7, None, (Move("reg2", "ct_mark", 32),)),
            "ct(commit,zone=7,exec(move:NXM_NX_REG2[]->NXM_NX_CT_MARK[]))",
        ),
        (Ct(False, 7, 35), "ct(table=35,zone=7)"),
        (Ct(True, 9, None, (SetField("ct_mark", 5),)), "ct(commit,zone=9,exec(set_field:0x5->ct_mark))"),
    ],
)
def test_ovs_reads_our_ct_as_meant(action: Ct, text: str) -> None:
    mod = FlowCodec().flow_mod(Flow(34, 100, Match.of(eth_type=0x0800), (action, Output(3))), 0)
    printed = subprocess.run(
        ["ovs-ofctl", "ofp-print", mod.hex()], capture_output=True, text=True, check=True
    )
    assert f"actions={text},output:3" in printed.stdout
    assert str(action).startswith("ct(")
