"""The networking-sfc resources the API's rules and the compiler read as typed, frozen values: port pairs
and flow classifiers, and the enumerations of the SFC attributes.

Each class mirrors the API representation attribute for attribute; `from_dict` reads what the API returns
(and the NB stores), `to_dict` gives it back. Pure: no I/O. A port pair's `service_function_parameters`,
which upstream stores partially, remembers which keys were given, so the round trip is exact while the
typed fields always hold the effective value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, NewType

from steerflow.model import classification as cls_terms
from steerflow.model import schema

PortId = NewType("PortId", str)
FlowClassifierId = NewType("FlowClassifierId", str)
ProjectId = NewType("ProjectId", str)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
JsonDict = dict[str, Any]


class Correlation(str):
    """How a function tells chains apart: the encapsulation it understands, by the name of its driver
    (an installed `steerflow.encap` entry point, `model.correlations`). An open set, so a string, not
    an enum: `Correlation.MPLS` and `Correlation.NSH` are steerflow's own. The API accepts only installed
    names; a value here is not checked (the NB may hold a name whose driver is gone: the compiler leaves
    such a chain inert)."""

    __slots__ = ()
    MPLS: ClassVar[Correlation]
    NSH: ClassVar[Correlation]


Correlation.MPLS = Correlation("mpls")
Correlation.NSH = Correlation("nsh")
DEFAULT_CORRELATION = Correlation.MPLS  # a chain's when none is given (networking-sfc's default)


class Ethertype(StrEnum):
    IPV4 = "IPv4"
    IPV6 = "IPv6"


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"


class LbField(StrEnum):
    """Packet fields a port pair group may hash on to spread flows over its port pairs."""

    ETH_SRC = "eth_src"
    ETH_DST = "eth_dst"
    IP_SRC = "ip_src"
    IP_DST = "ip_dst"
    TCP_SRC = "tcp_src"
    TCP_DST = "tcp_dst"
    UDP_SRC = "udp_src"
    UDP_DST = "udp_dst"


def _correlation(value: Any) -> Correlation | None:
    return None if value is None else Correlation(str(value))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class _Owned:
    """Attributes every resource has."""

    id: str
    name: str = ""
    description: str = ""
    project_id: ProjectId = ProjectId("")

    def _base_dict(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "project_id": self.project_id,
            "tenant_id": self.project_id,
        }

    @staticmethod
    def _base_args(d: Mapping[str, Any]) -> JsonDict:
        project = d.get("project_id", d.get("tenant_id", ""))
        return {
            "id": d["id"],
            "name": d.get("name") or "",
            "description": d.get("description") or "",
            "project_id": ProjectId(project),
        }


# --- port pair ------------------------------------------------------------------------------------

SF_PARAMETER_KEYS = frozenset({"correlation", "weight"})


@dataclass(frozen=True)
class ServiceFunctionParameters:
    """A function's correlation (None: it does not understand the chain's encapsulation) and weight."""

    correlation: Correlation | None = None
    weight: int = 1
    given: frozenset[str] = SF_PARAMETER_KEYS  # keys the API shows (upstream keeps partial dicts)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ServiceFunctionParameters:
        if not d:
            return cls()
        return cls(
            correlation=_correlation(d.get("correlation")),
            weight=int(d.get("weight", 1)),
            given=frozenset(k for k in d if k in SF_PARAMETER_KEYS),
        )

    def to_dict(self) -> JsonDict:
        full: JsonDict = {"correlation": self.correlation, "weight": self.weight}
        return {k: v for k, v in full.items() if k in self.given}


@dataclass(frozen=True)
class PortPair(_Owned):
    """A service function instance: traffic enters it at `ingress` and leaves at `egress`."""

    ingress: PortId = PortId("")
    egress: PortId = PortId("")
    service_function_parameters: ServiceFunctionParameters = field(default_factory=ServiceFunctionParameters)

    @property
    def correlation(self) -> Correlation | None:
        return self.service_function_parameters.correlation

    @property
    def weight(self) -> int:
        return self.service_function_parameters.weight

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PortPair:
        return cls(
            **cls._base_args(d),
            ingress=PortId(d["ingress"]),
            egress=PortId(d["egress"]),
            service_function_parameters=ServiceFunctionParameters.from_dict(
                d.get("service_function_parameters")
            ),
        )

    def to_dict(self) -> JsonDict:
        return {
            **self._base_dict(),
            "ingress": self.ingress,
            "egress": self.egress,
            "service_function_parameters": self.service_function_parameters.to_dict(),
        }


# --- port pair group --------------------------------------------------------------------------------

N_TUPLE_KEYS = (
    "source_ip_prefix",
    "destination_ip_prefix",
    "source_port_range_min",
    "source_port_range_max",
    "destination_port_range_min",
    "destination_port_range_max",
)


# --- flow classifier ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortRange:
    """An inclusive L4 port range; a missing bound is open."""

    min: int | None = None
    max: int | None = None

    @property
    def is_any(self) -> bool:
        return self.min is None and self.max is None

    def bounds(self) -> tuple[int, int]:
        """Closed bounds with open ends made explicit (0..65535)."""
        return (0 if self.min is None else self.min, 65535 if self.max is None else self.max)


def _network(prefix: str | None) -> IpNetwork | None:
    return None if prefix is None else ipaddress.ip_network(prefix, strict=False)


@dataclass(frozen=True)
class FlowClassifier(_Owned):
    """Which traffic enters a chain: an L2-L4 match, optionally tied to the ports it comes from/goes to."""

    ethertype: Ethertype = Ethertype.IPV4
    protocol: Protocol | None = None
    source_port_range_min: int | None = None
    source_port_range_max: int | None = None
    destination_port_range_min: int | None = None
    destination_port_range_max: int | None = None
    source_ip_prefix: str | None = None
    destination_ip_prefix: str | None = None
    logical_source_port: PortId | None = None
    logical_destination_port: PortId | None = None
    l7_parameters: tuple[tuple[str, str], ...] = ()
    # steerflow's extension: a classification group ANDed with the fields above, and that group's
    # terms as the API stored them with the classifier (the group is immutable while in use)
    classification_group_id: str | None = None
    group_terms: cls_terms.Disjunction | None = None

    @property
    def source_ports(self) -> PortRange:
        return PortRange(self.source_port_range_min, self.source_port_range_max)

    @property
    def destination_ports(self) -> PortRange:
        return PortRange(self.destination_port_range_min, self.destination_port_range_max)

    @property
    def source_network(self) -> IpNetwork | None:
        """The source prefix as a network (host bits dropped: "10.0.0.1/24" -> 10.0.0.0/24)."""
        return _network(self.source_ip_prefix)

    @property
    def destination_network(self) -> IpNetwork | None:
        return _network(self.destination_ip_prefix)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowClassifier:
        protocol, lsp, ldp = (
            d.get("protocol"),
            d.get("logical_source_port"),
            d.get("logical_destination_port"),
        )
        return cls(
            **cls._base_args(d),
            ethertype=Ethertype(d.get("ethertype") or Ethertype.IPV4),
            protocol=None if protocol is None else Protocol(protocol),
            source_port_range_min=_opt_int(d.get("source_port_range_min")),
            source_port_range_max=_opt_int(d.get("source_port_range_max")),
            destination_port_range_min=_opt_int(d.get("destination_port_range_min")),
            destination_port_range_max=_opt_int(d.get("destination_port_range_max")),
            source_ip_prefix=d.get("source_ip_prefix"),
            destination_ip_prefix=d.get("destination_ip_prefix"),
            logical_source_port=None if lsp is None else PortId(lsp),
            logical_destination_port=None if ldp is None else PortId(ldp),
            l7_parameters=tuple(sorted((d.get("l7_parameters") or {}).items())),
            classification_group_id=d.get("classification_group_id"),
            group_terms=_group_terms(d),
        )

    def to_dict(self) -> JsonDict:
        return {
            **self._base_dict(),
            "ethertype": str(self.ethertype),
            "protocol": None if self.protocol is None else str(self.protocol),
            "source_port_range_min": self.source_port_range_min,
            "source_port_range_max": self.source_port_range_max,
            "destination_port_range_min": self.destination_port_range_min,
            "destination_port_range_max": self.destination_port_range_max,
            "source_ip_prefix": self.source_ip_prefix,
            "destination_ip_prefix": self.destination_ip_prefix,
            "logical_source_port": self.logical_source_port,
            "logical_destination_port": self.logical_destination_port,
            "l7_parameters": dict(self.l7_parameters),
            "classification_group_id": self.classification_group_id,
        }

    def own_term(self) -> cls_terms.Term:
        """The classifier's own header fields (logical ports aside) as one term."""
        fields: dict[str, cls_terms.Value] = {"eth_type": ETH_TYPES[self.ethertype]}
        ip = "ipv4" if self.ethertype is Ethertype.IPV4 else "ipv6"
        for side, network in (("src", self.source_network), ("dst", self.destination_network)):
            if network is not None and network.prefixlen:
                fields[f"{ip}_{side}"] = str(network)
        if self.protocol is not None:
            fields["ip_proto"] = IP_PROTOS[(self.ethertype, self.protocol)]
        if self.protocol in (Protocol.TCP, Protocol.UDP):
            for side, ports in (("src", self.source_ports), ("dst", self.destination_ports)):
                if not ports.is_any and ports.bounds() != (0, 65535):
                    fields[f"{self.protocol}_{side}"] = ports.bounds()
        return cls_terms.term(fields)

    def terms(self) -> cls_terms.Disjunction:
        """Every packet the classifier matches (logical ports aside): its own term ANDed with its
        group's terms, if any; empty when they contradict each other."""
        own = self.own_term()
        if self.group_terms is None:
            return (own,)
        return tuple(dict.fromkeys(m for t in self.group_terms if (m := cls_terms.merge(own, t)) is not None))


def _group_terms(d: Mapping[str, Any]) -> cls_terms.Disjunction | None:
    raw = d.get(schema.MATCH_TERMS)
    return None if raw is None else cls_terms.from_json(raw)


ETH_TYPES: dict[Ethertype, int] = {Ethertype.IPV4: 0x0800, Ethertype.IPV6: 0x86DD}
IP_PROTOS: dict[tuple[Ethertype, Protocol], int] = {
    (Ethertype.IPV4, Protocol.TCP): 6,
    (Ethertype.IPV4, Protocol.UDP): 17,
    (Ethertype.IPV4, Protocol.ICMP): 1,
    (Ethertype.IPV6, Protocol.TCP): 6,
    (Ethertype.IPV6, Protocol.UDP): 17,
    (Ethertype.IPV6, Protocol.ICMP): 58,  # ICMPv6: an "icmp" classifier on IPv6 means this one
}
