"""The Neutron core resources chains need, and the chassis, as typed frozen values (pure, no I/O).

Each class mirrors the API representation (what GET returns and the NB stores, kinds `network`, `subnet`,
`port`, `chassis`); `from_dict` reads it, `to_dict` gives it back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NewType

from steerflow.model.sfc import PortId

NetworkId = NewType("NetworkId", str)
SubnetId = NewType("SubnetId", str)
ChassisName = NewType("ChassisName", str)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
JsonDict = dict[str, Any]

CORE_KINDS = ("network", "subnet", "port", "chassis")


def _project(d: Mapping[str, Any]) -> str:
    return str(d.get("project_id", d.get("tenant_id", "")))


def _owner_dict(project_id: str) -> JsonDict:
    return {"project_id": project_id, "tenant_id": project_id}


@dataclass(frozen=True)
class Network:
    """An L2 segment; every port of a chain lives on one."""

    id: NetworkId
    name: str = ""
    description: str = ""
    project_id: str = ""
    admin_state_up: bool = True
    shared: bool = False
    status: str = "ACTIVE"
    mtu: int = 1442
    port_security_enabled: bool = True
    subnets: tuple[SubnetId, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Network:
        return cls(
            id=NetworkId(d["id"]),
            name=d.get("name") or "",
            description=d.get("description") or "",
            project_id=_project(d),
            admin_state_up=bool(d.get("admin_state_up", True)),
            shared=bool(d.get("shared", False)),
            status=str(d.get("status", "ACTIVE")),
            mtu=int(d.get("mtu", 1442)),
            port_security_enabled=bool(d.get("port_security_enabled", True)),
            subnets=tuple(SubnetId(s) for s in d.get("subnets", ())),
        )

    def to_dict(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            **_owner_dict(self.project_id),
            "admin_state_up": self.admin_state_up,
            "shared": self.shared,
            "status": self.status,
            "mtu": self.mtu,
            "port_security_enabled": self.port_security_enabled,
            "subnets": list(self.subnets),
        }


@dataclass(frozen=True)
class AllocationPool:
    """An inclusive range of addresses a subnet hands out automatically."""

    start: IpAddress
    end: IpAddress

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return ip.version == self.start.version and int(self.start) <= int(ip) <= int(self.end)

    def to_dict(self) -> JsonDict:
        return {"start": str(self.start), "end": str(self.end)}


@dataclass(frozen=True)
class Subnet:
    """An IP range on a network, with its gateway and the pools ports are allocated from."""

    id: SubnetId
    network_id: NetworkId
    cidr: IpNetwork
    name: str = ""
    description: str = ""
    project_id: str = ""
    gateway_ip: IpAddress | None = None
    allocation_pools: tuple[AllocationPool, ...] = ()
    enable_dhcp: bool = True

    @property
    def ip_version(self) -> int:
        return self.cidr.version

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Subnet:
        gateway = d.get("gateway_ip")
        pools = tuple(
            AllocationPool(ipaddress.ip_address(p["start"]), ipaddress.ip_address(p["end"]))
            for p in d.get("allocation_pools", ())
        )
        return cls(
            id=SubnetId(d["id"]),
            network_id=NetworkId(d["network_id"]),
            cidr=ipaddress.ip_network(d["cidr"]),
            name=d.get("name") or "",
            description=d.get("description") or "",
            project_id=_project(d),
            gateway_ip=None if gateway is None else ipaddress.ip_address(gateway),
            allocation_pools=pools,
            enable_dhcp=bool(d.get("enable_dhcp", True)),
        )

    def to_dict(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            **_owner_dict(self.project_id),
            "network_id": self.network_id,
            "ip_version": self.ip_version,
            "cidr": str(self.cidr),
            "gateway_ip": None if self.gateway_ip is None else str(self.gateway_ip),
            "allocation_pools": [p.to_dict() for p in self.allocation_pools],
            "enable_dhcp": self.enable_dhcp,
        }


@dataclass(frozen=True)
class FixedIp:
    """One address of a port, and the subnet it belongs to."""

    subnet_id: SubnetId
    ip_address: IpAddress

    def to_dict(self) -> JsonDict:
        return {"subnet_id": self.subnet_id, "ip_address": str(self.ip_address)}


@dataclass(frozen=True)
class Port:
    """A virtual NIC: where a VM or a service function attaches to a network (and to a chain)."""

    id: PortId
    network_id: NetworkId
    mac_address: str
    name: str = ""
    description: str = ""
    project_id: str = ""
    admin_state_up: bool = True
    status: str = "DOWN"
    fixed_ips: tuple[FixedIp, ...] = ()
    device_id: str = ""
    device_owner: str = ""
    host_id: str = ""  # `binding:host_id`: the chassis the port is bound on ("" = unbound)
    port_security_enabled: bool = True

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Port:
        return cls(
            id=PortId(d["id"]),
            network_id=NetworkId(d["network_id"]),
            mac_address=str(d["mac_address"]),
            name=d.get("name") or "",
            description=d.get("description") or "",
            project_id=_project(d),
            admin_state_up=bool(d.get("admin_state_up", True)),
            status=str(d.get("status", "DOWN")),
            fixed_ips=tuple(
                FixedIp(SubnetId(f["subnet_id"]), ipaddress.ip_address(f["ip_address"]))
                for f in d.get("fixed_ips", ())
            ),
            device_id=d.get("device_id") or "",
            device_owner=d.get("device_owner") or "",
            host_id=d.get("binding:host_id") or "",
            port_security_enabled=bool(d.get("port_security_enabled", True)),
        )

    def to_dict(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            **_owner_dict(self.project_id),
            "network_id": self.network_id,
            "mac_address": self.mac_address,
            "admin_state_up": self.admin_state_up,
            "status": self.status,
            "fixed_ips": [f.to_dict() for f in self.fixed_ips],
            "device_id": self.device_id,
            "device_owner": self.device_owner,
            "binding:host_id": self.host_id,
            "port_security_enabled": self.port_security_enabled,
        }


@dataclass(frozen=True)
class Chassis:
    """A hypervisor running the steerflow agent: where it is reachable and what it has applied.

    `name` is the host name ports are bound to (`binding:host_id`) and the NB id. `applied_revision` is
    the NB revision whose flows the chassis has installed (confirmed by a barrier).
    """

    name: ChassisName
    underlay_ip: IpAddress
    encapsulations: tuple[str, ...] = ("geneve",)
    applied_revision: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)  # attributes an agent adds we do not model

    @property
    def id(self) -> str:
        return self.name

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Chassis:
        known = {"id", "name", "underlay_ip", "encapsulations", "applied_revision"}
        return cls(
            name=ChassisName(d.get("name") or d["id"]),
            underlay_ip=ipaddress.ip_address(d["underlay_ip"]),
            encapsulations=tuple(d.get("encapsulations", ("geneve",))),
            applied_revision=int(d.get("applied_revision", 0)),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def to_dict(self) -> JsonDict:
        return {
            **self.extra,
            "id": self.name,
            "name": self.name,
            "underlay_ip": str(self.underlay_ip),
            "encapsulations": list(self.encapsulations),
            "applied_revision": self.applied_revision,
        }
