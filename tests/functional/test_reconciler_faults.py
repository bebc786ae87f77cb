"""The Reconciler when things go wrong: ovs-vswitchd restarts, rejected bundles, bad values, lost
connections, batches split over several bundles."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from steerflow.compiler.compile import DesiredState
from steerflow.flows.types import Bucket, Field, Flow, Group, GroupAction, Match, Output
from steerflow.reconcile.ofctrl import ApplyFailed, Reconciler
from steerflow.southbound.flowcodec import OFPFC_ADD, CodecError, FlowCodec
from steerflow.southbound.oferrors import ChannelClosed
from steerflow.southbound.openflow import OpenFlowChannel
from tests.builders.ovs_fixtures import OvsSandbox, sandbox_or_skip
from tests.builders.reconciler import channel_to, desired, switch_state, until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def switch() -> Iterator[OvsSandbox]:
    yield from sandbox_or_skip()


def with_flows(state: DesiredState, *flows: Flow, groups: tuple[Group, ...] = ()) -> DesiredState:
    return DesiredState(
        {**state.flows, **{f.key: f for f in flows}}, {**state.groups, **{g.group_id: g for g in groups}}
    )


def test_a_restarted_vswitchd_gets_its_flows_back_without_a_new_reconciler(switch: OvsSandbox) -> None:
    state = desired()

    async def run() -> None:
        channel = OpenFlowChannel(switch.mgmt_target, backoff_initial=0.02, backoff_max=0.2)
        reconciler = Reconciler(channel)
        supervisor = asyncio.create_task(channel.run_forever(reconciler.on_connected))
        try:
            await channel.wait_connected(timeout=10)
            await reconciler.apply(state, 5)
            first_session = channel.session
            await asyncio.to_thread(switch.restart_vswitchd)  # a fresh daemon: no flows, no groups
            await until(lambda: channel.session > first_session, 20, "the channel to reconnect")
            await until(lambda: _flow_count(switch) == len(state.flows), 20, "flows to come back")
            assert await switch_state(channel) == (state.flows, state.groups)
            assert reconciler.applied_revision == 5
            assert (await reconciler.apply(state, 6)).flow_mods_sent == 0  # the record is right again
        finally:
            await channel.close()
            await supervisor

    asyncio.run(run())


def _flow_count(switch: OvsSandbox) -> int:
    try:
        return sum("actions=" in line for line in switch.ofctl("dump-flows").splitlines())
    except RuntimeError:
        return -1  # not answering yet


@pytest.mark.parametrize(
    "bad",
    [
        # refused as soon as it is added to the bundle: goto must go to a later table
        Flow(50, 1, Match.of(eth_type=0x0800), goto=10),
        # refused only at commit: the group does not exist (a group added earlier in the bundle would)
        Flow(70, 1, Match.of(eth_type=0x86DD), (GroupAction(12345),)),
    ],
    ids=["at-add", "at-commit"],
)
def test_a_rejected_bundle_changes_nothing(switch: OvsSandbox, bad: Flow) -> None:
    a = desired()
    fine = Flow(70, 2, Match.of(eth_type=0x0800, ipv4_dst="192.0.2.1"), (Output(4),))
    b = with_flows(a, fine, bad)
    reported: list[int] = []

    async def run() -> None:
        async with channel_to(switch) as channel:
            reconciler = Reconciler(channel, on_applied=reported.append)
            await reconciler.apply(a, 1)
            for _attempt in range(2):  # a retry fails the same way, and still changes nothing
                with pytest.raises(ApplyFailed) as failed:
                    await reconciler.apply(b, 2)
                assert f"flow add {bad}" in str(failed.value)
                assert failed.value.cause.name in ("OFPBIC_BAD_TABLE_ID", "OFPBAC_BAD_OUT_GROUP")
                assert await switch_state(channel) == (a.flows, a.groups)
                assert dict(reconciler.installed_flows) == a.flows
                assert reconciler.applied_revision == 1
            assert (await reconciler.apply(with_flows(a, fine), 3)).flow_mods_sent == 1
        assert reported == [1, 3]

    asyncio.run(run())


def test_a_value_that_cannot_be_encoded_stops_the_bundle_before_anything_is_applied(
    switch: OvsSandbox,
) -> None:
    state = desired()
    broken = Flow(70, 1, Match((Field("reg5", 1 << 40),)))

    async def run() -> None:
        async with channel_to(switch) as channel:
            reconciler = Reconciler(channel)
            with pytest.raises(CodecError, match="reg5"):
                await reconciler.apply(with_flows(state, broken), 1)  # a cold install: streamed
            assert await switch_state(channel) == ({}, {})
            result = await reconciler.apply(state, 2)
            assert result.resynced and result.flow_mods_sent == len(state.flows)
            assert await switch_state(channel) == (state.flows, state.groups)

    asyncio.run(run())


def test_a_batch_too_big_for_one_bundle_goes_in_order_over_several(switch: OvsSandbox) -> None:
    groups = tuple(Group(100 + i, "all", (Bucket((Output(i + 1),)),)) for i in range(4))
    users = [Flow(70, 10 + i, Match.of(eth_type=0x0800, reg3=i), (GroupAction(100 + i),)) for i in range(4)]
    state = with_flows(desired(), *users, groups=groups)

    async def run() -> None:
        async with channel_to(switch) as channel:
            reconciler = Reconciler(channel, max_bundle_messages=3)
            result = await reconciler.apply(state, 1)
            size = len(state.flows) + len(state.groups)
            assert result.bundles == -(-size // 3)
            assert await switch_state(channel) == (state.flows, state.groups)
            emptied = await reconciler.apply(DesiredState({}, {}), 2)  # flows go before their groups
            assert emptied.bundles == result.bundles
            assert await switch_state(channel) == ({}, {})

    asyncio.run(run())


def test_when_a_later_bundle_fails_the_record_keeps_what_the_earlier_ones_installed(
    switch: OvsSandbox,
) -> None:
    good = [Flow(70, 10 + i, Match.of(eth_type=0x0800, reg3=i), (Output(i + 1),)) for i in range(5)]
    bad = Flow(70, 99, Match.of(eth_type=0x0800), goto=10)
    state = DesiredState({f.key: f for f in [*good, bad]}, {})

    async def run() -> None:
        async with channel_to(switch) as channel:
            reconciler = Reconciler(channel, max_bundle_messages=2)
            with pytest.raises(ApplyFailed):
                await reconciler.apply(state, 1)
            installed, _ = await switch_state(channel)
            assert installed == {f.key: f for f in good[:4]} == dict(reconciler.installed_flows)
            fixed = DesiredState({f.key: f for f in good}, {})
            assert (await reconciler.apply(fixed, 2)).flow_mods_sent == 1

    asyncio.run(run())


def test_after_a_lost_connection_the_next_apply_reads_the_switch_again(switch: OvsSandbox) -> None:
    a, b = desired(), desired(extra_ports=3)

    async def run() -> None:
        channel = OpenFlowChannel(switch.mgmt_target)
        reconciler = Reconciler(channel)
        await channel.connect()
        await reconciler.apply(a, 1)
        await channel.close()
        with pytest.raises(ChannelClosed):
            await reconciler.apply(b, 2)
        switch.ofctl("del-flows", "table=0")  # changed behind our back while we were away
        await channel.connect()
        try:
            result = await reconciler.apply(b, 3)
            assert result.resynced
            assert await switch_state(channel) == (b.flows, b.groups)
        finally:
            await channel.close()

    asyncio.run(run())


def test_a_streamed_bundle_that_ends_early_is_discarded(switch: OvsSandbox) -> None:
    codec = FlowCodec()
    flows = [Flow(70, 10 + i, Match.of(eth_type=0x0800, reg3=i), (Output(i + 1),)) for i in range(5)]
    frames, _ = codec.flow_mods(flows, OFPFC_ADD)

    async def run() -> None:
        async with channel_to(switch) as channel:
            with pytest.raises(ValueError, match="ended after 5 of 6"):
                await channel.bundle(iter(frames), count=6)
            assert await switch_state(channel) == ({}, {})
            await channel.bundle(iter(frames), count=5)
            await channel.barrier()  # nothing left over from the discarded bundle
            installed, _ = await switch_state(channel)
            assert installed == {f.key: f for f in flows}

    asyncio.run(run())
