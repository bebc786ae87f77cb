"""Port pairs and port pair groups: the service functions and their load-balanced groups (rules 15-23)."""

from __future__ import annotations

from collections.abc import Sequence

from steerflow.api import sfc_errors as err
from steerflow.api.base import StoredResource, lowest_free, require_visible, visible_objects
from steerflow.api.context import Context
from steerflow.api.sfc_attributes import MAX_PAIR_KEY, PORT_PAIR, PORT_PAIR_GROUP
from steerflow.api.sfc_refs import chain_using_group, group_holding_port_pair
from steerflow.model import schema
from steerflow.model.sfc import PortPair
from steerflow.nbdb.api import Delete, JsonDict, Operation
from steerflow.nbdb.txn import Snapshot

SFC_PREFIX = "/sfc"


class PortPairs(StoredResource):
    """`/sfc/port_pairs`: a function's ingress and egress ports (both on one device)."""

    resource = schema.PORT_PAIR
    collection = "port_pairs"
    path_prefix = SFC_PREFIX
    attributes = PORT_PAIR
    not_found = err.PortPairNotFound
    default_quota = 100

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        self._check_unique(ctx, snap, obj)
        ingress = require_visible(ctx, snap, schema.PORT, obj["ingress"], err.PortPairPortNotFound)
        egress = require_visible(ctx, snap, schema.PORT, obj["egress"], err.PortPairPortNotFound)
        _check_same_device(ingress, egress)
        obj[schema.PAIR_KEY] = _free_pair_key(snap)
        return obj, []

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        if group_holding_port_pair(snap, current["id"]) is not None:
            raise err.PortPairInUse(id=current["id"])
        # its agent's health report goes with it (docs/health.md): the NB does not keep the dead's
        if snap.find(schema.FUNCTION_HEALTH, current["id"]) is not None:
            return [Delete(schema.FUNCTION_HEALTH, current["id"])]
        return []

    @staticmethod
    def _check_unique(ctx: Context, snap: Snapshot, obj: JsonDict) -> None:
        for other in visible_objects(ctx, snap, schema.PORT_PAIR).values():
            if (other["ingress"], other["egress"]) == (obj["ingress"], obj["egress"]):
                raise err.PortPairIngressEgressInUse(
                    ingress=obj["ingress"], egress=obj["egress"], id=other["id"]
                )


def _check_same_device(ingress: JsonDict, egress: JsonDict) -> None:
    """Both ports must belong to one device (upstream's "host" is the port's device_id)."""
    if not ingress.get("device_id"):
        raise err.PortPairIngressNoHost(ingress=ingress["id"])
    if not egress.get("device_id"):
        raise err.PortPairEgressNoHost(egress=egress["id"])
    if ingress["device_id"] != egress["device_id"]:
        raise err.PortPairIngressEgressDifferentHost(ingress=ingress["id"], egress=egress["id"])


class PortPairGroups(StoredResource):
    """`/sfc/port_pair_groups`: instances of one function; `group_id` is allocated globally."""

    resource = schema.PORT_PAIR_GROUP
    collection = "port_pair_groups"
    path_prefix = SFC_PREFIX
    attributes = PORT_PAIR_GROUP
    not_found = err.PortPairGroupNotFound
    default_quota = 10

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        self._check_members(ctx, snap, obj["port_pairs"], obj["id"])
        _check_tap(obj["tap_enabled"], obj["port_pairs"])
        used = {int(g.get("group_id") or 0) for g in snap.of(self.resource).values()}
        obj["group_id"] = lowest_free(used, 1, None)
        return obj, []

    def plan_update(
        self, ctx: Context, snap: Snapshot, current: JsonDict, changes: JsonDict
    ) -> tuple[JsonDict, list[Operation]]:
        if "port_pairs" in changes:
            self._check_members(ctx, snap, changes["port_pairs"], current["id"])
            _check_tap(current["tap_enabled"], changes["port_pairs"])
        return {**current, **changes}, []

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        if chain_using_group(snap, current["id"]) is not None:
            raise err.PortPairGroupInUse(id=current["id"])
        return []

    @staticmethod
    def _check_members(ctx: Context, snap: Snapshot, pp_ids: Sequence[str], ppg_id: str) -> None:
        """Rules 19-21: members exist, share one correlation and belong to no other group."""
        pairs = [
            PortPair.from_dict(require_visible(ctx, snap, schema.PORT_PAIR, i, err.PortPairNotFound))
            for i in pp_ids
        ]
        for pp in pairs:
            if pp.correlation != pairs[0].correlation:
                raise err.InconsistentCorrelations()
            holder = group_holding_port_pair(snap, pp.id)
            if holder is not None and holder != ppg_id:
                raise err.PortPairInUse(id=pp.id)


def _check_tap(tap_enabled: bool, pp_ids: Sequence[str]) -> None:
    if tap_enabled and len(pp_ids) > 1:
        raise err.MultiplePortPairsInTapPPGNotSupported()


def _free_pair_key(snap: Snapshot) -> int:
    """The lowest pair key no port pair holds (global: it addresses the instance on every chassis)."""
    used = {int(pp[schema.PAIR_KEY]) for pp in snap.of(schema.PORT_PAIR).values() if pp.get(schema.PAIR_KEY)}
    key = lowest_free(used, 1, MAX_PAIR_KEY)
    if key is None:
        raise err.PortPairUnavailableKey(limit=MAX_PAIR_KEY)
    return key
