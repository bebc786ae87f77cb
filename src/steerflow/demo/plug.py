"""Plugging lab VMs and service functions for NB ports: each wears its port's MAC, addresses and iface-id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steerflow.lab import ChassisHandle, FunctionHandle, Lab, VmHandle

NbPort = Mapping[str, Any]


def ipv4_of(port: NbPort) -> str:
    """The port's first IPv4 fixed address (every port the lab plugs needs one)."""
    return next(str(f["ip_address"]) for f in port["fixed_ips"] if ":" not in f["ip_address"])


def ipv6_of(port: NbPort) -> str | None:
    return next((str(f["ip_address"]) for f in port["fixed_ips"] if ":" in f["ip_address"]), None)


def plug_vm(
    lab: Lab, chassis: ChassisHandle | str, name: str, port: NbPort, *, v4_len: int = 24, v6_len: int = 64
) -> VmHandle:
    """A VM namespace on `chassis` for the NB `port`: its MAC, its fixed IPs, iface-id = the port id."""
    ipv6 = ipv6_of(port)
    return lab.add_vm(
        chassis, name, str(port["mac_address"]), f"{ipv4_of(port)}/{v4_len}",
        f"{ipv6}/{v6_len}" if ipv6 else None, iface_id=str(port["id"]),
    )  # fmt: skip


def plug_function(
    lab: Lab,
    chassis: ChassisHandle | str,
    name: str,
    ingress: NbPort,
    egress: NbPort,
    *,
    mode: str = "unaware",
    add: int = 1,
    v4_len: int = 24,
    nat_udp_dst: int = 0,
    bridge: bool = False,
) -> FunctionHandle:
    """A service function on `chassis` whose NICs are the NB ports `ingress` and `egress` (a port pair's),
    running the emulator in `mode` (unaware, mpls, nsh) that adds `add` to each payload byte (and
    `nat_udp_dst` to UDP destination ports, like a NAT; `bridge`: and forwards every other frame too,
    both ways, like a transparent firewall)."""
    return lab.add_function(
        chassis, name,
        str(ingress["mac_address"]), f"{ipv4_of(ingress)}/{v4_len}",
        str(egress["mac_address"]), f"{ipv4_of(egress)}/{v4_len}",
        ingress_iface_id=str(ingress["id"]), egress_iface_id=str(egress["id"]), mode=mode, add=add,
        nat_udp_dst=nat_udp_dst,
        bridge=bridge,
    )  # fmt: skip
