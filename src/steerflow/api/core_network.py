"""Neutron networks: L2 segments, visible to their project or to everyone when shared."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from steerflow.api import attributes as A  # noqa: N812
from steerflow.api.base import StoredResource, lowest_free, merged
from steerflow.api.context import Context
from steerflow.api.core_errors import InvalidSharedSetting, NetworkInUse, NetworkNotFound, NoNetworkAvailable
from steerflow.api.errors import PolicyNotAuthorized
from steerflow.model import schema
from steerflow.nbdb.api import Delete, JsonDict, Operation
from steerflow.nbdb.txn import Snapshot

# Geneve between chassis: 1500 minus the outer IPv4 + UDP + Geneve headers (Neutron's ML2/OVN value).
DEFAULT_MTU: Final = 1442
NETWORK_QUOTA: Final = 100


class _Unset:
    """Default marker of attributes whose default depends on other objects (filled in by the plan)."""

    def __repr__(self) -> str:
        return "UNSET"

    # one marker: plans compare with `is`, and the service layer deep-copies request values
    def __copy__(self) -> _Unset:
        return self

    def __deepcopy__(self, memo: object) -> _Unset:
        return self


UNSET: Final = _Unset()


def validate_unless_unset(check: A.Validator) -> A.Validator:
    """A validator that accepts the UNSET marker."""
    return lambda value: None if value is UNSET else check(value)


def convert_unless_unset(conv: A.Converter) -> A.Converter:
    """A converter that keeps the UNSET marker as it is."""
    return lambda value: value if value is UNSET else conv(value)


def owner(obj: Mapping[str, Any]) -> str:
    return str(obj.get("project_id", obj.get("tenant_id", "")))


def require_owner(ctx: Context, obj: Mapping[str, Any], action: str) -> None:
    """Writes need the owner (or admin): a shared object is visible to all but not theirs to change."""
    if not ctx.can_see(owner(obj)):
        raise PolicyNotAuthorized(action=action)


NETWORK_ATTRIBUTES = A.AttributeMap(
    schema.NETWORK,
    [
        A.id_attribute(),
        A.name_attribute(),
        A.description_attribute(),
        *A.project_attributes(),
        A.Attribute("admin_state_up", allow_put=True, default=True, converter=A.convert_to_boolean),
        A.Attribute("shared", allow_put=True, default=False, converter=A.convert_to_boolean),
        A.Attribute("status", allow_post=False, default=None),
        A.Attribute(
            "mtu",
            allow_put=True,
            default=DEFAULT_MTU,
            converter=A.convert_to_int,
            validator=A.range_validator(68, 65535),
        ),
        A.Attribute("port_security_enabled", allow_put=True, default=True, converter=A.convert_to_boolean),
        A.Attribute("subnets", allow_post=False, default=None, filter_converter=A.identity),
        A.Attribute("provider:network_type", allow_post=False, default=None),
        A.Attribute(
            schema.SEGMENTATION_ID, allow_post=False, default=None, filter_converter=A.convert_to_int
        ),
    ],
)

NETWORK_TYPE = "geneve"
MAX_VNI = (1 << 23) - 1  # VNIs from 2**23 address function instances (SFC delivery)


class NetworkResource(StoredResource):
    """`/v2.0/networks`: a network owns its subnets; it cannot go while it has ports."""

    resource = schema.NETWORK
    # neutron-lib's is_sort_key attributes
    sort_keys = frozenset(
        {
            "admin_state_up",
            "id",
            "mtu",
            "name",
            "project_id",
            "status",
            "tenant_id",
        }
    )
    native_pagination = True
    collection = "networks"
    attributes = NETWORK_ATTRIBUTES
    not_found = NetworkNotFound
    default_quota = NETWORK_QUOTA
    attribute_schemas: Mapping[str, JsonDict] = {
        "status": {"type": "string", "enum": ["ACTIVE"]},
        "subnets": {"type": "array", "items": {"type": "string", "format": "uuid"}},
    }

    def can_see(self, ctx: Context, obj: Mapping[str, Any]) -> bool:
        return ctx.can_see(owner(obj)) or bool(obj.get("shared"))

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        obj["status"] = "ACTIVE"
        obj["subnets"] = []
        obj["provider:network_type"] = NETWORK_TYPE
        obj[schema.SEGMENTATION_ID] = self._free_vni(snap)
        return obj, []

    @staticmethod
    def _free_vni(snap: Snapshot) -> int:
        """The lowest free Geneve VNI: the network's key in every chassis' pipeline, stable for life."""
        used = {
            int(n[schema.SEGMENTATION_ID])
            for n in snap.of(schema.NETWORK).values()
            if n.get(schema.SEGMENTATION_ID)
        }
        vni = lowest_free(used, 1, MAX_VNI)
        if vni is None:
            raise NoNetworkAvailable()
        return vni

    def plan_update(
        self, ctx: Context, snap: Snapshot, current: JsonDict, changes: JsonDict
    ) -> tuple[JsonDict, list[Operation]]:
        require_owner(ctx, current, "update_network")
        if current.get("shared") and changes.get("shared") is False:
            self._check_unshare(snap, current)
        return merged(current, changes), []

    def _check_unshare(self, snap: Snapshot, net: JsonDict) -> None:
        for port in snap.of(schema.PORT).values():
            if port.get("network_id") == net["id"] and owner(port) != owner(net):
                raise InvalidSharedSetting(network=net.get("name") or net["id"])

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        require_owner(ctx, current, "delete_network")
        ports = sorted(i for i, p in snap.of(schema.PORT).items() if p.get("network_id") == current["id"])
        if ports:
            raise NetworkInUse(net_id=current["id"], ports=",".join(ports))
        # Neutron deletes the subnets of a network that has no ports along with it
        return [
            Delete(schema.SUBNET, i)
            for i, s in snap.of(schema.SUBNET).items()
            if s.get("network_id") == current["id"]
        ]
