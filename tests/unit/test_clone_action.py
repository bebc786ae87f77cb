"""The clone action (NXAST_CLONE): its wire form, what OVS's own parser reads in it, simulator semantics."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steerflow.flows.types import (
    Clone,
    Ct,
    EncapEthernet,
    EncapNsh,
    Flow,
    Match,
    Move,
    Output,
    PushMpls,
    Resubmit,
    SetField,
)
from steerflow.ofsim import Packet, Switch
from steerflow.ofsim.errors import InvalidFlow, PipelineError
from steerflow.pipeline.check import check
from steerflow.pipeline.tables import table_id
from steerflow.southbound.flowcodec import FlowCodec
from steerflow.southbound.flowcodec_actions import decode_actions, encode_action

NESTED = st.one_of(
    st.builds(Output, st.integers(1, 0xFFFFFF00)),
    st.builds(Resubmit, st.integers(0, 0xFE)),
    st.builds(SetField, st.sampled_from([f"reg{i}" for i in range(16)]), st.integers(0, 0xFFFFFFFF)),
    st.builds(lambda src: Move(src, "reg2", 32), st.sampled_from(["reg4", "reg8"])),
    st.just(PushMpls()),
    st.just(Ct(True, 3, None, (Move("reg2", "ct_mark", 32),))),
)
CLONES = st.lists(NESTED, max_size=4).map(lambda actions: Clone(tuple(actions)))


@given(CLONES)
def test_clone_round_trips_canonically(action: Clone) -> None:
    data, canonical = encode_action(action)
    assert (
        canonical
        and len(data) % 8 == 0
        and len(data) == 16 + sum(len(encode_action(a)[0]) for a in action.actions)
    )
    assert decode_actions(data) == [action]


def test_a_clone_inside_a_clone_round_trips() -> None:
    action = Clone((Clone((Output(3),)), Output(4)))
    assert decode_actions(encode_action(action)[0]) == [action]


@pytest.mark.skipif(shutil.which("ovs-ofctl") is None, reason="ovs-ofctl not installed")
def test_ovs_reads_our_clone_as_meant() -> None:
    action = Clone((SetField("reg4", 5), Resubmit(32)))
    mod = FlowCodec().flow_mod(
        Flow(30, 100, Match.of(reg2=100), (action, SetField("reg2", 101), Resubmit(30))), 0
    )
    printed = subprocess.run(
        ["ovs-ofctl", "ofp-print", mod.hex()], capture_output=True, text=True, check=True
    )
    assert (
        "actions=clone(set_field:0x5->reg4,resubmit(,32)),set_field:0x65->reg2,resubmit(,30)"
        in printed.stdout
    )
    assert str(action) == "clone(set_field:5->reg4,resubmit(,32))"  # ovs-ofctl syntax too


def _packet() -> Packet:
    return Packet.of(in_port=1, eth_src="02:00:00:00:00:01", eth_dst="02:00:00:00:00:02", eth_type=0x0800)


def test_what_a_clone_changes_stays_inside_it() -> None:
    copy = Clone((PushMpls(), SetField("mpls_label", 100), SetField("reg4", 5), Resubmit(1)))
    switch = Switch(
        [
            Flow(0, 100, Match.of(in_port=1), (copy, Output(2))),
            Flow(1, 100, Match.of(reg4=5), (Output(3),)),
        ]
    )
    trace = switch.run(_packet())
    (cloned,) = trace.to(3)
    (original,) = trace.to(2)
    assert (cloned["eth_type"], cloned["mpls_label"], cloned["reg4"]) == (0x8847, 100, 5)
    assert original["eth_type"] == 0x0800 and original.get("reg4", 0) == 0


def test_actions_in_a_clone_are_checked_against_the_packet_before_it() -> None:
    with pytest.raises(InvalidFlow):  # the label of an MPLS packet that the clone does not make
        Switch([Flow(0, 100, Match.of(in_port=1), (Clone((SetField("mpls_label", 1),)),))])
    with pytest.raises(InvalidFlow):  # nor does one clone's push make the packet MPLS after it
        Switch([Flow(0, 100, Match.of(eth_type=0x0800), (Clone((PushMpls(),)), SetField("mpls_label", 1)))])
    with pytest.raises(InvalidFlow):
        Switch([Flow(0, 100, Match.of(in_port=1), (Clone((SetField("reg99", 1),)),))])


def test_the_pipeline_check_sees_resubmits_inside_a_clone() -> None:
    deliver, return_table = table_id("SFC_DELIVER"), table_id("SFC_RETURN")
    allowed = Flow(table_id("SFC_DISPATCH"), 100, Match.of(reg2=1), (Clone((Resubmit(deliver),)),))
    assert not check([allowed])
    wrong = Flow(table_id("SFC_DISPATCH"), 100, Match.of(reg2=1), (Clone((Resubmit(return_table),)),))
    (violation,) = check([wrong])
    assert "clone resubmits to SFC_RETURN" in violation.problem


def test_an_encap_behind_a_resubmit_in_a_clone_of_reversible_actions_is_refused() -> None:
    """OVS would undo the clone's set_field and resubmit, not the encap(nsh) the resubmit ran: the
    packet after the clone would still carry the NSH header."""
    nsh = (EncapNsh(1), SetField("nsh_spi", 7), EncapEthernet(), Output(3))
    ip = Match.of(eth_type=0x0800)
    behind = Switch(
        [Flow(0, 100, ip, (Clone((SetField("reg4", 5), Resubmit(1))), Output(2))), Flow(1, 100, ip, nsh)]
    )
    with pytest.raises(PipelineError, match="cannot undo"):
        behind.run(_packet())
    inside = Switch([Flow(0, 100, ip, (Clone(nsh), Output(2)))])
    assert [d.packet["eth_type"] for d in inside.run(_packet()).outputs] == [0x894F, 0x0800]
