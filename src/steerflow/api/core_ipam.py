"""IP address management for subnets and ports: gateways, allocation pools and fixed IP allocation (pure)."""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from steerflow.api.core_errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    InvalidInput,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
    MacAddressInUse,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
    SubnetNotFound,
)
from steerflow.nbdb.api import JsonDict

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAC_PREFIX = "fa:16:3e"  # the OUI Neutron generates port MACs in
MAC_ATTEMPTS = 64


@dataclass(frozen=True)
class Pool:
    """An inclusive range of addresses, as integers of one IP version."""

    version: int
    first: int
    last: int

    def as_dict(self) -> JsonDict:
        return {"start": str(_ip(self.version, self.first)), "end": str(_ip(self.version, self.last))}


def _ip(version: int, value: int) -> IpAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def parse_cidr(cidr: str, ip_version: int) -> IpNetwork:
    """The network a CIDR names (host bits dropped, as Neutron stores it); its version must match."""
    net = ipaddress.ip_network(cidr, strict=False)
    if net.version != ip_version:
        raise InvalidInput(error_message=f"cidr '{cidr}' does not match the ip_version '{ip_version}'")
    return net


def usable_range(net: IpNetwork) -> tuple[int, int]:
    """First and last host address; IPv4 keeps back the network and broadcast addresses."""
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4 and net.prefixlen < 31:
        return first + 1, last - 1
    if net.version == 6:
        return first + 1, last
    return first, last


def default_gateway(net: IpNetwork) -> str | None:
    """Neutron's default: the first host of an IPv4 subnet, the subnet-router anycast address in IPv6."""
    first, last = usable_range(net)
    if net.version == 6:
        return str(net.network_address)
    return str(_ip(4, first)) if first <= last else None


def check_gateway(net: IpNetwork, gateway: str) -> None:
    ip = ipaddress.ip_address(gateway)
    first, last = usable_range(net)
    if ip.version != net.version:
        raise InvalidInput(
            error_message=f"gateway_ip {gateway} does not match the ip_version '{net.version}'"
        )
    if ip in net and not first <= int(ip) <= last and net.version == 4:
        raise InvalidInput(error_message=f"Gateway is not valid on subnet: {gateway} in {net}")


def derive_pools(net: IpNetwork, gateway: str | None) -> list[Pool]:
    """The whole usable range, minus the gateway."""
    first, last = usable_range(net)
    if first > last:
        return []
    gw = None if gateway is None else int(ipaddress.ip_address(gateway))
    if gw is None or not first <= gw <= last:
        return [Pool(net.version, first, last)]
    pools = [Pool(net.version, first, gw - 1), Pool(net.version, gw + 1, last)]
    return [p for p in pools if p.first <= p.last]


def parse_pools(raw: Sequence[Mapping[str, Any]], net: IpNetwork, gateway: str | None) -> list[Pool]:
    """Explicit allocation pools: inside the subnet, ordered, disjoint and not holding the gateway."""
    pools = [_parse_pool(p, net) for p in raw]
    ordered = sorted(pools, key=lambda p: p.first)
    for a, b in itertools.pairwise(ordered):
        if b.first <= a.last:
            raise OverlappingAllocationPools(pool_1=a.as_dict(), pool_2=b.as_dict(), subnet_cidr=str(net))
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        for p in pools:
            if p.first <= gw <= p.last:
                raise GatewayConflictWithAllocationPools(ip_address=gateway, pool=p.as_dict())
    return pools


def _parse_pool(raw: Mapping[str, Any], net: IpNetwork) -> Pool:
    try:
        start, end = ipaddress.ip_address(raw["start"]), ipaddress.ip_address(raw["end"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidAllocationPool(pool=dict(raw)) from exc
    if start.version != net.version or end.version != net.version or int(start) > int(end):
        raise InvalidAllocationPool(pool=dict(raw))
    first, last = usable_range(net)
    if not first <= int(start) <= int(end) <= last:
        raise OutOfBoundsAllocationPool(pool=dict(raw), subnet_cidr=str(net))
    return Pool(net.version, int(start), int(end))


def pools_of(subnet: Mapping[str, Any]) -> list[Pool]:
    version = int(subnet["ip_version"])
    return [
        Pool(version, int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
        for p in subnet.get("allocation_pools", [])
    ]


def valid_for_subnet(ip: IpAddress, subnet: Mapping[str, Any]) -> bool:
    """An address a port may have on `subnet` (any host address, the gateway included)."""
    net = ipaddress.ip_network(subnet["cidr"])
    first, last = usable_range(net)
    return ip.version == net.version and first <= int(ip) <= last


def first_free(subnet: Mapping[str, Any], used: set[int]) -> IpAddress | None:
    """The lowest free address of the subnet's pools (deterministic, unlike Neutron's random pick)."""
    for pool in pools_of(subnet):
        candidate = pool.first
        while candidate <= pool.last and candidate in used:
            candidate += 1
        if candidate <= pool.last:
            return _ip(pool.version, candidate)
    return None


def generate_mac(in_use: Container[str], net_id: str, rng: random.Random | None = None) -> str:
    """A random fa:16:3e:xx:xx:xx address no port of the network has yet."""
    pick = rng or random.SystemRandom()
    for _ in range(MAC_ATTEMPTS):
        mac = f"{MAC_PREFIX}:{pick.randrange(256):02x}:{pick.randrange(256):02x}:{pick.randrange(256):02x}"
        if mac not in in_use:
            return mac
    raise MacAddressInUse(net_id=net_id, mac=f"{MAC_PREFIX}:*")


@dataclass(frozen=True)
class NetworkAddressing:
    """What fixed IP allocation needs to know about one network: its subnets and what is taken."""

    network_id: str
    subnets: list[JsonDict]  # the network's subnets, in creation order
    all_subnets: Mapping[str, JsonDict]  # every subnet, to tell "unknown" from "on another network"
    used: dict[str, set[int]]

    def allocate(self, requested: list[JsonDict] | None) -> list[JsonDict]:
        """The port's fixed_ips: the requested ones checked (explicit addresses first), or defaults."""
        if requested is None:
            return self._defaults()
        resolved: list[JsonDict | None] = [None] * len(requested)
        explicit = [i for i, r in enumerate(requested) if r.get("ip_address") is not None]
        automatic = [i for i, r in enumerate(requested) if r.get("ip_address") is None]
        for i in explicit + automatic:  # explicit first, so an automatic pick cannot take them
            resolved[i] = self._one(requested[i])
        return [r for r in resolved if r is not None]

    def _defaults(self) -> list[JsonDict]:
        """One address of each IP version the network has subnets of (from the first with room)."""
        out = []
        for version in (4, 6):
            candidates = [s for s in self.subnets if int(s["ip_version"]) == version]
            if not candidates:
                continue
            fip = next((f for s in candidates if (f := self._take_free(s)) is not None), None)
            if fip is None:
                raise IpAddressGenerationFailure(net_id=self.network_id)
            out.append(fip)
        return out

    def _one(self, req: JsonDict) -> JsonDict:
        ip = None if req.get("ip_address") is None else ipaddress.ip_address(req["ip_address"])
        subnet = self._subnet_for(req.get("subnet_id"), ip)
        if ip is None:
            fip = self._take_free(subnet)
            if fip is None:
                raise IpAddressGenerationFailure(net_id=self.network_id)
            return fip
        if not valid_for_subnet(ip, subnet):
            raise InvalidIpForSubnet(ip_address=str(ip))
        taken = self.used.setdefault(subnet["id"], set())
        if int(ip) in taken:
            raise IpAddressAlreadyAllocated(ip=str(ip), subnet_id=subnet["id"])
        taken.add(int(ip))
        return {"subnet_id": subnet["id"], "ip_address": str(ip)}

    def _subnet_for(self, subnet_id: str | None, ip: IpAddress | None) -> JsonDict:
        if subnet_id is not None:
            found = next((s for s in self.subnets if s["id"] == subnet_id), None)
            if found is not None:
                return found
            if subnet_id not in self.all_subnets:
                raise SubnetNotFound(id=subnet_id)
            raise InvalidInput(
                error_message=f"Failed to create port on network {self.network_id}, because fixed_ips "
                f"included invalid subnet {subnet_id}"
            )
        assert ip is not None  # the attribute validator refuses an entry with neither key
        found = next((s for s in self.subnets if valid_for_subnet(ip, s)), None)
        if found is None:
            raise InvalidIpForNetwork(ip_address=str(ip))
        return found

    def _take_free(self, subnet: JsonDict) -> JsonDict | None:
        taken = self.used.setdefault(subnet["id"], set())
        ip = first_free(subnet, taken)
        if ip is None:
            return None
        taken.add(int(ip))
        return {"subnet_id": subnet["id"], "ip_address": str(ip)}
