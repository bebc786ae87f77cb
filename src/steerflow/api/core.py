"""The Neutron core resource handlers (networks, subnets, ports) and the read-only chassis collection."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from steerflow.api import attributes as A  # noqa: N812
from steerflow.api.base import StoredResource
from steerflow.api.context import Context
from steerflow.api.core_errors import ChassisNotFound, ReadOnlyResource
from steerflow.api.core_network import NetworkResource
from steerflow.api.core_port import PortResource
from steerflow.api.core_subnet import SubnetResource
from steerflow.api.resource import ResourceHandler
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore
from steerflow.nbdb.status import APPLIED_ATTR, INSTALLED_ATTR, reported_revisions

CHASSIS_ATTRIBUTES = A.AttributeMap(
    schema.CHASSIS,
    [
        A.Attribute("id", allow_post=False, default=None),
        A.Attribute("name", allow_post=False, default=None),
        A.Attribute("underlay_ip", allow_post=False, default=None),
        A.Attribute("encapsulations", allow_post=False, default=None, filter_converter=A.identity),
        A.Attribute(APPLIED_ATTR, allow_post=False, default=None, converter=A.convert_to_int),
        A.Attribute(INSTALLED_ATTR, allow_post=False, default=None, converter=A.convert_to_int),
    ],
)


class ChassisResource(StoredResource):
    """`/v2.0/steerflow/chassis` (admin only): the hypervisors the agents registered, read-only."""

    resource = schema.CHASSIS
    collection = schema.CHASSIS
    path_prefix = "/steerflow"
    attributes = CHASSIS_ATTRIBUTES
    not_found = ChassisNotFound
    sort_keys = frozenset({"id", "name"})
    native_pagination = True
    read_only = True  # routed for GET alone: other methods are 405 with `Allow: GET`
    attribute_schemas: Mapping[str, JsonDict] = {
        "id": {"type": "string", "description": "the chassis name (read-only)"},
        "name": {"type": "string", "description": "host name ports are bound to (read-only)"},
        "underlay_ip": {"type": "string", "description": "tunnel endpoint address (read-only)"},
        "encapsulations": {"type": "array", "items": {"type": "string"}, "description": "(read-only)"},
        APPLIED_ATTR: {
            "type": "integer",
            "description": "every NB change up to this revision is in force on the chassis (read-only)",
        },
        INSTALLED_ATTR: {
            "type": "integer",
            "description": "NB revision its switch holds, changes not in force yet included (read-only)",
        },
    }

    def can_see(self, ctx: Context, obj: Mapping[str, Any]) -> bool:
        return ctx.is_admin  # chassis belong to the operator, like Neutron's agents

    def get(self, ctx: Context, id: str) -> JsonDict:
        chassis = super().get(ctx, id)
        report = self.store.get(schema.CHASSIS_STATUS, id)
        return _with_report(chassis, report.value if report is not None else None)

    def list(self, ctx: Context, filters: Mapping[str, builtins.list[str]]) -> builtins.list[JsonDict]:
        reports = {r.id: r.value for r in self.store.list(schema.CHASSIS_STATUS)}
        return [_with_report(c, reports.get(c["id"])) for c in super().list(ctx, filters)]

    def _refuse(self) -> NoReturn:
        raise ReadOnlyResource(collection=schema.CHASSIS)

    def create(self, ctx: Context, body: JsonDict) -> JsonDict:
        self._refuse()

    def create_bulk(self, ctx: Context, bodies: Sequence[JsonDict]) -> builtins.list[JsonDict]:
        self._refuse()

    def update(self, ctx: Context, id: str, body: JsonDict) -> JsonDict:
        self._refuse()

    def delete(self, ctx: Context, id: str) -> None:
        self._refuse()


def core_handlers(store: NorthboundStore) -> list[ResourceHandler]:
    """Handlers of the Neutron core collections chains need, plus the chassis view."""
    return [NetworkResource(store), SubnetResource(store), PortResource(store), ChassisResource(store)]


def _with_report(chassis: JsonDict, report: Mapping[str, Any] | None) -> JsonDict:
    """The chassis with its agent's latest report (`chassis_status`): what it holds and has in force
    (0 and 0 before its first report)."""
    chassis[APPLIED_ATTR], chassis[INSTALLED_ATTR] = reported_revisions(report or {})
    return chassis
