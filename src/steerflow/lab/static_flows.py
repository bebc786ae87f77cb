"""A static L2 network over the lab's Geneve tunnels: hand-written flows for tests before the agent exists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from steerflow.lab.chassis import TUNNEL_OFPORT, ChassisHandle
from steerflow.lab.vm import VmHandle

if TYPE_CHECKING:
    from steerflow.lab.lab import Lab

DEFAULT_TUNNEL_KEY = 42
_MULTICAST = "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"  # broadcast, ARP and IPv6 ND alike


def static_l2_flows(
    chassis: Iterable[ChassisHandle], vms: Iterable[VmHandle], tunnel_key: int = DEFAULT_TUNNEL_KEY
) -> dict[str, list[str]]:
    """ovs-ofctl flow strings for br-int of each chassis, connecting every VM to every other one:
    unicast by destination MAC (locally or through the tunnel), multicast flooded to all."""
    all_chassis = list(chassis)
    all_vms = list(vms)
    underlay = {c.name: c.underlay_ip for c in all_chassis}
    return {
        c.name: _chassis_flows(c.name, underlay, all_vms, tunnel_key)
        for c in all_chassis
        if c.create_br_int  # the agent owns br-int elsewhere
    }


def _chassis_flows(name: str, underlay: dict[str, str], vms: list[VmHandle], key: int) -> list[str]:
    local = [v for v in vms if v.chassis == name]
    remote = [v for v in vms if v.chassis != name]
    peers = sorted({underlay[v.chassis] for v in remote})
    flows: list[str] = []
    for src in local:
        for dst in local:
            if dst is not src:
                flows.append(f"priority=20,in_port={src.ofport},dl_dst={dst.mac},actions=output:{dst.ofport}")
        for dst in remote:
            tunnel = _to_tunnel(key, [underlay[dst.chassis]])
            flows.append(f"priority=20,in_port={src.ofport},dl_dst={dst.mac},actions={tunnel}")
        flood = [f"output:{v.ofport}" for v in local if v is not src]
        if peers:
            flood.append(_to_tunnel(key, peers))
        if flood:
            flows.append(f"priority=10,in_port={src.ofport},{_MULTICAST},actions={','.join(flood)}")
    from_tunnel = f"in_port={TUNNEL_OFPORT},tun_id={key}"
    for dst in local:
        flows.append(f"priority=20,{from_tunnel},dl_dst={dst.mac},actions=output:{dst.ofport}")
    if local:
        outputs = ",".join(f"output:{v.ofport}" for v in local)
        flows.append(f"priority=10,{from_tunnel},{_MULTICAST},actions={outputs}")
    return flows


def _to_tunnel(key: int, remote_ips: list[str]) -> str:
    steps = [f"set_field:{key}->tun_id"]
    for ip in remote_ips:
        steps += [f"set_field:{ip}->tun_dst", f"output:{TUNNEL_OFPORT}"]
    return ",".join(steps)


def install_static_l2(lab: Lab, tunnel_key: int = DEFAULT_TUNNEL_KEY) -> None:
    """Add the static L2 flows to br-int of every chassis the lab created br-int on."""
    flows = static_l2_flows(lab.chassis.values(), lab.vms.values(), tunnel_key)
    for name, chassis_flows in flows.items():
        lab.chassis[name].add_flows(chassis_flows)
