"""Stored resources: the generic CRUD handler over the NB store that each API resource specialises.

`StoredResource` implements the `ResourceHandler` protocol. Reads are project-scoped (another project's
object is a 404, as Neutron hides it); writes run inside `transact`, so a subclass's rules are checked on
the very snapshot that gets committed and a rejected request writes nothing. Subclasses provide the
attribute map, the NotFound class and the `plan_*` hooks, which validate and return the extra operations.
"""

from __future__ import annotations

import builtins
import copy
import uuid
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any, TypeVar

from steerflow.api.attributes import AttributeMap
from steerflow.api.concerns import concerned_chassis
from steerflow.api.context import Context
from steerflow.api.errors import NeutronError, NotFound, OverQuota, ServiceUnavailable
from steerflow.nbdb import txn
from steerflow.nbdb.api import Delete, JsonDict, NorthboundStore, Operation, Put, StoreBusy
from steerflow.nbdb.concerns import concern_put
from steerflow.nbdb.status import STATUS_KINDS
from steerflow.nbdb.txn import Plan, Snapshot

UNLIMITED = -1
T = TypeVar("T")


def transact(
    store: NorthboundStore, plan: Callable[[Snapshot], Plan[T]], *, unread: frozenset[str] = frozenset()
) -> T:
    """`nbdb.txn.transact`, with a store too busy to commit reported as Neutron's 503; every commit
    names the chassis it concerns (`api.concerns`), in the same revision."""

    def named(snap: Snapshot) -> Plan[T]:
        ops, result = plan(snap)
        if not ops:
            return ops, result
        return [*ops, concern_put(concerned_chassis(snap, ops))], result

    try:
        return txn.transact(store, named, unread=unread)
    except StoreBusy as exc:
        raise ServiceUnavailable(reason="the northbound store is too busy; retry") from exc


def new_id() -> str:
    return str(uuid.uuid4())


def can_see(ctx: Context, obj: Mapping[str, Any]) -> bool:
    """Admin sees everything, others only objects of their own project."""
    return ctx.can_see(str(obj.get("project_id", obj.get("tenant_id", ""))))


def visible_object(ctx: Context, snap: Snapshot, kind: str, id: Any) -> JsonDict | None:
    """The object `id` of `kind` in `snap` if it exists and the caller may see it, else None."""
    if not isinstance(id, str):
        return None
    obj = snap.find(kind, id)
    return obj if obj is not None and can_see(ctx, obj) else None


def require_visible(
    ctx: Context, snap: Snapshot, kind: str, id: Any, not_found: type[NeutronError]
) -> JsonDict:
    """The object `id` of `kind` the caller may see, else `not_found(id=id)` (a 404)."""
    obj = visible_object(ctx, snap, kind, id)
    if obj is None:
        raise not_found(id=id)
    return obj


def visible_objects(ctx: Context, snap: Snapshot, kind: str) -> dict[str, JsonDict]:
    """Every object of `kind` in `snap` the caller may see, by id."""
    if ctx.is_admin:
        return dict(snap.of(kind))  # a copy at C speed: writes scan whole kinds of a big NB
    return {i: o for i, o in snap.of(kind).items() if can_see(ctx, o)}


def applied(snap: Snapshot, ops: Sequence[Operation]) -> Snapshot:
    """`snap` as it will read once `ops` are committed (same revision: nothing is written yet)."""
    objects = dict(snap.objects)
    for kind in {op.kind for op in ops}:
        objects[kind] = dict(objects.get(kind, {}))  # copied only where written: `snap` stays as it was
    for op in ops:
        if isinstance(op, Put):
            objects[op.kind][op.id] = op.value
        else:
            objects[op.kind].pop(op.id, None)
    return snap.followed_by(snap.revision, objects, {(op.kind, op.id) for op in ops})


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> JsonDict:
    """`current` with `changes` applied (a PUT replaces whole values: lists and dicts included)."""
    return {**current, **changes}


def matches_filters(obj: Mapping[str, Any], filters: Mapping[str, builtins.list[Any]]) -> bool:
    """Equality filters: every key must match one of its values; a list attribute matches a member."""
    return all(_matches(obj.get(key), wanted) for key, wanted in filters.items())


def _matches(value: Any, wanted: builtins.list[Any]) -> bool:
    if value in wanted:
        return True
    return isinstance(value, list) and any(w in value for w in wanted)


class StoredResource:
    """Generic handler for one NB kind; subclasses set the class attributes and override the hooks."""

    resource: str  # singular name = NB kind
    collection: str
    path_prefix: str = ""
    attributes: AttributeMap
    not_found: type[NeutronError] = NotFound  # raised as not_found(id=...)
    default_quota: int = UNLIMITED  # objects per project; negative = unlimited
    # Neutron's list paging (`api/paging.py`): the attributes upstream marks `is_sort_key` (none for
    # networking-sfc), and whether pages are ordered by id (core plugin) or slices of the list (emulated)
    sort_keys: frozenset[str] = frozenset()
    native_pagination: bool = False
    ignores_unknown_marker: bool = False  # native paging: an unknown marker is the 404, else ignored

    def __init__(self, store: NorthboundStore, quota: int | None = None) -> None:
        self.store = store
        self.quota = self.default_quota if quota is None else quota

    # --- hooks --------------------------------------------------------------------------------------

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        """Validate the new object against `snap`; return the object to store and any extra ops.

        `obj` is a private copy holding the converted attributes, `id` and both project keys.
        """
        return obj, []

    def plan_update(
        self, ctx: Context, snap: Snapshot, current: JsonDict, changes: JsonDict
    ) -> tuple[JsonDict, list[Operation]]:
        """Validate the request's converted `changes` to `current`; return the new object and extra ops.

        Both are private copies. The default accepts the changes as they are (`merged(current, changes)`).
        """
        return merged(current, changes), []

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        """Refuse the delete (raise) or return extra ops to commit with it."""
        return []

    def can_see(self, ctx: Context, obj: Mapping[str, Any]) -> bool:
        return can_see(ctx, obj)

    # --- ResourceHandler ------------------------------------------------------------------------------

    def get(self, ctx: Context, id: str) -> JsonDict:
        rec = self.store.get(self.resource, id)
        if rec is None or not self.can_see(ctx, rec.value):
            raise self.not_found(id=id)
        return self.attributes.visible(rec.value)

    def list(self, ctx: Context, filters: Mapping[str, builtins.list[str]]) -> builtins.list[JsonDict]:
        wanted = self._converted_filters(filters)
        return [
            self.attributes.visible(rec.value)
            for rec in self.store.list(self.resource)
            if self.can_see(ctx, rec.value) and matches_filters(rec.value, wanted)
        ]

    def create(self, ctx: Context, body: JsonDict, id: str | None = None) -> JsonDict:
        """Create from a POST body; `id` is for a mirror whose source allocated it (steerflow-neutron)."""
        values = self._prepared_create(ctx, body, id)
        return transact(self.store, lambda snap: self._plan_create(ctx, snap, values))

    def check_create(self, ctx: Context, body: JsonDict, id: str) -> JsonDict:
        """What `create` would answer, validated on the NB as it is now, writing nothing (a precommit)."""
        return self._plan_create(ctx, txn.take_snapshot(self.store), self._prepared_create(ctx, body, id))[1]

    def check_update(self, ctx: Context, id: str, body: JsonDict) -> JsonDict:
        """What `update` would answer, validated on the NB as it is now, writing nothing (a precommit)."""
        changes = self.attributes.prepare_put(ctx, body)
        return self._plan_update(ctx, txn.take_snapshot(self.store), id, changes)[1]

    def create_bulk(self, ctx: Context, bodies: Sequence[JsonDict]) -> builtins.list[JsonDict]:
        """Neutron's bulk POST, atomic: each object is checked on a snapshot already holding the ones
        before it, and all are committed as one revision, or none is."""
        prepared = []
        for body in bodies:
            values = self.attributes.prepare_post(ctx, body)
            values["id"] = new_id()
            prepared.append(values)
        # a long plan: the agents' status writes meanwhile (which no create reads) do not make it re-plan
        return transact(self.store, lambda snap: self._plan_bulk(ctx, snap, prepared), unread=STATUS_KINDS)

    def update(self, ctx: Context, id: str, body: JsonDict) -> JsonDict:
        changes = self.attributes.prepare_put(ctx, body)
        return transact(self.store, lambda snap: self._plan_update(ctx, snap, id, changes))

    def delete(self, ctx: Context, id: str) -> None:
        transact(self.store, lambda snap: self._plan_delete(ctx, snap, id))

    # --- internals ----------------------------------------------------------------------------------

    def _prepared_create(self, ctx: Context, body: JsonDict, id: str | None) -> JsonDict:
        values = self.attributes.prepare_post(ctx, body)
        values["id"] = id or new_id()  # stable across transaction retries
        return values

    def _converted_filters(self, filters: Mapping[str, Sequence[str]]) -> dict[str, builtins.list[Any]]:
        out: dict[str, builtins.list[Any]] = {}
        for key, raw in filters.items():
            known = self.attributes.attributes.get(key)
            if known is not None and not known.is_visible:
                continue  # hidden attributes are not filters either: nobody probes them
            values = self.attributes.filter_values(key, raw)
            if values is not None:  # unknown filter keys are ignored, as Neutron does
                out[key] = values
        return out

    def _current(self, ctx: Context, snap: Snapshot, id: str) -> JsonDict:
        obj = snap.find(self.resource, id)
        if obj is None or not self.can_see(ctx, obj):
            raise self.not_found(id=id)
        return copy.deepcopy(obj)

    def _check_quota(self, snap: Snapshot, project_id: Any) -> None:
        if self.quota < 0:
            return
        used = sum(1 for o in snap.of(self.resource).values() if o.get("project_id") == project_id)
        if used >= self.quota:
            raise OverQuota(overs=[self.resource])

    def _plan_create(
        self, ctx: Context, snap: Snapshot, values: JsonDict
    ) -> tuple[builtins.list[Operation], JsonDict]:
        obj = copy.deepcopy(values)
        self._check_quota(snap, obj.get("project_id"))
        final, extra = self.plan_create(ctx, snap, obj)
        final = self.attributes.ordered(final)
        return [Put(self.resource, final["id"], final), *extra], self.attributes.visible(final)

    def _plan_bulk(
        self, ctx: Context, snap: Snapshot, prepared: Sequence[JsonDict]
    ) -> tuple[builtins.list[Operation], builtins.list[JsonDict]]:
        ops: builtins.list[Operation] = []
        created = []
        for values in prepared:
            step, obj = self._plan_create(ctx, snap, values)
            ops.extend(step)
            created.append(obj)
            snap = applied(snap, step)
        return ops, created

    def _plan_update(
        self, ctx: Context, snap: Snapshot, id: str, changes: JsonDict
    ) -> tuple[builtins.list[Operation], JsonDict]:
        current = self._current(ctx, snap, id)
        final, extra = self.plan_update(ctx, snap, copy.deepcopy(current), copy.deepcopy(changes))
        final = self.attributes.ordered(final)
        if final == current and not extra:
            return [], self.attributes.visible(final)  # nothing changed: no new revision
        return [Put(self.resource, id, final), *extra], self.attributes.visible(final)

    def _plan_delete(self, ctx: Context, snap: Snapshot, id: str) -> tuple[builtins.list[Operation], None]:
        current = self._current(ctx, snap, id)
        extra = self.plan_delete(ctx, snap, current)
        return [Delete(self.resource, id), *extra], None


def lowest_free(used: Container[int], first: int, last: int | None) -> int | None:
    """The smallest integer in [first, last] not in `used` (unbounded when `last` is None)."""
    candidate = first
    while candidate in used:
        candidate += 1
    return candidate if last is None or candidate <= last else None
