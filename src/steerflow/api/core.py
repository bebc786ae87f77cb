"""The Neutron core resource handlers (networks, subnets, ports) and the chassis collection (read, delete)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from steerflow.api import attributes as A  # noqa: N812
from steerflow.api.base import StoredResource, matches_filters
from steerflow.api.context import Context
from steerflow.api.core_errors import ChassisNotFound, ReadOnlyResource
from steerflow.api.core_network import NetworkResource
from steerflow.api.core_port import PortResource
from steerflow.api.core_subnet import SubnetResource
from steerflow.api.resource import ResourceHandler
from steerflow.model import schema
from steerflow.nbdb.api import Delete, JsonDict, NorthboundStore, Operation, Put
from steerflow.nbdb.counters import forget_counters
from steerflow.nbdb.status import (
    APPLIED_ATTR,
    INSTALLED_ATTR,
    down_after_seconds,
    liveness,
    reported_revisions,
)
from steerflow.nbdb.txn import Snapshot

ALIVE = "alive"  # heard from within the down-after time (`nbdb.status.liveness`)
LAST_SEEN = "last_seen"  # UTC time of its agent's last heartbeat or report, None if never
HEARTBEAT_AGE = "heartbeat_age"  # seconds since then, None if never

CHASSIS_ATTRIBUTES = A.AttributeMap(
    schema.CHASSIS,
    [
        A.Attribute("id", allow_post=False, default=None),
        A.Attribute("name", allow_post=False, default=None),
        A.Attribute("underlay_ip", allow_post=False, default=None),
        A.Attribute("encapsulations", allow_post=False, default=None, filter_converter=A.identity),
        A.Attribute(APPLIED_ATTR, allow_post=False, default=None, converter=A.convert_to_int),
        A.Attribute(INSTALLED_ATTR, allow_post=False, default=None, converter=A.convert_to_int),
        A.Attribute(ALIVE, allow_post=False, default=None, filter_converter=A.convert_to_boolean),
        A.Attribute(LAST_SEEN, allow_post=False, default=None),
        A.Attribute(HEARTBEAT_AGE, allow_post=False, default=None, filter_converter=A.identity),
    ],
)
# computed from the agent's report at each request, so filtered after it is merged in
REPORTED = frozenset({APPLIED_ATTR, INSTALLED_ATTR, ALIVE, LAST_SEEN, HEARTBEAT_AGE})


class ChassisResource(StoredResource):
    """`/v2.0/steerflow/chassis` (admin only): the hypervisors the agents registered, with their liveness.

    Read-only but for DELETE, which forgets a dead chassis: its document, its status report and its port
    bindings (the ports go DOWN; other chassis stop tunnelling to it). A live agent registers again.
    """

    resource = schema.CHASSIS
    collection = schema.CHASSIS
    path_prefix = "/steerflow"
    attributes = CHASSIS_ATTRIBUTES
    not_found = ChassisNotFound
    sort_keys = frozenset({"id", "name"})
    native_pagination = True
    read_only = True  # no POST or PUT: those are 405 with `Allow: GET, DELETE`
    deletable = True
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
        ALIVE: {
            "type": "boolean",
            "description": "its agent was heard from within the down-after time (`steerflow api "
            "--chassis-down-after`, default 10 s); waits skip a chassis that is not",
        },
        LAST_SEEN: {
            "type": ["string", "null"],
            "description": "UTC time of its agent's last heartbeat or report, ISO 8601; null if never",
        },
        HEARTBEAT_AGE: {
            "type": ["number", "null"],
            "description": "seconds since its agent's last heartbeat or report; null if never",
        },
    }

    def can_see(self, ctx: Context, obj: Mapping[str, Any]) -> bool:
        return ctx.is_admin  # chassis belong to the operator, like Neutron's agents

    def get(self, ctx: Context, id: str) -> JsonDict:
        chassis = super().get(ctx, id)
        report = self.store.get(schema.CHASSIS_STATUS, id)
        beat = self.store.beats().get(id)
        return _with_report(chassis, report.value if report is not None else None, beat, *_clock())

    def list(self, ctx: Context, filters: Mapping[str, builtins.list[str]]) -> builtins.list[JsonDict]:
        stored = {k: v for k, v in filters.items() if k not in REPORTED}
        reported = self._converted_filters({k: v for k, v in filters.items() if k in REPORTED})
        reports = {r.id: r.value for r in self.store.list(schema.CHASSIS_STATUS)}
        beats = self.store.beats()
        now, down_after = _clock()
        rows = [
            _with_report(c, reports.get(c["id"]), beats.get(c["id"]), now, down_after)
            for c in super().list(ctx, stored)
        ]
        return [row for row in rows if matches_filters(row, reported)]

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> builtins.list[Operation]:
        """With the chassis go its report and its port bindings (committed in the same revision)."""
        return unbind_chassis(snap, str(current["id"]))

    def delete(self, ctx: Context, id: str) -> None:
        super().delete(ctx, id)
        forget_counters(self.store, id)  # a side entry: after the commit, which no counter may hold up

    def _refuse(self) -> NoReturn:
        raise ReadOnlyResource(collection=schema.CHASSIS)

    def create(self, ctx: Context, body: JsonDict, id: str | None = None) -> JsonDict:
        self._refuse()

    def create_bulk(self, ctx: Context, bodies: Sequence[JsonDict]) -> builtins.list[JsonDict]:
        self._refuse()

    def update(self, ctx: Context, id: str, body: JsonDict) -> JsonDict:
        self._refuse()


def unbind_chassis(snap: Snapshot, chassis: str) -> builtins.list[Operation]:
    """Forget what chassis `chassis` reported: its status, its counters document (an older agent's) and
    its port bindings (those ports go DOWN, as its agent marks a port it unbinds)."""
    ops: builtins.list[Operation] = [
        Delete(kind, chassis)
        for kind in (schema.CHASSIS_STATUS, schema.CHASSIS_COUNTERS)
        if snap.find(kind, chassis) is not None
    ]
    for port_id, binding in sorted(snap.of(schema.PORT_BINDING).items()):
        if binding.get(schema.CHASSIS) != chassis:
            continue
        ops.append(Delete(schema.PORT_BINDING, port_id))
        port = snap.find(schema.PORT, port_id)
        if port is not None and port.get("status") != "DOWN":
            ops.append(Put(schema.PORT, port_id, {**port, "status": "DOWN"}))
    return ops


def core_handlers(store: NorthboundStore) -> list[ResourceHandler]:
    """Handlers of the Neutron core collections chains need, plus the chassis view."""
    return [NetworkResource(store), SubnetResource(store), PortResource(store), ChassisResource(store)]


def _clock() -> tuple[float, float]:
    """Now (this machine's wall clock, which agents' heartbeats are compared with) and the down-after."""
    return time.time(), down_after_seconds()


def _with_report(
    chassis: JsonDict, report: Mapping[str, Any] | None, beat: float | None, now: float, down_after: float
) -> JsonDict:
    """The chassis with its agent's latest report (`chassis_status`): what it holds and has in force
    (0 and 0 before its first report), and whether it is alive at `now` (its last `beat` or report)."""
    chassis[APPLIED_ATTR], chassis[INSTALLED_ATTR] = reported_revisions(report or {})
    life = liveness(report, now, down_after, beat)
    chassis[ALIVE] = life.alive
    seen = life.last_seen
    chassis[LAST_SEEN] = (
        None if seen is None else datetime.fromtimestamp(seen, UTC).isoformat(timespec="seconds")
    )
    chassis[HEARTBEAT_AGE] = None if life.age is None else round(life.age, 1)
    return chassis
