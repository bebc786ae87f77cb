"""ofsim against the real thing: the same flows in a userspace ovs-vswitchd, compared with ofproto/trace.

For a few pipelines, each packet's path (table, cookie per lookup) and output ports must agree between
`Switch.run` and `ovs-appctl ofproto/trace`, and the labels OVS pushes must be the ones the simulator
reports. The flows are installed from their `str()`, which also proves that it is ovs-ofctl syntax.
Needs root and Open vSwitch (skipped otherwise); one switch serves the whole module (~1 s to start).
Traces stop where OVS recirculates (after pop_mpls or an NSH decap), so only those directions are here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from steerflow.flows import (
    Action,
    Bucket,
    Clone,
    EncapEthernet,
    EncapNsh,
    Flow,
    Group,
    GroupAction,
    Match,
    Move,
    Output,
    PushMpls,
    Resubmit,
    SetField,
)
from steerflow.ofsim import Packet, Switch, Trace
from steerflow.ofsim.errors import PipelineError
from tests.builders.ofsim_chains import mpls_chain, nsh_chain, vm_packet
from tests.builders.ovs_fixtures import OvsSandbox, ovs_missing, ovs_sandbox

pytestmark = pytest.mark.root

PORTS = range(1, 10)
_LOOKUP = re.compile(r"^\s*(\d+)\. (?:No match\.|.*priority \d+(?:, cookie (0x[0-9a-f]+))?)$")
_DP_PORT = re.compile(r"^\s+\S+ (\d+)/(\d+):")


@dataclass(frozen=True)
class OvsTrace:
    path: tuple[tuple[int, int | None], ...]
    ports: tuple[int, ...]
    datapath: str


@pytest.fixture(scope="module")
def ovs() -> Iterator[OvsSandbox]:
    reason = ovs_missing()
    if reason:
        pytest.skip(f"OVS sandbox unavailable: {reason}")
    with ovs_sandbox() as sandbox:
        for port in PORTS:
            iface = ["--", "set", "interface", f"p{port}", "type=internal", f"ofport_request={port}"]
            sandbox.vsctl("add-port", sandbox.bridge, f"p{port}", *iface)
        yield sandbox


def install(ovs: OvsSandbox, switch: Switch) -> dict[int, int]:
    """Replace the switch's flows and groups with `switch`'s; returns datapath port -> OpenFlow port."""
    ovs.ofctl("del-flows")
    ovs.ofctl("del-groups")
    groups = ovs.rundir / "groups.txt"
    groups.write_text("".join(f"{g}\n" for g in switch.groups.values()))
    ovs.ofctl("add-groups", str(groups))
    flows = ovs.rundir / "flows.txt"
    flows.write_text("".join(f"{f}\n" for f in switch.flows))
    ovs.ofctl("add-flows", str(flows))
    return _datapath_ports(ovs)


def _datapath_ports(ovs: OvsSandbox) -> dict[int, int]:
    shown = _appctl(ovs, "dpif/show")
    return {int(m[2]): int(m[1]) for line in shown.splitlines() if (m := _DP_PORT.match(line))}


def _appctl(ovs: OvsSandbox, *args: str) -> str:
    return ovs.run("ovs-appctl", "-t", str(Path(ovs.rundir) / "ovs-vswitchd.ctl"), *args)


def ovs_trace(ovs: OvsSandbox, dp_ports: dict[int, int], packet: Packet) -> OvsTrace:
    text = _appctl(ovs, "ofproto/trace", ovs.bridge, packet.ovs_flow())
    path = []
    for line in text.splitlines():
        if m := _LOOKUP.match(line):
            path.append((int(m[1]), int(m[2], 16) if m[2] else (None if "No match" in line else 0)))
    datapath = next(line for line in text.splitlines() if line.startswith("Datapath actions:"))
    actions = _top_level(datapath.removeprefix("Datapath actions:").strip())
    ports = tuple(dp_ports[int(a)] for a in actions if a.isdigit())
    return OvsTrace(tuple(path), ports, datapath)


def _top_level(actions: str) -> list[str]:
    """Split datapath actions on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in actions:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def assert_agree(ovs: OvsSandbox, switch: Switch, packets: list[Packet]) -> list[tuple[Trace, OvsTrace]]:
    dp_ports = install(ovs, switch)
    results = []
    for packet in packets:
        sim, real = switch.run(packet), ovs_trace(ovs, dp_ports, packet)
        assert sim.path == real.path, f"{sim}\n--- OVS:\n{real}"
        assert sim.ports == real.ports, f"{sim}\n--- OVS:\n{real}"
        results.append((sim, real))
    return results


def basic_pipeline() -> Switch:
    def f(
        table: int, prio: int, cookie: int, actions: tuple[object, ...], goto: int | None = None, **m: object
    ) -> Flow:
        return Flow(table, prio, Match.of(**m), tuple(actions), goto, cookie)  # type: ignore[arg-type]

    tcp = {"eth_type": 0x0800, "ip_proto": 6}
    flows = [
        f(
            0,
            100,
            0xA1,
            (SetField("reg6", 5), Resubmit(10)),
            20,
            in_port=1,
            eth_type=0x0800,
            ipv4_dst="10.1.2.0/24",
        ),
        f(0, 50, 0xA2, (Output(3),), in_port=1),
        f(
            0,
            10,
            0xA3,
            (GroupAction(1), Output(8)),
            in_port=2,
            eth_dst=("01:00:00:00:00:00", "01:00:00:00:00:00"),
        ),
        f(0, 10, 0xA4, (Resubmit(30, in_port=4), Output(9)), in_port=3),
        f(10, 10, 0xB1, (Output(4),), reg6=5),
        f(20, 10, 0xC1, (Move("reg6", "eth_dst", 16, dst_ofs=8), Output(5)), tcp_dst=(0x50, 0xFFF0), **tcp),
        f(20, 5, 0xC2, (Output(1), Output(2))),
        f(30, 10, 0xD1, (Output(6),), in_port=4),
        f(30, 10, 0xD2, (Output(7),), in_port=3),
    ]
    all_group = Group(
        1, "all", (Bucket((SetField("eth_dst", "02:00:00:00:00:09"), Output(6))), Bucket((Output(7),)))
    )
    return Switch(flows, [all_group])


def tcp_to(dst: str, dport: int, in_port: int = 1) -> Packet:
    return Packet.of(
        in_port=in_port, eth_src="02:00:00:00:00:01", eth_dst="02:00:00:00:00:02", eth_type=0x0800,
        ipv4_src="10.0.0.1", ipv4_dst=dst, ip_proto=6, nw_ttl=64, tcp_src=4000, tcp_dst=dport,
    )  # fmt: skip


def test_priorities_masks_resubmit_goto_and_groups_agree(ovs: OvsSandbox) -> None:
    packets = [
        tcp_to("10.1.2.7", 80),  # /24 -> resubmit returns, goto, masked tcp port, move
        tcp_to("10.1.2.7", 443),  # goto to the catch-all: output to in_port skipped
        tcp_to("10.3.0.1", 80),  # outside the prefix: lower priority
        tcp_to("10.3.0.1", 80, in_port=2).set(eth_dst="ff:ff:ff:ff:ff:ff"),  # all group, then output
        tcp_to("10.3.0.1", 80, in_port=3),  # resubmit with in_port
        tcp_to("10.3.0.1", 80, in_port=5),  # miss
    ]
    results = assert_agree(ovs, basic_pipeline(), packets)
    assert results[0][0].ports == (4, 5) and results[5][0].dropped
    # the move of reg6=5 into eth_dst[8..23]: the same bits in both
    assert results[0][0].to(5)[0]["eth_dst"] == "02:00:00:00:05:02"
    assert "set(eth(dst=00:00:00:00:05:00/00:00:00:ff:ff:00))" in results[0][1].datapath


def test_mpls_push_agrees(ovs: OvsSandbox) -> None:
    [(sim, real)] = assert_agree(ovs, mpls_chain(), [vm_packet()])
    out = sim.only(9)
    assert (
        f"push_mpls(label={out['mpls_label']},tc={out['mpls_tc']},ttl={out['mpls_ttl']},bos=1"
        in real.datapath
    )


def test_nsh_encap_agrees(ovs: OvsSandbox) -> None:
    [(sim, real)] = assert_agree(ovs, nsh_chain(), [vm_packet()])
    out = sim.only(9)
    assert f"mdtype=1,np=3,spi={out['nsh_spi']:#x},si={out['nsh_si']},c1={out['nsh_c1']:#x}" in real.datapath


def _clone_pipeline(copy: tuple[Action, ...], table_1: tuple[Action, ...]) -> Switch:
    ip = Match.of(eth_type=0x0800)
    return Switch(
        [Flow(0, 100, ip, (Clone(copy), Output(2)), cookie=0xE1), Flow(1, 100, ip, table_1, cookie=0xE2)]
    )


def test_a_clone_pushing_mpls_through_a_resubmit_agrees(ovs: OvsSandbox) -> None:
    """A clone of reversible actions: OVS undoes the push after it (pop_mpls), the original goes out plain."""
    mpls = (PushMpls(), SetField("mpls_label", 77), Output(3))
    [(sim, real)] = assert_agree(
        ovs, _clone_pipeline((SetField("reg4", 5), Resubmit(1)), mpls), [vm_packet()]
    )
    assert [d.packet["eth_type"] for d in sim.outputs] == [0x8847, 0x0800]
    assert "push_mpls(label=77" in real.datapath and "pop_mpls(eth_type=0x800)" in real.datapath


def test_a_clone_with_its_own_nsh_encap_is_a_datapath_clone(ovs: OvsSandbox) -> None:
    nsh = (EncapNsh(1), SetField("nsh_spi", 7), EncapEthernet(), Output(3))
    switch = _clone_pipeline((SetField("reg4", 5), *nsh), ())
    dp_ports = install(ovs, switch)
    sim, real = switch.run(vm_packet()), ovs_trace(ovs, dp_ports, vm_packet())
    assert [(d.port, d.packet["eth_type"]) for d in sim.outputs] == [(3, 0x894F), (2, 0x0800)]
    inner, after = real.datapath.removeprefix("Datapath actions: ").rsplit(",", 1)
    assert inner.startswith("clone(push_nsh(") and dp_ports[int(after)] == 2, real.datapath


def test_an_nsh_encap_behind_a_resubmit_leaks_out_of_the_clone_as_ofsim_says(ovs: OvsSandbox) -> None:
    """Why the compiler keeps a tap's encap among the clone's own actions: OVS pushes NSH for the copy
    and never pops it, so the original leaves with it; the simulator refuses the pipeline."""
    nsh = (EncapNsh(1), SetField("nsh_spi", 7), EncapEthernet(), Output(3))
    switch = _clone_pipeline((SetField("reg4", 5), Resubmit(1)), nsh)
    dp_ports = install(ovs, switch)
    real = ovs_trace(ovs, dp_ports, vm_packet())
    assert real.datapath.startswith("Datapath actions: push_nsh(") and "clone(" not in real.datapath
    with pytest.raises(PipelineError, match="cannot undo"):
        switch.run(vm_packet())
