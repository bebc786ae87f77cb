"""Neutron ports: a NIC on a network with a MAC and fixed IPs; what port pairs and classifiers point at."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Final

from steerflow.api import attributes as A  # noqa: N812
from steerflow.api import core_ipam as ipam
from steerflow.api.base import StoredResource, lowest_free, merged
from steerflow.api.context import Context
from steerflow.api.core_errors import (
    MacAddressInUse,
    NetworkNotFound,
    PortInUse,
    PortKeyExhausted,
    PortNotFound,
)
from steerflow.api.core_network import (
    UNSET,
    convert_unless_unset,
    owner,
    validate_unless_unset,
)
from steerflow.api.port_index import PORT_USAGE
from steerflow.api.sfc_refs import sfc_users_of_port
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, Operation
from steerflow.nbdb.txn import Snapshot

PORT_QUOTA: Final = 500
FIXED_IP_KEYS: Final = frozenset({"subnet_id", "ip_address"})


def _validate_fixed_ips(data: Any) -> str | None:
    if not isinstance(data, list):
        return f"Invalid data format for fixed IP: '{data}'"
    seen: set[str] = set()
    for fip in data:
        if not isinstance(fip, dict) or not fip or set(fip) - FIXED_IP_KEYS:
            return f"Invalid data format for fixed IP: '{fip}'"
        reason = None
        if "subnet_id" in fip:
            reason = A.validate_uuid(fip["subnet_id"])
        if not reason and "ip_address" in fip:
            reason = A.validate_ip_address(fip["ip_address"])
            if not reason and fip["ip_address"] in seen:
                reason = f"Duplicate IP address '{fip['ip_address']}'"
            seen.add(str(fip["ip_address"]))
        if reason:
            return reason
    return None


def _normalize_mac(value: Any) -> Any:
    return value.replace("-", ":").lower() if isinstance(value, str) else value


MAX_PORT_KEY = (1 << 15) - 1  # fits a Geneve option, as OVN's port keys do

PORT_ATTRIBUTES = A.AttributeMap(
    schema.PORT,
    [
        A.id_attribute(),
        A.name_attribute(),
        A.description_attribute(),
        *A.project_attributes(),
        A.Attribute("network_id", validator=A.validate_uuid),
        A.Attribute("admin_state_up", allow_put=True, default=True, converter=A.convert_to_boolean),
        A.Attribute(
            "mac_address",
            default=UNSET,
            validator=validate_unless_unset(A.validate_mac_address),
            normalize=convert_unless_unset(_normalize_mac),
            filter_converter=_normalize_mac,
        ),
        A.Attribute(
            "fixed_ips",
            allow_put=True,
            default=UNSET,
            validator=validate_unless_unset(_validate_fixed_ips),
            filter_converter=A.identity,
        ),
        A.Attribute("device_id", allow_put=True, default="", validator=A.string_validator(255)),
        A.Attribute("device_owner", allow_put=True, default="", validator=A.string_validator(255)),
        A.Attribute("binding:host_id", allow_put=True, default="", validator=A.string_validator(255)),
        A.Attribute(
            "port_security_enabled",
            allow_put=True,
            default=UNSET,
            converter=convert_unless_unset(A.convert_to_boolean),
        ),
        A.Attribute("status", allow_post=False, default=None),
        A.Attribute(schema.TUNNEL_KEY, allow_post=False, default=None, is_visible=False),
    ],
)


class PortResource(StoredResource):
    """`/v2.0/ports`: MACs unique per network, fixed IPs allocated from the network's subnets."""

    resource = schema.PORT
    # neutron-lib's is_sort_key attributes
    sort_keys = frozenset(
        {
            "admin_state_up",
            "device_id",
            "device_owner",
            "id",
            "mac_address",
            "name",
            "network_id",
            "project_id",
            "status",
            "tenant_id",
        }
    )
    native_pagination = True
    collection = "ports"
    attributes = PORT_ATTRIBUTES
    not_found = PortNotFound
    default_quota = PORT_QUOTA
    attribute_schemas: Mapping[str, JsonDict] = {
        "mac_address": {"type": "string", "description": "default: generated, fa:16:3e:xx:xx:xx"},
        "fixed_ips": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"subnet_id": {"type": "string"}, "ip_address": {"type": "string"}},
            },
            "description": "default: one address from the first IPv4 and the first IPv6 subnet",
        },
        "port_security_enabled": {"type": "boolean", "description": "default: the network's"},
        "status": {"type": "string"},
    }

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        net = self._network(ctx, snap, obj["network_id"])
        macs = snap.index(PORT_USAGE).macs_of(net["id"])
        if obj["mac_address"] is UNSET:
            obj["mac_address"] = ipam.generate_mac(macs, net["id"])
        elif obj["mac_address"] in macs:
            raise MacAddressInUse(net_id=net["id"], mac=obj["mac_address"])
        requested = None if obj["fixed_ips"] is UNSET else obj["fixed_ips"]
        obj["fixed_ips"] = self._addressing(snap, net, None).allocate(requested)
        if obj["port_security_enabled"] is UNSET:
            obj["port_security_enabled"] = bool(net.get("port_security_enabled", True))
        obj["status"] = "DOWN"
        obj[schema.TUNNEL_KEY] = _free_port_key(snap, net["id"])
        return obj, []

    def _network(self, ctx: Context, snap: Snapshot, net_id: str) -> JsonDict:
        net = snap.find(schema.NETWORK, net_id)
        if net is None or not (ctx.can_see(owner(net)) or net.get("shared")):
            raise NetworkNotFound(id=net_id)
        return net

    def _addressing(self, snap: Snapshot, net: JsonDict, port_id: str | None) -> ipam.NetworkAddressing:
        all_subnets = snap.of(schema.SUBNET)
        subnets = [all_subnets[s] for s in net.get("subnets", []) if s in all_subnets]
        skip = snap.find(schema.PORT, port_id) if port_id is not None else None
        used = snap.index(PORT_USAGE).used([s["id"] for s in subnets], skip=skip)
        return ipam.NetworkAddressing(net["id"], subnets, all_subnets, used)

    def plan_update(
        self, ctx: Context, snap: Snapshot, current: JsonDict, changes: JsonDict
    ) -> tuple[JsonDict, list[Operation]]:
        if "fixed_ips" in changes:
            net = snap.find(schema.NETWORK, current["network_id"]) or {"id": current["network_id"]}
            requested = _keep_current_addresses(changes["fixed_ips"], current["fixed_ips"])
            changes["fixed_ips"] = self._addressing(snap, net, current["id"]).allocate(requested)
        return merged(current, changes), []

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        # upstream's foreign keys refuse this too (with a 500); refusing keeps chains from pointing at nothing
        users = sfc_users_of_port(snap, current["id"])
        if users:
            kind, id = users[0]
            raise PortInUse(port_id=current["id"], user=f"{kind.replace('_', ' ')} {id}")
        return []

    def list(self, ctx: Context, filters: Mapping[str, builtins.list[str]]) -> builtins.list[JsonDict]:
        """Also Neutron's `fixed_ips=ip_address=X` / `fixed_ips=subnet_id=Y` filters."""
        wanted = _fixed_ip_filter(filters.get("fixed_ips", []))
        plain = {k: v for k, v in filters.items() if k != "fixed_ips"}
        ports = super().list(ctx, plain)
        if not any(wanted.values()):
            return ports
        return [p for p in ports if any(_fip_matches(f, wanted) for f in p.get("fixed_ips", []))]


def _keep_current_addresses(requested: list[JsonDict], current: list[JsonDict]) -> list[JsonDict]:
    """On update, `{"subnet_id": S}` keeps the address the port already has on S (as Neutron does)."""
    explicit = {f.get("ip_address") for f in requested}
    spare = [f for f in current if f["ip_address"] not in explicit]
    out = []
    for fip in requested:
        keep = None
        if "ip_address" not in fip and "subnet_id" in fip:
            keep = next((f for f in spare if f["subnet_id"] == fip["subnet_id"]), None)
        if keep is not None:
            spare.remove(keep)
            out.append(dict(keep))
        else:
            out.append(fip)
    return out


def _fixed_ip_filter(raw: builtins.list[str]) -> dict[str, set[str]]:
    wanted: dict[str, set[str]] = {"ip_address": set(), "subnet_id": set()}
    for item in raw:
        key, sep, value = item.partition("=")
        if sep and key in wanted:
            wanted[key].add(value)
    return wanted


def _fip_matches(fip: Mapping[str, Any], wanted: Mapping[str, set[str]]) -> bool:
    return all(not values or fip.get(key) in values for key, values in wanted.items())


def _free_port_key(snap: Snapshot, net_id: str) -> int:
    """The lowest port key free in the network, allocated once and never changed."""
    key = lowest_free(snap.index(PORT_USAGE).keys_of(net_id), 1, MAX_PORT_KEY)
    if key is None:
        raise PortKeyExhausted(net_id=net_id, limit=MAX_PORT_KEY)
    return key
