"""Neutron's objects written into steerflow's NB through steerflow's own API handlers, with Neutron's ids.

Every write goes through the handler steerflow's REST API uses (`steerflow.api`), so the NB holds exactly
what that API would have stored: converted attributes, allocated VNIs, port keys, chain labels, and
Neutron's `chain_id` as the requested one. Neutron-only attributes (security groups, bindings' vif
details, provider segments...) are dropped: the handler's attribute map says what steerflow keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from steerflow.api.base import StoredResource
from steerflow.api.context import Context
from steerflow.api.core_network import NetworkResource
from steerflow.api.core_port import PortResource
from steerflow.api.core_subnet import SubnetResource
from steerflow.api.errors import NeutronError
from steerflow.api.sfc import SFC_HANDLER_CLASSES
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore

# In dependency order: an object only references kinds before it. Creates go this way, deletes back.
MIRRORED_KINDS: Final = (
    schema.NETWORK,
    schema.SUBNET,
    schema.PORT,
    schema.PORT_PAIR,
    schema.PORT_PAIR_GROUP,
    schema.FLOW_CLASSIFIER,
    schema.PORT_CHAIN,
    schema.SERVICE_GRAPH,
)
_SET_AT_CREATE: Final = frozenset({"id", "tenant_id", "project_id"})  # never compared: Neutron's own
# Written when the object is created, not followed afterwards: Neutron allocates every address itself
# (the mirror passes each port's fixed IPs), so the NB's pools never decide anything, and steerflow's API
# cannot change them without replacing a subnet its ports use.
_NOT_FOLLOWED: Final = {schema.SUBNET: frozenset({"allocation_pools"})}


@dataclass(frozen=True)
class Difference:
    """How a stored NB object differs from Neutron's: attributes an update can change, and ones only a
    new object can (`fixed`: the object must be replaced)."""

    changes: JsonDict = field(default_factory=dict)
    fixed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes or self.fixed)


class Mirror:
    """Writes Neutron's view of one object into the NB, as an admin of steerflow's API."""

    def __init__(self, store: NorthboundStore) -> None:
        self.store = store
        self.ctx = Context.admin()
        handlers: list[StoredResource] = [NetworkResource(store), SubnetResource(store), PortResource(store)]
        handlers += [cls(store) for cls in SFC_HANDLER_CLASSES]
        # quotas are Neutron's business: the mirror never refuses what Neutron accepted for lack of room
        for handler in handlers:
            handler.quota = -1
        self.handlers = {h.resource: h for h in handlers if h.resource in MIRRORED_KINDS}

    def body(self, kind: str, source: Mapping[str, Any]) -> JsonDict:
        """The POST body steerflow's API would take for Neutron's object: the attributes it knows."""
        attrs = self.handlers[kind].attributes.attributes
        return {k: v for k, v in source.items() if k in attrs and attrs[k].allow_post and k != "id"}

    def difference(self, kind: str, source: Mapping[str, Any], stored: Mapping[str, Any]) -> Difference:
        """What Neutron's `source` changes in the `stored` NB object (converted as the API would)."""
        attrs = self.handlers[kind].attributes.attributes
        changes: JsonDict = {}
        fixed: list[str] = []
        skip = _SET_AT_CREATE | _NOT_FOLLOWED.get(kind, frozenset())
        for key, value in self.body(kind, source).items():
            if key in skip:
                continue
            converted = attrs[key].convert(value)
            if converted == stored.get(key):
                continue
            if attrs[key].allow_put:
                changes[key] = value
            else:
                fixed.append(key)
        return Difference(changes, tuple(fixed))

    def stored(self, kind: str, id: str) -> JsonDict | None:
        rec = self.store.get(kind, id)
        return None if rec is None else rec.value

    def put(self, kind: str, source: Mapping[str, Any]) -> str | None:
        """Make the NB object match Neutron's `source`: "created", "updated", "replaced" or None (equal).

        Raises the handler's `NeutronError` when steerflow refuses it, `StoreError` when the NB is away.
        """
        id = str(source["id"])
        handler = self.handlers[kind]
        current = self.stored(kind, id)
        if current is None:
            handler.create(self.ctx, self.body(kind, source), id=id)
            return "created"
        diff = self.difference(kind, source, current)
        if diff.fixed:
            handler.delete(self.ctx, id)
            handler.create(self.ctx, self.body(kind, source), id=id)
            return "replaced"
        if diff.changes:
            handler.update(self.ctx, id, diff.changes)
            return "updated"
        return None

    def remove(self, kind: str, id: str) -> bool:
        """Delete the NB object if it is there; True when something was deleted."""
        if self.stored(kind, id) is None:
            return False
        self.handlers[kind].delete(self.ctx, id)
        return True

    def check(self, kind: str, source: Mapping[str, Any]) -> None:
        """Raise the handler's `NeutronError` if steerflow would refuse to mirror `source`; write nothing."""
        id = str(source["id"])
        handler = self.handlers[kind]
        current = self.stored(kind, id)
        if current is None:
            handler.check_create(self.ctx, self.body(kind, source), id)
            return
        diff = self.difference(kind, source, current)
        if diff.changes and not diff.fixed:
            handler.check_update(self.ctx, id, diff.changes)


def refuses(exc: NeutronError) -> bool:
    """Whether steerflow refused the request itself (bad input it cannot steer: a 400), rather than the
    NB lacking something Neutron has (404, 409: a divergence `steerflow-neutron resync` mends)."""
    return exc.status == 400
