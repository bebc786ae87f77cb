"""The chassis as a typed frozen value (pure, no I/O): what an agent registers in the NB."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NewType

ChassisName = NewType("ChassisName", str)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Chassis:
    """A hypervisor running the steerflow agent: where it is reachable and how.

    `name` is the host name ports are bound to (`binding:host_id`) and the NB id. What it has applied is
    its agent's report, in `chassis_status` (`nbdb.status`).
    """

    name: ChassisName
    underlay_ip: IpAddress
    encapsulations: tuple[str, ...] = ("geneve",)
    extra: Mapping[str, Any] = field(default_factory=dict)  # attributes an agent adds we do not model

    @property
    def id(self) -> str:
        return self.name

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Chassis:
        known = {"id", "name", "underlay_ip", "encapsulations"}
        return cls(
            name=ChassisName(d.get("name") or d["id"]),
            underlay_ip=ipaddress.ip_address(d["underlay_ip"]),
            encapsulations=tuple(d.get("encapsulations", ("geneve",))),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def to_dict(self) -> JsonDict:
        return {
            **self.extra,
            "id": self.name,
            "name": self.name,
            "underlay_ip": str(self.underlay_ip),
            "encapsulations": list(self.encapsulations),
        }
