"""The networking-sfc resources as typed, frozen values: port pairs, groups, chains, classifiers, graphs.

Each class mirrors the API representation attribute for attribute; `from_dict` reads what the API returns
(and the NB stores), `to_dict` gives it back. Pure: no I/O. Parameter dicts that upstream stores partially
(a port pair's `service_function_parameters`, a group's n-tuples) remember which keys were given, so the
round trip is exact while the typed fields always hold the effective value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, NewType

PortId = NewType("PortId", str)
PortPairId = NewType("PortPairId", str)
PortPairGroupId = NewType("PortPairGroupId", str)
PortChainId = NewType("PortChainId", str)
FlowClassifierId = NewType("FlowClassifierId", str)
ServiceGraphId = NewType("ServiceGraphId", str)
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


@dataclass(frozen=True)
class NTuple:
    """Header rewrites a group's functions apply on one side (ingress or egress); None = unchanged."""

    source_ip_prefix: str | None = None
    destination_ip_prefix: str | None = None
    source_port_range_min: int | None = None
    source_port_range_max: int | None = None
    destination_port_range_min: int | None = None
    destination_port_range_max: int | None = None
    given: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NTuple:
        return cls(
            source_ip_prefix=d.get("source_ip_prefix"),
            destination_ip_prefix=d.get("destination_ip_prefix"),
            source_port_range_min=_opt_int(d.get("source_port_range_min")),
            source_port_range_max=_opt_int(d.get("source_port_range_max")),
            destination_port_range_min=_opt_int(d.get("destination_port_range_min")),
            destination_port_range_max=_opt_int(d.get("destination_port_range_max")),
            given=frozenset(k for k in d if k in N_TUPLE_KEYS),
        )

    def to_dict(self) -> JsonDict:
        return {k: getattr(self, k) for k in N_TUPLE_KEYS if k in self.given}


@dataclass(frozen=True)
class NTupleMapping:
    """The group's n-tuple rewrites; a side is None when the API dict lacks that key."""

    ingress_n_tuple: NTuple | None = field(default_factory=NTuple)
    egress_n_tuple: NTuple | None = field(default_factory=NTuple)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> NTupleMapping:
        d = d or {}
        ingress, egress = d.get("ingress_n_tuple"), d.get("egress_n_tuple")
        return cls(
            ingress_n_tuple=None if ingress is None else NTuple.from_dict(ingress),
            egress_n_tuple=None if egress is None else NTuple.from_dict(egress),
        )

    def to_dict(self) -> JsonDict:
        out: JsonDict = {}
        if self.ingress_n_tuple is not None:
            out["ingress_n_tuple"] = self.ingress_n_tuple.to_dict()
        if self.egress_n_tuple is not None:
            out["egress_n_tuple"] = self.egress_n_tuple.to_dict()
        return out


@dataclass(frozen=True)
class PortPairGroupParameters:
    lb_fields: tuple[LbField, ...] = ()
    ppg_n_tuple_mapping: NTupleMapping = field(default_factory=NTupleMapping)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> PortPairGroupParameters:
        d = d or {}
        return cls(
            lb_fields=tuple(LbField(f) for f in d.get("lb_fields") or ()),
            ppg_n_tuple_mapping=NTupleMapping.from_dict(d.get("ppg_n_tuple_mapping")),
        )

    def to_dict(self) -> JsonDict:
        return {
            "lb_fields": [str(f) for f in self.lb_fields],
            "ppg_n_tuple_mapping": self.ppg_n_tuple_mapping.to_dict(),
        }


@dataclass(frozen=True)
class PortPairGroup(_Owned):
    """Interchangeable instances of one function; a flow goes through exactly one of its port pairs."""

    group_id: int = 0
    port_pairs: tuple[PortPairId, ...] = ()
    port_pair_group_parameters: PortPairGroupParameters = field(default_factory=PortPairGroupParameters)
    tap_enabled: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PortPairGroup:
        return cls(
            **cls._base_args(d),
            group_id=int(d.get("group_id") or 0),
            port_pairs=tuple(PortPairId(p) for p in d.get("port_pairs") or ()),
            port_pair_group_parameters=PortPairGroupParameters.from_dict(d.get("port_pair_group_parameters")),
            tap_enabled=bool(d.get("tap_enabled", False)),
        )

    def to_dict(self) -> JsonDict:
        return {
            **self._base_dict(),
            "group_id": self.group_id,
            "port_pairs": list(self.port_pairs),
            "port_pair_group_parameters": self.port_pair_group_parameters.to_dict(),
            "tap_enabled": self.tap_enabled,
        }


# --- port chain -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainParameters:
    correlation: Correlation = DEFAULT_CORRELATION
    symmetric: bool = False
    nsh_md_type: int | None = None  # steerflow's extension (NSH only); None: not given, MD type 1

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ChainParameters:
        d = d or {}
        md_type = d.get("nsh_md_type")
        return cls(
            Correlation(str(d.get("correlation") or DEFAULT_CORRELATION)),
            bool(d.get("symmetric", False)),
            None if md_type is None else int(md_type),
        )

    def to_dict(self) -> JsonDict:
        full: JsonDict = {"correlation": self.correlation, "symmetric": self.symmetric}
        return full if self.nsh_md_type is None else {**full, "nsh_md_type": self.nsh_md_type}


@dataclass(frozen=True)
class PortChain(_Owned):
    """An ordered list of groups that classified traffic traverses; `chain_id` is its stable label."""

    chain_id: int = 0
    port_pair_groups: tuple[PortPairGroupId, ...] = ()
    flow_classifiers: tuple[FlowClassifierId, ...] = ()
    chain_parameters: ChainParameters = field(default_factory=ChainParameters)

    @property
    def correlation(self) -> Correlation:
        return self.chain_parameters.correlation

    @property
    def symmetric(self) -> bool:
        return self.chain_parameters.symmetric

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PortChain:
        return cls(
            **cls._base_args(d),
            chain_id=int(d.get("chain_id") or 0),
            port_pair_groups=tuple(PortPairGroupId(g) for g in d.get("port_pair_groups") or ()),
            flow_classifiers=tuple(FlowClassifierId(f) for f in d.get("flow_classifiers") or ()),
            chain_parameters=ChainParameters.from_dict(d.get("chain_parameters")),
        )

    def to_dict(self) -> JsonDict:
        return {
            **self._base_dict(),
            "chain_id": self.chain_id,
            "port_pair_groups": list(self.port_pair_groups),
            "flow_classifiers": list(self.flow_classifiers),
            "chain_parameters": self.chain_parameters.to_dict(),
        }


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
        }


# --- service graph --------------------------------------------------------------------------------

Branches = tuple[tuple[PortChainId, tuple[PortChainId, ...]], ...]


def _branches(port_chains: Mapping[str, Iterable[str]]) -> Branches:
    return tuple((PortChainId(src), tuple(PortChainId(d) for d in dsts)) for src, dsts in port_chains.items())


@dataclass(frozen=True)
class ServiceGraph(_Owned):
    """A DAG of chains: traffic leaving a source chain is reclassified into one of its destinations."""

    port_chains: Branches = ()

    @property
    def branches(self) -> dict[PortChainId, tuple[PortChainId, ...]]:
        """Source chain -> its destination chains, in the order given."""
        return dict(self.port_chains)

    @property
    def chains(self) -> frozenset[PortChainId]:
        """Every chain the graph links, as source or destination."""
        return frozenset(self.branches) | frozenset(d for _, dsts in self.port_chains for d in dsts)

    def sources_of(self, chain: PortChainId) -> tuple[PortChainId, ...]:
        """The chains whose traffic may continue into `chain` (a join has several)."""
        return tuple(src for src, dsts in self.port_chains if chain in dsts)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServiceGraph:
        return cls(**cls._base_args(d), port_chains=_branches(d.get("port_chains") or {}))

    def to_dict(self) -> JsonDict:
        return {
            **self._base_dict(),
            "port_chains": {src: list(dsts) for src, dsts in self.port_chains},
        }


SfcResource = PortPair | PortPairGroup | PortChain | FlowClassifier | ServiceGraph

SFC_KINDS: dict[str, type[SfcResource]] = {
    "port_pair": PortPair,
    "port_pair_group": PortPairGroup,
    "port_chain": PortChain,
    "flow_classifier": FlowClassifier,
    "service_graph": ServiceGraph,
}


def sfc_from_record(kind: str, value: Mapping[str, Any]) -> SfcResource:
    """The typed value of one stored NB object of an SFC kind (KeyError for other kinds)."""
    return SFC_KINDS[kind].from_dict(value)
