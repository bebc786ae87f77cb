"""Conntrack flows through a real ovs-vswitchd: what it reports decodes to what we sent (no churn), and
ovs-ofctl installs the same from the flows' text."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from steerflow.compiler.compile import DesiredState
from steerflow.compiler.encap.nsh import md2_tlvs
from steerflow.flows.types import (
    Ct,
    EncapEthernet,
    EncapNsh,
    Flow,
    Match,
    Move,
    Output,
    Resubmit,
    SetField,
)
from steerflow.reconcile.ofctrl import Reconciler
from tests.builders.ovs_fixtures import OvsSandbox, sandbox_or_skip
from tests.builders.reconciler import (
    apply_fresh,
    channel_to,
    dump_text,
    reference_bridge,
    switch_state,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def switch() -> Iterator[OvsSandbox]:
    yield from sandbox_or_skip()


def _state() -> DesiredState:
    ip, ip6 = Match.of(eth_type=0x0800, reg4=5), Match.of(eth_type=0x86DD, reg4=5)
    flows = [
        Flow(33, 105, ip, (Ct(True, 6, None, (Move("reg2", "ct_mark", 32),)), Output(3))),
        Flow(33, 105, ip6, (Ct(True, 6, None, (SetField("ct_mark", 0x64),)), Output(3))),
        Flow(34, 100, Match.of(eth_type=0x0800, reg6=4), (Ct(zone=6, table=35),)),
        Flow(35, 100, Match.of(reg6=4, ct_mark=0x64), (SetField("reg2", 0x65), Resubmit(30))),
        *_nsh_metadata_flows(),
    ]
    return DesiredState({f.key: f for f in flows}, {})


def _nsh_metadata_flows() -> list[Flow]:
    """NSH metadata's shapes: the origin kept in ct_label and restored, an MD2 push per origin."""
    keep = Ct(True, 7, None, (Move("reg2", "ct_mark", 32), Move("reg8", "ct_label", 32)))
    push = (SetField("reg3", 0x1FF), Resubmit(36), EncapEthernet(), SetField("eth_dst", "02:00:00:00:00:03"))
    md2 = EncapNsh(2, md2_tlvs(5, "p1"))
    path = (Move("reg3", "nsh_spi", 24, src_ofs=8), Move("reg3", "nsh_si", 8))
    return [
        Flow(32, 100, Match.of(eth_type=0x0800, reg2=0x64, reg4=6), (keep, *push), goto=33),
        Flow(36, 100, Match.of(reg3=(0x100, 0xFFFFFF00), reg8=5), (md2, *path)),
        Flow(35, 100, Match.of(reg6=9, ct_mark=0x64), (Move("ct_label", "reg8", 32), Resubmit(30))),
    ]


def test_ct_flows_round_trip_through_ovs_without_churn(switch: OvsSandbox) -> None:
    state = _state()
    asyncio.run(apply_fresh(switch, state))

    async def again() -> None:
        async with channel_to(switch) as channel:
            assert await switch_state(channel) == (state.flows, state.groups)
            result = await Reconciler(channel).apply(state, 2)
            assert (result.flow_mods_sent, result.group_mods_sent) == (0, 0)

    asyncio.run(again())
    ref = reference_bridge(switch)
    with tempfile.TemporaryDirectory() as tmp:
        flows = Path(tmp) / "flows"
        flows.write_text("".join(f"{f}\n" for f in state.flows.values()))
        switch.run("ovs-ofctl", "-O", "OpenFlow13", "add-flows", ref, str(flows))
    assert dump_text(switch) == dump_text(switch, ref)
