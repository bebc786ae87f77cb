"""Flow classifiers and port chains: what traffic is steered, and through which groups (rules 9-14, 24-31)."""

from __future__ import annotations

import builtins
import ipaddress
from collections.abc import Mapping, Sequence

from steerflow.api import sfc_errors as err
from steerflow.api.base import StoredResource, can_see, require_visible
from steerflow.api.context import Context
from steerflow.api.errors import InvalidInput
from steerflow.api.numbers import numbers_index
from steerflow.api.sfc_attributes import FLOW_CLASSIFIER, MAX_CHAIN_ID, PORT_CHAIN
from steerflow.api.sfc_classifications import referenced
from steerflow.api.sfc_conflicts import basic_conflict, conflict, overlap_text
from steerflow.api.sfc_index import (
    CHAIN_CLASSIFIERS,
    CHAIN_GROUP_LISTS,
    CLASSIFIER_BLOCKS,
    CLASSIFIER_FIELDS,
    classifier_candidates,
)
from steerflow.api.sfc_labels import assign_labels
from steerflow.api.sfc_pairs import SFC_PREFIX
from steerflow.api.sfc_refs import (
    graph_holding_chain,
    group_correlations,
)
from steerflow.model import schema
from steerflow.model.sfc import FlowClassifier
from steerflow.nbdb.api import JsonDict, Operation
from steerflow.nbdb.txn import Snapshot

_L4_PROTOCOLS = ("tcp", "udp")


class FlowClassifiers(StoredResource):
    """`/sfc/flow_classifiers`: L2-L4 matches; no two classifiers of a project may overlap."""

    resource = schema.FLOW_CLASSIFIER
    collection = "flow_classifiers"
    path_prefix = SFC_PREFIX
    attributes = FLOW_CLASSIFIER
    not_found = err.FlowClassifierNotFound
    default_quota = 100

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        for side in ("source", "destination"):
            _check_port_range(obj[f"{side}_port_range_min"], obj[f"{side}_port_range_max"], obj["protocol"])
        for side in ("source", "destination"):
            _check_prefix_version(obj[f"{side}_ip_prefix"], obj["ethertype"])
        for side in ("source", "destination"):
            port = obj[f"logical_{side}_port"]
            if port is not None:
                require_visible(ctx, snap, schema.PORT, port, err.FlowClassifierPortNotFound)
        if obj["classification_group_id"] is not None:
            _with_group_terms(ctx, snap, obj)
        new = FlowClassifier.from_dict(obj)
        every = snap.of(self.resource)
        candidates = classifier_candidates(snap.index(CLASSIFIER_BLOCKS), new, every)
        for other_id in sorted(snap.index(CLASSIFIER_FIELDS).narrowed(obj, candidates)):
            other = every[other_id]
            theirs = FlowClassifier.from_dict(other)
            if can_see(ctx, other) and conflict(new, theirs):
                detail = err.conflict_detail(theirs.name, overlap_text(new, theirs))
                raise err.FlowClassifierInConflict(id=other_id, **detail)
        return obj, []

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        if snap.index(CHAIN_CLASSIFIERS).holder.get(current["id"]) is not None:
            raise err.FlowClassifierInUse(id=current["id"])
        return []


def _with_group_terms(ctx: Context, snap: Snapshot, obj: JsonDict) -> None:
    """Copy the classification group's terms into the classifier; 400 when no packet matches both."""
    group_id = obj["classification_group_id"]
    group = referenced(ctx, snap, schema.CLASSIFICATION_GROUP, group_id, err.ClassificationGroupNotFound)
    obj[schema.MATCH_TERMS] = group.get(schema.MATCH_TERMS) or []
    if not FlowClassifier.from_dict(obj).terms():
        raise err.FlowClassifierClassificationGroupConflict(group=group_id)


def _check_port_range(low: int | None, high: int | None, protocol: str | None) -> None:
    if low is not None and high is not None and low > high:
        raise err.FlowClassifierInvalidPortRange(port_range_min=low, port_range_max=high)
    if (low is not None or high is not None) and protocol not in _L4_PROTOCOLS:
        raise err.FlowClassifierProtocolRequiredWithPorts()


def _check_prefix_version(prefix: str | None, ethertype: str) -> None:
    if prefix is None:
        return
    version = ipaddress.ip_network(prefix, strict=False).version
    if (ethertype, version) not in (("IPv4", 4), ("IPv6", 6)):
        raise err.FlowClassifierIpPrefixFormatConflictWithEthertype(ip_prefix=prefix, ethertype=ethertype)


class PortChains(StoredResource):
    """`/sfc/port_chains`: ordered groups plus classifiers; `chain_id` and MPLS labels allocated globally."""

    resource = schema.PORT_CHAIN
    collection = "port_chains"
    path_prefix = SFC_PREFIX
    attributes = PORT_CHAIN
    not_found = err.PortChainNotFound
    default_quota = 10

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        self._check_groups(ctx, snap, obj["port_pair_groups"], obj["id"])
        _check_correlations(snap, obj["port_pair_groups"], obj["chain_parameters"]["correlation"])
        _check_nsh_md_type(obj["chain_parameters"])
        self._check_classifiers(ctx, snap, obj["flow_classifiers"], obj["id"])
        obj["chain_id"] = self._chain_id(snap, obj)
        assign_labels(snap, obj)
        return obj, []

    def plan_update(
        self, ctx: Context, snap: Snapshot, current: JsonDict, changes: JsonDict
    ) -> tuple[JsonDict, list[Operation]]:
        frozen = {"port_pair_groups", "flow_classifiers"} & set(changes)
        if frozen and graph_holding_chain(snap, current["id"]) is not None:
            raise err.ServiceGraphPortChainInUse(id=current["id"])
        if "port_pair_groups" in changes:
            self._check_groups(ctx, snap, changes["port_pair_groups"], current["id"])
        if "flow_classifiers" in changes:
            self._check_classifiers(ctx, snap, changes["flow_classifiers"], current["id"])
        new = {**current, **changes}
        assign_labels(snap, new, current)  # on every update: a chain stored before labels existed gets them
        return new, []

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        if graph_holding_chain(snap, current["id"]) is not None:
            raise err.ServiceGraphPortChainInUse(id=current["id"])
        return []

    def list(self, ctx: Context, filters: Mapping[str, builtins.list[str]]) -> builtins.list[JsonDict]:
        """Hidden attributes filter nothing (ignored like unknown keys): no side channel to the labels."""
        return super().list(ctx, {k: v for k, v in filters.items() if k not in schema.LABEL_ATTRIBUTES})

    @staticmethod
    def _check_groups(ctx: Context, snap: Snapshot, ppg_ids: Sequence[str], pc_id: str) -> None:
        """Rules 24-26: groups exist, no two tap groups in a row, no other chain with the same list."""
        previous_tap = False
        for ppg_id in ppg_ids:
            ppg = require_visible(ctx, snap, schema.PORT_PAIR_GROUP, ppg_id, err.PortPairGroupNotFound)
            if previous_tap and ppg["tap_enabled"]:
                raise err.ConsecutiveTapPPGNotSupported()
            previous_tap = bool(ppg["tap_enabled"])
        for other_id in sorted(snap.index(CHAIN_GROUP_LISTS).get(tuple(ppg_ids), ())):
            other = snap.find(schema.PORT_CHAIN, other_id)
            if other_id != pc_id and other is not None and can_see(ctx, other):
                raise err.InvalidPortPairGroups(port_pair_groups=list(ppg_ids), port_chain=other_id)

    @staticmethod
    def _check_classifiers(ctx: Context, snap: Snapshot, fc_ids: Sequence[str], pc_id: str) -> None:
        """Rules 24, 28, 29: classifiers exist, are in no other chain, overlap no other chain's."""
        fcs = [
            require_visible(ctx, snap, schema.FLOW_CLASSIFIER, i, err.FlowClassifierNotFound) for i in fc_ids
        ]
        index = snap.index(CHAIN_CLASSIFIERS)
        for fc in fcs:
            holder = index.holder.get(fc["id"])
            if holder is not None and holder != pc_id:
                raise err.FlowClassifierInUse(id=fc["id"])
        mine = [FlowClassifier.from_dict(fc) for fc in fcs]
        others = snap.of(schema.PORT_CHAIN)
        for other_id in sorted(index.candidates(mine)):  # in a stable order: the first clash is reported
            other = others.get(other_id)
            if other_id == pc_id or other is None or not can_see(ctx, other):
                continue
            for theirs in index.classifiers.get(other_id, ()):
                clash = next((fc for fc in mine if basic_conflict(theirs, fc)), None)
                if clash is not None:
                    overlap = overlap_text(clash, theirs, logical_ports=False)
                    detail = err.conflict_detail(theirs.name, overlap)
                    raise err.PortChainFlowClassifierInConflict(
                        fc_id=clash.id, pc_id=other_id, pc_fc_id=theirs.id, **detail
                    )

    def _chain_id(self, snap: Snapshot, obj: JsonDict) -> int:
        """Rule 30: the requested chain_id if free, else the lowest free 1..65534 (freed ids are reused)."""
        taken = snap.index(CHAIN_IDS)
        requested = int(obj["chain_id"])
        if requested:
            if requested in taken.owners:
                raise err.PortChainChainIdInConflict(chain_id=requested, pc_id=taken.owners[requested])
            return requested
        free = taken.lowest_free(1, MAX_CHAIN_ID - 1)
        if free is None:
            raise err.PortChainUnavailableChainId(id=obj["id"])
        return free


def _check_nsh_md_type(params: Mapping[str, object]) -> None:
    """steerflow's `nsh_md_type` extension describes an NSH header: meaningless with any other."""
    if "nsh_md_type" in params and params["correlation"] != "nsh":
        raise InvalidInput(
            error_message=f"chain_parameters nsh_md_type needs correlation nsh, not {params['correlation']}"
        )


def _check_correlations(snap: Snapshot, ppg_ids: Sequence[str], chain_correlation: str) -> None:
    """Rule 27 (create only): every port pair is correlation-unaware (null) or speaks the chain's."""
    for ppg_id in ppg_ids:
        for _pp_id, correlation in group_correlations(snap, ppg_id):
            if correlation is not None and correlation != chain_correlation:
                raise err.PortChainInconsistentCorrelations(ppg=ppg_id)


CHAIN_IDS = numbers_index("chain_ids", schema.PORT_CHAIN, lambda chain: (int(chain["chain_id"]),))
