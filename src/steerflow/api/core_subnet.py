"""Neutron subnets: an IP range of a network, its gateway and the pools ports get addresses from."""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from steerflow.api import attributes as A  # noqa: N812
from steerflow.api import core_ipam as ipam
from steerflow.api.base import StoredResource, merged
from steerflow.api.context import Context
from steerflow.api.core_errors import (
    GatewayConflictWithAllocationPools,
    InvalidInput,
    NetworkNotFound,
    SubnetInUse,
    SubnetNotFound,
)
from steerflow.api.core_network import (
    UNSET,
    owner,
    require_owner,
    validate_unless_unset,
)
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, Operation, Put
from steerflow.nbdb.txn import Snapshot

SUBNET_QUOTA: Final = 100


def _validate_pools(data: Any) -> str | None:
    if not isinstance(data, list):
        return f"'{data}' is not a list"
    for pool in data:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            return f"'{pool}' is not a valid allocation pool: expected {{'start': IP, 'end': IP}}"
        for key in ("start", "end"):
            reason = A.validate_ip_address(pool[key])
            if reason:
                return reason
    return None


def _validate_gateway(data: Any) -> str | None:
    return None if data is None else A.validate_ip_address(data)


SUBNET_ATTRIBUTES = A.AttributeMap(
    schema.SUBNET,
    [
        A.id_attribute(),
        A.name_attribute(),
        A.description_attribute(),
        *A.project_attributes(),
        A.Attribute("network_id", validator=A.validate_uuid),
        A.Attribute("ip_version", converter=A.convert_to_int, validator=A.values_validator([4, 6])),
        A.Attribute("cidr", validator=A.validate_subnet),
        A.Attribute(
            "gateway_ip", allow_put=True, default=UNSET, validator=validate_unless_unset(_validate_gateway)
        ),
        A.Attribute(
            "allocation_pools",
            default=UNSET,
            validator=validate_unless_unset(_validate_pools),
            filter_converter=A.identity,
        ),
        A.Attribute("enable_dhcp", allow_put=True, default=True, converter=A.convert_to_boolean),
    ],
)


class SubnetResource(StoredResource):
    """`/v2.0/subnets`: subnets of one network never overlap; one in use by a port cannot go."""

    resource = schema.SUBNET
    # neutron-lib's is_sort_key attributes
    sort_keys = frozenset(
        {
            "cidr",
            "enable_dhcp",
            "gateway_ip",
            "id",
            "ip_version",
            "name",
            "network_id",
            "project_id",
            "tenant_id",
        }
    )
    native_pagination = True
    ignores_unknown_marker = True  # upstream's subnets (versioned objects) page as if it were absent
    collection = "subnets"
    attributes = SUBNET_ATTRIBUTES
    not_found = SubnetNotFound
    default_quota = SUBNET_QUOTA
    attribute_schemas = {
        "ip_version": {"type": "integer", "enum": [4, 6]},
        "cidr": {"type": "string", "description": "CIDR, e.g. 10.0.0.0/24"},
        "gateway_ip": {"type": ["string", "null"], "description": "default: the first host address"},
        "allocation_pools": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
            },
            "description": "default: the whole subnet but the gateway",
        },
    }

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        net = self._network(ctx, snap, obj["network_id"])
        cidr = ipam.parse_cidr(obj["cidr"], obj["ip_version"])
        self._check_overlap(snap, net["id"], cidr)
        obj["cidr"] = str(cidr)
        if obj["gateway_ip"] is UNSET:
            obj["gateway_ip"] = ipam.default_gateway(cidr)
        elif obj["gateway_ip"] is not None:
            ipam.check_gateway(cidr, obj["gateway_ip"])
        if obj["allocation_pools"] is UNSET:
            pools = ipam.derive_pools(cidr, obj["gateway_ip"])
        else:
            pools = ipam.parse_pools(obj["allocation_pools"], cidr, obj["gateway_ip"])
        obj["allocation_pools"] = [p.as_dict() for p in pools]
        net = {**net, "subnets": [*net.get("subnets", []), obj["id"]]}
        return obj, [Put(schema.NETWORK, net["id"], net)]

    def _network(self, ctx: Context, snap: Snapshot, net_id: str) -> JsonDict:
        net = snap.find(schema.NETWORK, net_id)
        if net is None or not (ctx.can_see(owner(net)) or net.get("shared")):
            raise NetworkNotFound(id=net_id)
        require_owner(ctx, net, "create_subnet")  # a shared network takes ports, not subnets
        return net

    def _check_overlap(self, snap: Snapshot, net_id: str, cidr: ipam.IpNetwork) -> None:
        for other in snap.of(schema.SUBNET).values():
            if other.get("network_id") != net_id:
                continue
            if cidr.overlaps(ipaddress.ip_network(other["cidr"])):
                raise InvalidInput(
                    error_message=f"Requested subnet with cidr: {cidr} for network: {net_id} overlaps "
                    "with another subnet"
                )

    def plan_update(
        self, ctx: Context, snap: Snapshot, current: JsonDict, changes: JsonDict
    ) -> tuple[JsonDict, list[Operation]]:
        require_owner(ctx, current, "update_subnet")
        gateway = changes.get("gateway_ip", current["gateway_ip"])
        if gateway is UNSET:  # not possible on PUT (no defaults), kept total for the type checker
            gateway = current["gateway_ip"]
        if gateway != current["gateway_ip"] and gateway is not None:
            self._check_new_gateway(snap, current, gateway)
        return merged(current, {**changes, "gateway_ip": gateway}), []

    def _check_new_gateway(self, snap: Snapshot, subnet: JsonDict, gateway: str) -> None:
        cidr = ipaddress.ip_network(subnet["cidr"])
        ipam.check_gateway(cidr, gateway)
        gw = int(ipaddress.ip_address(gateway))
        for pool in ipam.pools_of(subnet):
            if pool.first <= gw <= pool.last:
                raise GatewayConflictWithAllocationPools(ip_address=gateway, pool=pool.as_dict())

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        require_owner(ctx, current, "delete_subnet")
        for port in snap.of(schema.PORT).values():
            if any(f.get("subnet_id") == current["id"] for f in port.get("fixed_ips", [])):
                raise SubnetInUse(subnet_id=current["id"])
        net = snap.find(schema.NETWORK, current["network_id"])
        if net is None:
            return []
        remaining = [s for s in net.get("subnets", []) if s != current["id"]]
        return [Put(schema.NETWORK, net["id"], {**net, "subnets": remaining})]
