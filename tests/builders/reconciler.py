"""Helpers for the Reconciler's functional tests (no tests here): desired states, switch reads, packets.

The desired states come from the real L2 compiler over a small NB (two networks, local, remote and
unbound ports, IPv4 and IPv6, with and without port security), plus flows the compiler does not make
yet but the codec must carry (MPLS, NSH, resubmit, select groups).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from steerflow.compiler.compile import DesiredState, compile_chassis
from steerflow.compiler.view import build_view
from steerflow.flows.types import (
    Bucket,
    Clone,
    Decap,
    EncapEthernet,
    EncapNsh,
    Flow,
    FlowKey,
    Group,
    GroupAction,
    Match,
    Output,
    PopMpls,
    PopVlan,
    PushMpls,
    PushVlan,
    Resubmit,
    SetField,
)
from steerflow.model import schema
from steerflow.reconcile.ofctrl import Reconciler
from steerflow.southbound.flowcodec import FlowCodec, decode_group, group_entries
from steerflow.southbound.ofcodec import DATAPATH, parser
from steerflow.southbound.openflow import OpenFlowChannel
from tests.builders.ovs_fixtures import OvsSandbox, accepts_connections, wait_until

TUNNEL = 100
NET_A, NET_B = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"
EXTRA_TABLE = 70  # the hand-written flows live in tables the compiler does not use


def _port(pid: str, net: str, key: int, mac: str, ips: list[str], security: bool = True) -> dict[str, Any]:
    return {
        "id": pid,
        "network_id": net,
        schema.TUNNEL_KEY: key,
        "mac_address": mac,
        "fixed_ips": [{"subnet_id": "s", "ip_address": ip} for ip in ips],
        "port_security_enabled": security,
    }


def nb(extra_ports: int = 0) -> dict[str, dict[str, dict[str, Any]]]:
    ports = [
        _port("p1", NET_A, 1, "02:00:00:00:00:01", ["203.0.113.1", "2001:db8::1"]),
        _port("p2", NET_A, 2, "02:00:00:00:00:02", ["203.0.113.2"]),
        _port("p3", NET_B, 1, "02:00:00:00:00:03", ["2001:db8:1::3"], security=False),
        _port("p4", NET_A, 3, "02:00:00:00:00:04", ["203.0.113.4"]),
    ]
    ports += [
        _port(f"x{i}", NET_B, 10 + i, f"02:00:00:00:01:{i:02x}", [f"198.18.0.{i}"])
        for i in range(extra_ports)
    ]
    bindings = {
        "p1": {"port_id": "p1", schema.CHASSIS: "ch1", "ofport": 5},
        "p2": {"port_id": "p2", schema.CHASSIS: "ch2", "ofport": 7},
        "p3": {"port_id": "p3", schema.CHASSIS: "ch1", "ofport": 6},
    }
    return {
        schema.NETWORK: {
            NET_A: {"id": NET_A, schema.SEGMENTATION_ID: 10},
            NET_B: {"id": NET_B, schema.SEGMENTATION_ID: 20},
        },
        schema.PORT: {p["id"]: p for p in ports},
        schema.PORT_BINDING: bindings,
        schema.CHASSIS: {
            "ch1": {"name": "ch1", "underlay_ip": "198.51.100.11"},
            "ch2": {"name": "ch2", "underlay_ip": "198.51.100.12"},
        },
    }


def extras() -> list[Flow]:
    """Flows beyond the L2 compiler: MPLS push/pop, VLAN push/pop, NSH encap/decap, resubmit, clones
    (a tap's copy), a select group."""
    t = EXTRA_TABLE
    ip = Match.of(eth_type=0x0800)
    tag = (PushVlan(), SetField("vlan_vid", 0x1000 | 77))
    mpls_copy = (SetField("reg4", 5), PushMpls(), SetField("mpls_label", 78), Resubmit(t + 1))
    nsh_copy = (EncapNsh(1), SetField("nsh_spi", 6), EncapEthernet(), Output(9))
    return [
        Flow(t, 10, ip.extend(ipv4_dst="192.0.2.0/24"), (PushMpls(), SetField("mpls_label", 77), Output(9))),
        Flow(t, 11, Match.of(eth_type=0x8847, mpls_label=77), (PopMpls(0x0800), Resubmit(t + 1))),
        Flow(t, 12, ip.extend(ipv4_src="192.0.2.9"), (EncapNsh(1), SetField("nsh_spi", 5), Output(9))),
        Flow(t, 13, Match.of(packet_type=0x1894F, nsh_spi=5, nsh_si=255), (Decap(),), goto=t + 1),
        Flow(t, 14, ip.extend(ipv4_dst="198.18.0.0/15"), (*tag, Output(9))),
        Flow(t, 15, Match.of(vlan_vid=0x1000 | 77), (PopVlan(), Resubmit(t + 1))),
        Flow(
            t, 16, ip.extend(ipv4_dst="198.51.100.0/24"), (Clone(mpls_copy), SetField("reg2", 9), Output(10))
        ),
        Flow(t, 17, ip.extend(ipv4_dst="203.0.113.0/24"), (Clone(nsh_copy), Output(10))),
        Flow(t + 1, 5, ip, (GroupAction(7),), cookie=0x1200000000000007),
    ]


SELECT = Group(7, "select", (Bucket((Output(9),), weight=3), Bucket((Output(10),), weight=1)))


def desired(extra_ports: int = 0, with_extras: bool = True) -> DesiredState:
    state = compile_chassis(build_view(nb(extra_ports), "ch1", TUNNEL))
    if not with_extras:
        return state
    flows = dict(state.flows)
    flows.update({f.key: f for f in extras()})
    return DesiredState(flows, {**state.groups, SELECT.group_id: SELECT})


def edited(state: DesiredState, **changes: dict[FlowKey, Flow | None]) -> DesiredState:
    """A copy of `state` with flows replaced (a Flow) or removed (None) by key."""
    flows = dict(state.flows)
    for key, flow in changes.get("flows", {}).items():
        if flow is None:
            del flows[key]
        else:
            flows[key] = flow
    return DesiredState(flows, dict(state.groups))


def first(state: DesiredState, where: Callable[[Flow], bool]) -> Flow:
    return next(f for f in state.flows.values() if where(f))


def with_actions(flow: Flow, *actions: Any) -> Flow:
    return dataclasses.replace(flow, actions=tuple(actions))


@asynccontextmanager
async def channel_to(switch: OvsSandbox) -> AsyncIterator[OpenFlowChannel]:
    channel = OpenFlowChannel(switch.mgmt_target, request_timeout=30)
    await channel.connect()
    try:
        yield channel
    finally:
        await channel.close()


async def switch_state(channel: OpenFlowChannel) -> tuple[dict[FlowKey, Flow], dict[int, Group]]:
    """What the switch holds, read afresh and decoded."""
    codec = FlowCodec()
    flows = {f.key: f for f in map(codec.decode_flow, await channel.dump_flow_entries())}
    bodies = await channel.request_raw(parser.OFPGroupDescStatsRequest(DATAPATH, 0))
    groups = {g.group_id: g for body in bodies for g in map(decode_group, group_entries(body))}
    return flows, groups


async def apply_fresh(switch: OvsSandbox, state: DesiredState, revision: int = 1) -> Any:
    """A new channel and Reconciler (as a restarted agent has) applying `state`."""
    async with channel_to(switch) as channel:
        return await Reconciler(channel).apply(state, revision)


def dump_text(switch: OvsSandbox, target: str | None = None) -> list[str]:
    """`ovs-ofctl dump-flows --no-stats` and `dump-groups` lines, sorted."""
    target = target or switch.mgmt_target
    flows = switch.run("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "--no-stats", target)
    groups = switch.run("ovs-ofctl", "-O", "OpenFlow13", "dump-groups", target)
    lines = [line.strip() for text in (flows, groups) for line in text.splitlines()[1:]]
    return sorted(line for line in lines if line)


def reference_bridge(switch: OvsSandbox, name: str = "br-ref") -> str:
    """A second bridge on the same switch, for installing the same state with ovs-ofctl."""
    switch.vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type=netdev", "fail_mode=secure")
    sock = switch.rundir / f"{name}.mgmt"
    wait_until(lambda: accepts_connections(sock), 10, str(sock))
    return f"unix:{sock}"


def n_packets(switch: OvsSandbox, table: int, fragment: str) -> int:
    """n_packets of the one flow in `table` whose dump line contains `fragment`."""
    lines = [line for line in switch.ofctl("dump-flows", f"table={table}").splitlines() if fragment in line]
    assert len(lines) == 1, lines
    return int(lines[0].split("n_packets=")[1].split(",")[0])


def packet_out(switch: OvsSandbox, frame_hex: str, in_port: str = "controller") -> None:
    """Send a frame through the pipeline from table 0 (flow counters count it)."""
    switch.ofctl("packet-out", f"in_port={in_port},packet={frame_hex},actions=table")


def udp_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str) -> str:
    ip = "4500001c00010000401100" + "00" + "".join(f"{int(b):02x}" for b in src_ip.split("."))
    ip += "".join(f"{int(b):02x}" for b in dst_ip.split("."))
    return dst_mac.replace(":", "") + src_mac.replace(":", "") + "0800" + ip + "0001000200080000"


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` (run in a thread: it may call ovs-ofctl) until true or `timeout`."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
