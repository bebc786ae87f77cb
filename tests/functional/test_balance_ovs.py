"""Hop dispatch by multipath on real OVS: our encoding installs and reads back, and OVS's own hash keeps
the promises balance.py relies on (both directions alike, lb_fields respected, only the hashed fields
un-wildcarded). Checked with `ofproto/trace`, which shows the slot and the instance chosen."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from steerflow.compiler.balance import dispatch_flows
from steerflow.compiler.chain_view import Hop, Instance
from steerflow.compiler.tables import SFC_DISPATCH, SFC_ENCAP
from steerflow.compiler.view import LogicalPort
from steerflow.flows.types import Flow, Match, Multipath, Output, SetField
from steerflow.pipeline import registers as reg
from steerflow.southbound.flowcodec import OFPFC_ADD, FlowCodec
from steerflow.southbound.openflow import OpenFlowChannel
from tests.builders.ovs_fixtures import OvsSandbox, ovs_missing, ovs_sandbox

pytestmark = pytest.mark.root

IN_PORT = 9
FIVE_TUPLE, BY_SOURCE = 100, 101  # hop labels: default lb_fields, and lb_fields ["ip_src"]
_FINAL = re.compile(r"^Final flow: .*")
_MEGAFLOW = re.compile(r"^Megaflow: (.*)$", re.M)


def _hop(label: int, lb_fields: tuple[str, ...]) -> Hop:
    port = LogicalPort("p", 1, 7, "02:00:00:00:00:09", (), False, "ch1", 1)
    instances = tuple(
        Instance(str(uuid.uuid5(uuid.NAMESPACE_OID, f"{label}/{i}")), i, port, port, 1, False)
        for i in (1, 2, 3)
    )
    return Hop(f"ppg{label}", label, 0, instances, lb_fields)


def _flows() -> list[Flow]:
    """Packets to udp_dst 7 head to FIVE_TUPLE, to udp_dst 8 to BY_SOURCE; instance i leaves on port i."""
    enter = [
        Flow(
            0,
            10,
            Match.of(eth_type=0x0800, ip_proto=17, udp_dst=dst),
            (SetField(reg.HOP, label),),
            goto=SFC_DISPATCH,
        )
        for dst, label in ((7, FIVE_TUPLE), (8, BY_SOURCE))
    ]
    enter.append(Flow(0, 5, Match(), (SetField(reg.HOP, FIVE_TUPLE),), goto=SFC_DISPATCH))  # replies
    hops = [*dispatch_flows(_hop(FIVE_TUPLE, ())), *dispatch_flows(_hop(BY_SOURCE, ("ip_src",)))]
    out = [Flow(SFC_ENCAP, 1, Match.of(**{reg.INSTANCE: i}), (Output(i),)) for i in (1, 2, 3)]
    return [*enter, *hops, *out]


@pytest.fixture(scope="module")
def ovs() -> Iterator[OvsSandbox]:
    reason = ovs_missing()
    if reason:
        pytest.skip(f"OVS sandbox unavailable: {reason}")
    with ovs_sandbox() as sandbox:
        for port in (1, 2, 3, IN_PORT):
            iface = ["--", "set", "interface", f"p{port}", "type=internal", f"ofport_request={port}"]
            sandbox.vsctl("add-port", sandbox.bridge, f"p{port}", *iface)
        asyncio.run(_install(sandbox, _flows()))
        yield sandbox


async def _install(ovs: OvsSandbox, flows: list[Flow]) -> None:
    channel = OpenFlowChannel(ovs.mgmt_target)
    await channel.connect()
    try:
        mods, odd = FlowCodec().flow_mods(flows, OFPFC_ADD)
        assert not odd
        await asyncio.wait_for(channel.bundle(mods), 30)
    finally:
        await channel.close()


async def _read_back(ovs: OvsSandbox) -> set[Flow]:
    channel = OpenFlowChannel(ovs.mgmt_target)
    await channel.connect()
    try:
        codec = FlowCodec()
        return {codec.decode_flow(e) for e in await asyncio.wait_for(channel.dump_flow_entries(), 30)}
    finally:
        await channel.close()


def _trace(ovs: OvsSandbox, flow: str) -> tuple[int, str]:
    """(the instance chosen: reg4 of the final flow, the megaflow) for a packet given in ofctl syntax."""
    ctl = str(Path(ovs.rundir) / "ovs-vswitchd.ctl")
    text = ovs.run("ovs-appctl", "-t", ctl, "ofproto/trace", ovs.bridge, f"in_port={IN_PORT},{flow}")
    final = next(line for line in text.splitlines() if _FINAL.match(line))
    found = re.search(r"\breg4=(0x[0-9a-f]+|\d+)", final)
    megaflow = _MEGAFLOW.search(text)
    assert found and megaflow, text
    return int(found.group(1), 0), megaflow.group(1)


def _udp(src: str, dst: str, sport: int, dport: int) -> str:
    return f"udp,nw_src={src},nw_dst={dst},udp_src={sport},udp_dst={dport}"


def test_our_multipath_flows_install_and_read_back_as_compiled(ovs: OvsSandbox) -> None:
    assert asyncio.run(_read_back(ovs)) == set(_flows())
    dumped = ovs.ofctl("dump-flows", "--no-stats")
    for label, fields in ((FIVE_TUPLE, "symmetric_l3l4+udp"), (BY_SOURCE, "nw_src")):
        assert (
            f"reg2={label:#x} actions=multipath({fields},0,hrw,64,0,NXM_NX_REG9[0..15]),goto_table:31"
            in dumped
        )
    spread = next(a for f in _flows() for a in f.actions if isinstance(a, Multipath))
    assert str(spread) == "multipath(symmetric_l3l4+udp,0,hrw,64,0,reg9[0..15])"  # ovs-ofctl reads it


def test_ovs_sends_both_directions_of_a_connection_to_one_instance(ovs: OvsSandbox) -> None:
    chosen = set()
    for i in range(30):
        there, back = ("10.0.0.1", f"10.0.1.{i}", 4000 + i, 7), (f"10.0.1.{i}", "10.0.0.1", 7, 4000 + i)
        instance, megaflow = _trace(ovs, _udp(*there))
        assert _trace(ovs, _udp(*back))[0] == instance, there
        assert "tp_src=" in megaflow and "nw_src=" in megaflow  # one megaflow per hashed 5-tuple
        chosen.add(instance)
    assert chosen == {1, 2, 3}


def test_ovs_keeps_a_source_on_one_instance_when_lb_fields_is_ip_src(ovs: OvsSandbox) -> None:
    for source in range(6):
        picks = {_trace(ovs, _udp(f"10.0.2.{source}", "10.0.0.1", 3000 + p, 8)) for p in range(5)}
        assert len({instance for instance, _ in picks}) == 1
        assert all("tp_src" not in megaflow for _, megaflow in picks)  # the ports stay wildcarded
