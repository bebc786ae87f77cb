"""The Reconciler against a real ovs-vswitchd: exact installs, minimal diffs, modifies that keep counters,
warm restarts that send nothing, foreign flows removed, groups ordered around the flows using them."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from steerflow.compiler.compile import DesiredState
from steerflow.flows.types import Bucket, Field, Flow, Group, GroupAction, Match, Output, SetField
from steerflow.reconcile.ofctrl import Reconciler
from tests.builders.ovs_fixtures import OvsSandbox, sandbox_or_skip
from tests.builders.reconciler import (
    SELECT,
    apply_fresh,
    channel_to,
    desired,
    dump_text,
    edited,
    first,
    n_packets,
    packet_out,
    reference_bridge,
    switch_state,
    udp_frame,
    with_actions,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def switch() -> Iterator[OvsSandbox]:
    yield from sandbox_or_skip()


def test_apply_installs_exactly_the_desired_state(switch: OvsSandbox) -> None:
    state = desired()

    async def run() -> None:
        async with channel_to(switch) as channel:
            result = await Reconciler(channel).apply(state, 7)
            assert (result.revision, result.resynced, result.bundles) == (7, True, 1)
            assert (result.flow_mods_sent, result.group_mods_sent) == (len(state.flows), len(state.groups))
            assert await switch_state(channel) == (state.flows, state.groups)

    asyncio.run(run())


def test_the_switch_holds_what_ovs_ofctl_installs_from_the_same_text(switch: OvsSandbox) -> None:
    state = desired(with_extras=False)  # compiler flows: their str() is ovs-ofctl syntax
    asyncio.run(apply_fresh(switch, state))
    ref = reference_bridge(switch)
    with tempfile.TemporaryDirectory() as tmp:
        groups, flows = Path(tmp) / "groups", Path(tmp) / "flows"
        groups.write_text("".join(f"{g}\n" for g in state.groups.values()))
        flows.write_text("".join(f"{_ofctl_text(f)}\n" for f in state.flows.values()))
        switch.run("ovs-ofctl", "-O", "OpenFlow13", "add-groups", ref, str(groups))
        switch.run("ovs-ofctl", "-O", "OpenFlow13", "add-flows", ref, str(flows))
    assert dump_text(switch) == dump_text(switch, ref)


def _ofctl_text(flow: Flow) -> str:
    # str() writes in_port in hex past 9, which ovs-ofctl refuses ("invalid or unknown port")
    return re.sub(r"in_port=0x([0-9a-f]+)", lambda m: f"in_port={int(m[1], 16)}", str(flow))


def test_changes_send_only_the_diff_and_a_modify_keeps_counters(switch: OvsSandbox) -> None:
    a = desired()
    to_p2 = Field("eth_dst", "02:00:00:00:00:02")
    lookup = first(a, lambda f: f.table == 50 and f.match.get("eth_dst") == to_p2)
    ingress = first(a, lambda f: f.table == 0 and f.match.get("in_port") == Field("in_port", 5))
    gone = first(a, lambda f: f.table == 70 and f.priority == 12)
    new = Flow(70, 20, Match.of(eth_type=0x0800, ipv4_dst="192.0.2.77"), (Output(3),), cookie=0x99)
    b = edited(
        a,
        flows={
            lookup.key: with_actions(lookup, SetField("reg7", 9)),  # a new action: modify-strict
            ingress.key: dataclasses.replace(ingress, cookie=0x77),  # a new cookie: a replacing add
            gone.key: None,
            new.key: new,
        },
    )
    applied: list[int] = []

    async def record(revision: int) -> None:
        applied.append(revision)

    async def run() -> None:
        async with channel_to(switch) as channel:
            reconciler = Reconciler(channel, on_applied=record)
            await reconciler.apply(a, 1)
            # p1 (port 5) to p2: port binding, port security, L2 lookup, egress to the tunnel
            frame = udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", "203.0.113.1", "203.0.113.2")
            await asyncio.to_thread(packet_out, switch, frame, "5")
            assert await asyncio.to_thread(n_packets, switch, 50, "dl_dst=02:00:00:00:00:02") == 1
            result = await reconciler.apply(b, 2)
            assert (result.flow_mods_sent, result.group_mods_sent, result.resynced) == (4, 0, False)
            assert await switch_state(channel) == (b.flows, b.groups)
            # neither the modified nor the re-cookied flow was deleted and re-added: counters survive
            assert await asyncio.to_thread(n_packets, switch, 50, "dl_dst=02:00:00:00:00:02") == 1
            assert await asyncio.to_thread(n_packets, switch, 0, "in_port=5") == 1
            again = await reconciler.apply(b, 3)
            assert (again.flow_mods_sent, again.group_mods_sent, again.bundles) == (0, 0, 0)
            back = await reconciler.apply(a, 4)
            assert back.flow_mods_sent == 4
            assert await switch_state(channel) == (a.flows, a.groups)
        assert applied == [1, 2, 3, 4]

    asyncio.run(run())


def test_a_new_reconciler_on_a_programmed_switch_sends_nothing(switch: OvsSandbox) -> None:
    state = desired(extra_ports=40)
    first_run = asyncio.run(apply_fresh(switch, state))
    assert first_run.flow_mods_sent == len(state.flows)
    table = dump_text(switch)

    async def restart() -> None:
        async with channel_to(switch) as channel:
            result = await Reconciler(channel).apply(state, 2)
            assert (result.flow_mods_sent, result.group_mods_sent, result.bundles) == (0, 0, 0)
            assert result.resynced
            assert channel.stats.messages_sent == 2  # the flow and group dumps, nothing else

    asyncio.run(restart())
    assert dump_text(switch) == table


def test_a_restart_repairs_only_what_changed_behind_our_back(switch: OvsSandbox) -> None:
    state = desired(extra_ports=40)
    asyncio.run(apply_fresh(switch, state))
    switch.ofctl("add-flow", "table=60,priority=1,actions=output:1")  # foreign
    switch.ofctl(
        "mod-flows", "--strict", "table=60,priority=100,metadata=0xa,reg7=1,actions=output:9"
    )  # ours
    switch.ofctl("del-flows", "--strict", "table=50,priority=80,metadata=0xa")  # ours, gone
    result = asyncio.run(apply_fresh(switch, state, 2))
    assert (result.flow_mods_sent, result.group_mods_sent) == (3, 0)  # delete, modify, add

    async def check() -> None:
        async with channel_to(switch) as channel:
            assert await switch_state(channel) == (state.flows, state.groups)

    asyncio.run(check())


def test_flows_and_groups_someone_else_wrote_are_removed(switch: OvsSandbox) -> None:
    state = desired()
    switch.ofctl("add-group", "group_id=99,type=all,bucket=output:1")
    foreign = [
        "table=0,priority=100,in_port=5,idle_timeout=300,cookie=0xbad,actions=output:1",  # one of our keys
        "table=10,priority=5,ip,nw_src=10.9.9.9,actions=write_actions(output:3)",
        "table=99,priority=1,tcp,tcp_flags=+syn,actions=load:0x5->NXM_NX_REG3[0..7],group:99",
        "table=70,priority=10,ip,nw_dst=192.0.2.0/24,actions=drop",  # our key, other actions
    ]
    for flow in foreign:
        switch.ofctl("add-flow", flow)

    async def run() -> None:
        async with channel_to(switch) as channel:
            result = await Reconciler(channel).apply(state, 1)
            assert await switch_state(channel) == (state.flows, state.groups)
        # two foreign flows replaced (same key), two deleted, the others added; the foreign group deleted
        assert result.flow_mods_sent == len(state.flows) + 2
        assert result.group_mods_sent == len(state.groups) + 1

    asyncio.run(run())
    assert "idle_timeout" not in switch.ofctl("dump-flows", "table=0")


def test_a_group_and_the_flows_using_it_come_and_go_in_one_apply(switch: OvsSandbox) -> None:
    base = desired(with_extras=False)
    group = Group(42, "all", (Bucket((Output(5),)), Bucket((Output(6),))))
    user = Flow(70, 9, Match.of(eth_type=0x0800), (GroupAction(42),))
    with_group = DesiredState({**base.flows, user.key: user}, {**base.groups, 42: group})
    modified = DesiredState(
        with_group.flows, {**with_group.groups, 42: Group(42, "all", (Bucket((Output(7),)),))}
    )

    async def run() -> None:
        async with channel_to(switch) as channel:
            reconciler = Reconciler(channel)
            await reconciler.apply(base, 1)
            added = await reconciler.apply(with_group, 2)  # the group must exist before the flow
            assert (added.flow_mods_sent, added.group_mods_sent, added.bundles) == (1, 1, 1)
            changed = await reconciler.apply(modified, 3)
            assert (changed.flow_mods_sent, changed.group_mods_sent) == (0, 1)
            assert await switch_state(channel) == (modified.flows, modified.groups)
            removed = await reconciler.apply(base, 4)  # the flow must go before the group
            assert (removed.flow_mods_sent, removed.group_mods_sent, removed.bundles) == (1, 1, 1)
            assert await switch_state(channel) == (base.flows, base.groups)
            emptied = await reconciler.apply(DesiredState({}, {}), 5)
            assert emptied.flow_mods_sent == len(base.flows)
            assert await switch_state(channel) == ({}, {})

    asyncio.run(run())


def test_non_canonical_desired_flows_cause_no_churn(switch: OvsSandbox) -> None:
    odd = Flow(
        70, 3, Match((Field("dl_type", 0x0800), Field("nw_dst", "10.1.2.3"))), (SetField("tun_id", 5),)
    )
    state = DesiredState({odd.key: odd}, {SELECT.group_id: SELECT})

    async def run() -> None:
        async with channel_to(switch) as channel:
            reconciler = Reconciler(channel)
            assert (await reconciler.apply(state, 1)).flow_mods_sent == 1
            assert (await reconciler.apply(state, 2)).flow_mods_sent == 0
            flows, _ = await switch_state(channel)
            assert list(flows.values()) == [reconciler.codec.canonical_flow(odd)]
        restarted = await apply_fresh(switch, state, 3)
        assert (restarted.flow_mods_sent, restarted.group_mods_sent) == (0, 0)

    asyncio.run(run())
