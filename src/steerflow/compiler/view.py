"""What the compiler sees: the logical topology, resolved for one chassis, as plain typed values.

`build_view` is the only place that reads NB documents; every compiler module works from `ChassisView`,
so a module never guesses an attribute name and the compiler stays pure and fast to test.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.model import schema

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class LogicalPort:
    """A port of a network, where it is bound (if anywhere) and the key registers carry for it."""

    id: str
    key: int
    network_key: int
    mac: str
    ips: tuple[IpAddress, ...]
    port_security: bool
    chassis: str | None  # bound on this chassis name, or None
    ofport: int | None  # the OpenFlow port when bound on the chassis being compiled
    project_id: str = ""
    service: bool = False  # the ingress or egress of a port pair: steered traffic only (`l2`)


@dataclass(frozen=True)
class LogicalNetwork:
    id: str
    key: int  # also the Geneve VNI


@dataclass(frozen=True)
class RemoteChassis:
    name: str
    underlay_ip: str


@dataclass(frozen=True)
class ChassisView:
    """The whole input of one compilation."""

    chassis: str
    tunnel_ofport: int
    networks: tuple[LogicalNetwork, ...]
    ports: tuple[LogicalPort, ...]
    remotes: Mapping[str, RemoteChassis]

    def local_ports(self) -> tuple[LogicalPort, ...]:
        return self._local_ports

    @functools.cached_property
    def _local_ports(self) -> tuple[LogicalPort, ...]:  # asked once per chain: computed once per view
        return tuple(p for p in self.ports if p.chassis == self.chassis and p.ofport is not None)

    @functools.cached_property
    def port_index(self) -> Mapping[str, LogicalPort]:
        """Ports by id."""
        return {p.id: p for p in self.ports}

    @functools.cached_property
    def network_ids(self) -> Mapping[int, str]:
        """Network ids by key."""
        return {n.key: n.id for n in self.networks}

    def ports_of(self, network_key: int) -> tuple[LogicalPort, ...]:
        return tuple(p for p in self.ports if p.network_key == network_key)

    def remote_chassis_of(self, network_key: int) -> tuple[RemoteChassis, ...]:
        """The other chassis hosting at least one port of the network, sorted by name."""
        names = {p.chassis for p in self.ports_of(network_key) if p.chassis and p.chassis != self.chassis}
        return tuple(self.remotes[n] for n in sorted(names) if n in self.remotes)


Docs = Mapping[str, Mapping[str, Mapping[str, Any]]]


def build_view(objects: Docs, chassis: str, tunnel_ofport: int) -> ChassisView:
    """Resolve NB documents (kind -> id -> value) into the view of `chassis`.

    Ports of networks without a key, ports without a key and bindings to unknown chassis are left
    out: they cannot be forwarded to yet, and the next NB change that completes them recompiles.
    """
    networks = logical_networks(objects)
    keys = {n.id: n.key for n in networks}
    bindings = objects.get(schema.PORT_BINDING, {})
    remotes = {
        name: RemoteChassis(name, str(doc["underlay_ip"]))
        for name, doc in objects.get(schema.CHASSIS, {}).items()
        if name != chassis and doc.get("underlay_ip")
    }
    service = service_port_ids(objects)
    ports = tuple(
        port
        for doc in sorted(objects.get(schema.PORT, {}).values(), key=lambda d: str(d["id"]))
        if (port := _port(doc, keys, bindings.get(str(doc["id"])), chassis, remotes, service)) is not None
    )
    return ChassisView(chassis, tunnel_ofport, networks, ports, remotes)


def service_port_ids(objects: Docs) -> frozenset[str]:
    """The ports some port pair names as its ingress or egress, chain or not: service ports."""
    pairs = objects.get(schema.PORT_PAIR, {}).values()
    return frozenset(str(pair[side]) for pair in pairs for side in ("ingress", "egress") if pair.get(side))


def logical_networks(objects: Docs) -> tuple[LogicalNetwork, ...]:
    """The networks with a key, by key: all a flow reads of a network (its name or MTU, nothing)."""
    found = [
        LogicalNetwork(str(doc["id"]), int(doc[schema.SEGMENTATION_ID]))
        for doc in objects.get(schema.NETWORK, {}).values()
        if doc.get(schema.SEGMENTATION_ID)
    ]
    return tuple(sorted(found, key=lambda n: n.key))


def _port(
    doc: Mapping[str, Any],
    network_keys: Mapping[str, int],
    binding: Mapping[str, Any] | None,
    chassis: str,
    remotes: Mapping[str, RemoteChassis],
    service: frozenset[str],
) -> LogicalPort | None:
    network_key = network_keys.get(str(doc.get("network_id")))
    key = doc.get(schema.TUNNEL_KEY)
    if network_key is None or not key:
        return None
    bound_on = str(binding[schema.CHASSIS]) if binding else None
    if bound_on is not None and bound_on != chassis and bound_on not in remotes:
        bound_on = None
    ofport = int(binding["ofport"]) if binding and bound_on == chassis and binding.get("ofport") else None
    return LogicalPort(
        id=str(doc["id"]),
        key=int(key),
        network_key=network_key,
        mac=str(doc["mac_address"]).lower(),
        ips=tuple(_address(str(f["ip_address"])) for f in doc.get("fixed_ips", ())),
        port_security=bool(doc.get("port_security_enabled", True)),
        chassis=bound_on,
        ofport=ofport,
        project_id=str(doc.get("project_id") or doc.get("tenant_id") or ""),
        service=str(doc["id"]) in service,
    )


@functools.lru_cache(maxsize=1 << 17)
def _address(text: str) -> IpAddress:
    """An address parsed once: every compile builds the view of every port again, and parsing each
    port's addresses was most of that cost (a bulk bind recompiles once per binding write)."""
    return ipaddress.ip_address(text)
