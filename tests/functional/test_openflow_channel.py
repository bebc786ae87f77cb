"""OpenFlowChannel against a real userspace ovs-vswitchd, cross-checked with ovs-ofctl."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import pytest

from steerflow.southbound.ofcodec import DATAPATH, flow_counts, ofp, parser, serialize
from steerflow.southbound.oferrors import BatchFailed, BundleFailed, ChannelClosed, HandshakeFailed
from steerflow.southbound.openflow import OpenFlowChannel
from tests.builders.ovs_fixtures import OvsSandbox, accepts_connections, sandbox_or_skip, wait_until

pytestmark = pytest.mark.root


@pytest.fixture
def switch() -> Iterator[OvsSandbox]:
    yield from sandbox_or_skip()


def run(coro: Coroutine[Any, Any, None], timeout: float = 60) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    asyncio.run(bounded())


@contextlib.asynccontextmanager
async def connected(target: str, **options: Any) -> AsyncIterator[OpenFlowChannel]:
    channel = OpenFlowChannel(target, **options)
    await channel.connect()
    try:
        yield channel
    finally:
        await channel.close()


def output(port: int) -> list[Any]:
    return [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [parser.OFPActionOutput(port)])]


def flow_mod(
    table: int,
    priority: int,
    match: Any,
    instructions: list[Any] | None = None,
    command: int = ofp.OFPFC_ADD,
) -> Any:
    return parser.OFPFlowMod(
        DATAPATH,
        table_id=table,
        priority=priority,
        command=command,
        buffer_id=ofp.OFP_NO_BUFFER,
        out_port=ofp.OFPP_ANY,
        out_group=ofp.OFPG_ANY,
        match=match,
        instructions=instructions or [],
    )


def ip_flow(i: int, table: int) -> Any:
    match = parser.OFPMatch(eth_type=0x0800, ipv4_dst=f"10.0.{i >> 8}.{i & 255}")
    return flow_mod(table, 100, match, output(1 + i % 4))


def ofctl_flows(switch: OvsSandbox) -> list[str]:
    lines = switch.ofctl("dump-flows", "--no-stats").splitlines()
    return sorted(line.strip() for line in lines if "actions=" in line)


def ofctl_line(table: int, rest: str) -> str:
    # ovs-ofctl --no-stats leaves table 0 out
    return f"table={table}, {rest}" if table else rest


def summary(flows: list[Any]) -> list[tuple[int, int, dict[str, Any], list[int]]]:
    """(table, priority, match fields, output ports) per flow, sorted."""
    rows = []
    for f in flows:
        # not the NB schema: an OpenFlow action's port
        ports = [a.port for i in f.instructions for a in getattr(i, "actions", []) if hasattr(a, "port")]
        rows.append((f.table_id, f.priority, dict(f.match.items()), ports))
    return sorted(rows, key=repr)


def test_importing_the_channel_keeps_eventlet_os_ken_s_packet_library_and_oslo_config_out() -> None:
    # os-ken's packet library, other OpenFlow versions and config: ~28 MB of an agent's memory
    unwanted = (
        "eventlet",
        "greenlet",
        "oslo_config",
        "os_ken.lib.packet.packet",
        "os_ken.ofproto.ofproto_v1_5",
    )
    code = (
        "import sys, steerflow.southbound.openflow as m; "
        f"bad = sorted(n for n in sys.modules if n.startswith({unwanted!r})); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_os_ken_s_packet_library_imported_after_the_channel_is_the_real_one() -> None:
    code = (
        "import steerflow.southbound.openflow; "
        "from os_ken.lib.packet import ethernet, packet; from os_ken.ofproto import ofproto_protocol; "
        "p = packet.Packet(); p.add_protocol(ethernet.ethernet()); p.serialize(); "
        "print(len(p.data), ofproto_protocol.ProtocolDesc(4).ofproto_parser.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["60", "os_ken.ofproto.ofproto_v1_3_parser"]  # padded to the minimum frame


def test_the_agent_s_exchanges_never_load_os_ken_s_parser(switch: OvsSandbox) -> None:
    """Handshake, a bundle of flow-mods encoded by steerflow and the switch's flows read back: the
    agent's path runs without os-ken's OpenFlow parser (each agent loaded it for its first bundle's
    control replies: ~20 ms of CPU, and ~3.5 MB of RSS for its whole life)."""
    code = f"""
import asyncio, sys
from steerflow.flows.types import Flow, Match, Output
from steerflow.southbound.flowcodec import OFPFC_ADD, encode_flow_mod
from steerflow.southbound.openflow import OpenFlowChannel

async def main() -> None:
    channel = OpenFlowChannel({switch.mgmt_target!r})
    await channel.connect()
    flows = [Flow(3, 100, Match.of(in_port=i + 1), (Output(1),)) for i in range(20)]
    await channel.bundle([encode_flow_mod(f, OFPFC_ADD) for f in flows])
    print(len(await channel.dump_flow_entries()), "os_ken.ofproto.ofproto_v1_3_parser" in sys.modules)
    await channel.close()

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["20", "False"]


def test_handshake_negotiates_of13_and_reads_the_datapath(switch: OvsSandbox) -> None:
    async def scenario() -> None:
        async with connected(switch.mgmt_target) as channel:
            assert channel.datapath_id == 0xA1
            assert switch.vsctl("get", "bridge", "br-int", "datapath_id").strip() == '"00000000000000a1"'
            assert channel.n_tables == 254
            ports = await channel.port_desc()
            assert [(p.port_no, p.name) for p in ports] == [(ofp.OFPP_LOCAL, b"br-int")]
            assert await channel.echo(b"ping") >= 0

    run(scenario())


def test_handshake_fails_when_the_bridge_refuses_of13(switch: OvsSandbox) -> None:
    switch.vsctl("set", "bridge", "br-int", "protocols=OpenFlow10")

    async def scenario() -> None:
        with pytest.raises(HandshakeFailed, match=r"OpenFlow 1\.3"):
            await OpenFlowChannel(switch.mgmt_target).connect()

    run(scenario())


def test_bundle_installs_flows_that_dump_flows_and_ovs_ofctl_see(switch: OvsSandbox) -> None:
    n = 2000  # ~190 kB of flow stats: several multipart replies, exercising the MORE flag

    async def scenario() -> None:
        mods = [ip_flow(i, i % 5) for i in range(n)]
        # half os-ken objects, half cached bytes, as a reconciler would mix them
        batch = [m if i % 2 else serialize(m) for i, m in enumerate(mods)]
        async with connected(switch.mgmt_target) as channel:
            await channel.bundle(batch)
            await channel.barrier()
            flows = await channel.dump_flows()
            assert len(flows) == n
            assert summary(flows) == summary([*mods])
            assert len(await channel.dump_flows(table_id=3)) == n // 5
            assert (await channel.aggregate()).flow_count == n
            entries = await channel.dump_flow_entries()  # the fast path: sliced, decoded on demand
            assert summary([e.decode() for e in entries]) == summary(mods)
            # match + instructions come back as the bytes we sent (48 = fixed part of a flow-mod)
            assert {e.match + e.instructions for e in entries} == {serialize(m)[48:] for m in mods}

    run(scenario())
    expected = sorted(
        ofctl_line(i % 5, f"priority=100,ip,nw_dst=10.0.{i >> 8}.{i & 255} actions=output:{1 + i % 4}")
        for i in range(n)
    )
    assert ofctl_flows(switch) == expected


def test_a_flow_stats_stream_hands_over_one_reply_message_at_a_time(switch: OvsSandbox) -> None:
    n = 2000  # several multipart replies

    async def scenario() -> None:
        async with connected(switch.mgmt_target) as channel:
            await channel.bundle([ip_flow(i, 1) for i in range(n)])
            per_message: list[int] = []
            await channel.stream_flow_stats(lambda body: per_message.append(len(list(flow_counts(body)))), 1)
            assert len(per_message) > 1
            assert sum(per_message) == n

            def broken(body: memoryview) -> None:
                raise ValueError("the sink broke")

            with pytest.raises(ValueError, match="the sink broke"):
                await channel.stream_flow_stats(broken, 1)
            # the rest of that reply was consumed as the failed request's, not taken for the next one's
            assert len(await channel.dump_flow_entries(1)) == n

    run(scenario())


def to_group(group_id: int) -> list[Any]:
    return [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [parser.OFPActionGroup(group_id)])]


IN_PORT_1 = parser.OFPMatch(in_port=1)
INVALID = {
    # rejected when added (OVS validates each bundled message as it arrives)
    "goto_backwards": (
        flow_mod(3, 10, IN_PORT_1, [parser.OFPInstructionGotoTable(1)]),
        "OFPBIC_BAD_TABLE_ID",
    ),
    "output_any": (flow_mod(0, 10, IN_PORT_1, output(ofp.OFPP_ANY)), "OFPBAC_BAD_OUT_PORT"),
    "missing_prerequisite": (flow_mod(0, 10, parser.OFPMatch(ipv4_dst="10.9.9.9")), "OFPBMC_BAD_PREREQ"),
    # rejected only at commit: a group may be added earlier in the same bundle
    "missing_group": (flow_mod(0, 10, IN_PORT_1, to_group(99)), "OFPBAC_BAD_OUT_GROUP"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_flow_rejects_the_whole_bundle(switch: OvsSandbox, case: str) -> None:
    bad, name = INVALID[case]
    kept = flow_mod(0, 1, parser.OFPMatch(in_port=5), output(1))

    async def scenario() -> None:
        async with connected(switch.mgmt_target) as channel:
            await channel.bundle([kept])
            changed = flow_mod(0, 1, parser.OFPMatch(in_port=5), output(3), ofp.OFPFC_MODIFY_STRICT)
            batch = [changed, *(ip_flow(i, 1) for i in range(10)), bad, ip_flow(10, 1)]
            with pytest.raises(BundleFailed) as raised:
                await channel.bundle(batch)
            assert raised.value.name == name
            assert raised.value.index == 11
            assert summary(await channel.dump_flows()) == summary([kept])
            # the session is still usable after a rejected bundle
            await channel.bundle(batch[1:11])
            assert len(await channel.dump_flows(table_id=1)) == 10

    run(scenario())
    assert ofctl_flows(switch)[0] == "priority=1,in_port=5 actions=output:1"


def test_modify_strict_and_delete_strict(switch: OvsSandbox) -> None:
    a = flow_mod(2, 10, parser.OFPMatch(in_port=1), output(2))
    b = flow_mod(2, 20, parser.OFPMatch(in_port=1), output(3))
    c = flow_mod(2, 10, parser.OFPMatch(in_port=2), output(4))

    async def scenario() -> None:
        async with connected(switch.mgmt_target) as channel:
            await channel.bundle([a, b, c])
            d = flow_mod(2, 30, parser.OFPMatch(in_port=3), output(6))
            await channel.bundle(
                [
                    flow_mod(2, 10, parser.OFPMatch(in_port=1), output(5), ofp.OFPFC_MODIFY_STRICT),
                    flow_mod(2, 20, parser.OFPMatch(in_port=1), command=ofp.OFPFC_DELETE_STRICT),
                    flow_mod(
                        2, 99, parser.OFPMatch(in_port=1), command=ofp.OFPFC_DELETE_STRICT
                    ),  # no such flow
                    d,  # added then modified in the same bundle: ordered, the last word wins
                    flow_mod(2, 30, parser.OFPMatch(in_port=3), output(7), ofp.OFPFC_MODIFY_STRICT),
                ]
            )
            flows = summary(await channel.dump_flows())
            assert flows == sorted(
                [
                    (2, 10, {"in_port": 1}, [5]),
                    (2, 10, {"in_port": 2}, [4]),
                    (2, 30, {"in_port": 3}, [7]),
                ],
                key=repr,
            )

    run(scenario())
    assert ofctl_flows(switch) == [
        "table=2, priority=10,in_port=1 actions=output:5",
        "table=2, priority=10,in_port=2 actions=output:4",
        "table=2, priority=30,in_port=3 actions=output:7",
    ]


def test_nicira_extensions_round_trip(switch: OvsSandbox) -> None:
    """Registers in matches, and NX actions (load, resubmit, ct), as the pipeline uses them."""
    actions = [
        parser.NXActionRegLoad2(dst="reg1", value=7),
        parser.NXActionResubmitTable(table_id=5),
        parser.NXActionCT(flags=0, zone_src=None, zone_ofs_nbits=0, recirc_table=6, alg=0, actions=[]),
    ]
    match = parser.OFPMatch(eth_type=0x0800, reg0=5)
    mod = flow_mod(2, 50, match, [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)])

    async def scenario() -> None:
        async with connected(switch.mgmt_target) as channel:
            await channel.bundle([serialize(mod)])
            (flow,) = await channel.dump_flows()
            assert dict(flow.match.items()) == {"eth_type": 0x0800, "reg0": 5}
            got = flow.instructions[0].actions
            assert [type(a).__name__ for a in got] == [
                "NXActionRegLoad2",
                "NXActionResubmitTable",
                "NXActionCT",
            ]
            assert (got[0].dst, got[0].value, got[1].table_id, got[2].recirc_table) == ("reg1", 7, 5, 6)

    run(scenario())
    assert ofctl_flows(switch) == [
        "table=2, priority=50,ip,reg0=0x5 actions=set_field:0x7->reg1,resubmit(,5),ct(table=6)"
    ]


def test_barrier_waits_for_fire_and_forget_messages_and_reports_their_errors(switch: OvsSandbox) -> None:
    async def scenario() -> None:
        async with connected(switch.mgmt_target) as channel:
            for i in range(100):
                mod = ip_flow(i, 4)
                channel.send(mod) if i % 2 else channel.send_raw(serialize(mod))
            await channel.barrier()
            assert len(ofctl_flows(switch)) == 100  # what the switch shows right after the barrier

            bad_xid = channel.send(INVALID["output_any"][0])
            channel.send(ip_flow(500, 4))
            with pytest.raises(BatchFailed) as raised:
                await channel.barrier()
            assert raised.value.name == "OFPBAC_BAD_OUT_PORT"
            assert [e.xid for e in raised.value.errors] == [bad_xid]
            assert len(ofctl_flows(switch)) == 101  # a plain flow-mod is not atomic with its neighbours
            await channel.barrier()  # errors are reported once

    run(scenario())


def test_echo_requests_from_the_switch_are_answered_while_idle(switch: OvsSandbox) -> None:
    """A controller socket with OVS's shortest inactivity probe (5 s): it drops us if we stay silent."""
    probe_sock = switch.rundir / "br-int.probe"  # OVS only listens on <rundir>/<bridge>.* paths
    switch.vsctl("set-controller", "br-int", f"punix:{probe_sock}")
    switch.vsctl("set", "controller", "br-int", "inactivity_probe=5000")
    wait_until(lambda: accepts_connections(probe_sock), 10, "the controller socket")

    async def scenario() -> None:
        async with connected(f"unix:{probe_sock}", probe_interval=0) as channel:
            while channel.stats.echo_requests_answered < 2:
                await asyncio.sleep(0.1)
            assert channel.connected
            assert channel.session == 1
            await channel.barrier()

    run(scenario(), timeout=30)


def test_reconnects_on_its_own_when_vswitchd_restarts(switch: OvsSandbox) -> None:
    async def scenario() -> None:
        sessions: asyncio.Queue[int] = asyncio.Queue()

        async def on_connected(channel: OpenFlowChannel) -> None:
            await sessions.put(channel.session)

        channel = OpenFlowChannel(switch.mgmt_target, backoff_max=0.2)
        supervisor = asyncio.create_task(channel.run_forever(on_connected))
        assert await sessions.get() == 1
        await channel.bundle([ip_flow(1, 0)])

        await asyncio.to_thread(switch.kill_vswitchd)
        await channel.wait_disconnected()
        with pytest.raises(ChannelClosed):
            await channel.barrier()
        await asyncio.to_thread(switch.start_vswitchd)

        assert await sessions.get() == 2
        assert channel.datapath_id == 0xA1
        assert await channel.dump_flows() == []  # a restarted vswitchd starts empty
        await channel.bundle([ip_flow(2, 0)])
        assert len(await channel.dump_flows()) == 1
        await channel.close()
        await supervisor  # close() ends run_forever

    run(scenario())


def test_a_hung_switch_is_dropped_by_the_echo_probe_and_rejoined(switch: OvsSandbox) -> None:
    assert switch.vswitchd is not None
    pid = switch.vswitchd.pid

    async def scenario() -> None:
        sessions: asyncio.Queue[int] = asyncio.Queue()

        async def on_connected(channel: OpenFlowChannel) -> None:
            await sessions.put(channel.session)

        channel = OpenFlowChannel(
            switch.mgmt_target, probe_interval=0.3, connect_timeout=0.5, backoff_max=0.2
        )
        supervisor = asyncio.create_task(channel.run_forever(on_connected))
        assert await sessions.get() == 1
        os.kill(pid, signal.SIGSTOP)
        try:
            await channel.wait_disconnected()  # no echo reply: the session is declared dead
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await sessions.get() == 2
        await channel.barrier()
        await channel.close()
        await supervisor

    try:
        run(scenario(), timeout=30)
    finally:
        os.kill(pid, signal.SIGCONT)


def select_group(group_id: int, command: int = ofp.OFPGC_ADD) -> Any:
    buckets = [
        parser.OFPBucket(weight=10, actions=[parser.OFPActionOutput(1)]),
        parser.OFPBucket(weight=20, actions=[parser.OFPActionOutput(2)]),
    ]
    return parser.OFPGroupMod(DATAPATH, command, ofp.OFPGT_SELECT, group_id, buckets)


def test_select_group_and_its_user_in_one_bundle(switch: OvsSandbox) -> None:
    async def scenario() -> None:
        async with connected(switch.mgmt_target) as channel:
            # ordered bundle: the group exists by the time the flow that uses it is checked
            await channel.bundle([select_group(7), flow_mod(0, 10, IN_PORT_1, to_group(7))])
            (group,) = await channel.dump_groups()
            assert (group.group_id, group.type) == (7, ofp.OFPGT_SELECT)
            assert [(b.weight, b.actions[0].port) for b in group.buckets] == [(10, 1), (20, 2)]
            (stats,) = await channel.group_stats()
            assert (stats.group_id, stats.ref_count) == (7, 1)

    run(scenario())
    assert switch.ofctl("dump-groups").splitlines()[1:] == [
        " group_id=7,type=select,bucket=weight:10,actions=output:1,bucket=weight:20,actions=output:2"
    ]
    assert ofctl_flows(switch) == ["priority=10,in_port=1 actions=group:7"]


async def _relay(client: asyncio.StreamReader, to: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await client.read(65536):
            to.write(data)
            await to.drain()
    to.close()


def test_tcp_target_through_a_relay_to_the_management_socket(switch: OvsSandbox) -> None:
    """tcp:HOST:PORT targets (vswitchd lives in its own netns, so a local relay stands in for ptcp)."""

    async def scenario() -> None:
        relayed: list[asyncio.StreamWriter] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_unix_connection(str(switch.mgmt_sock))
            relayed.extend([writer, up_writer])
            await asyncio.gather(_relay(reader, up_writer), _relay(up_reader, writer))

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, connected(f"tcp:127.0.0.1:{port}") as channel:
            assert channel.datapath_id == 0xA1
            await channel.bundle([ip_flow(3, 0)])
            assert len(await channel.dump_flows()) == 1
            for writer in relayed:  # cut the path: the channel must notice
                writer.close()
            await channel.wait_disconnected()
            assert not channel.connected

    run(scenario())
