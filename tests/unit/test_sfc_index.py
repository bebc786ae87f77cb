"""The chain-classifier index: carried from snapshot to snapshot it equals one built from scratch, and
its candidates include every chain whose classifiers really overlap (rule 29)."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.api.sfc_chains import CHAIN_IDS
from steerflow.api.sfc_conflicts import basic_conflict, conflict
from steerflow.api.sfc_index import (
    CHAIN_CLASSIFIERS,
    CHAIN_GROUP_LISTS,
    CLASSIFIER_BLOCKS,
    CLASSIFIER_FIELDS,
    classifier_candidates,
)
from steerflow.api.sfc_labels import CHAIN_LABELS, labels_of
from steerflow.model import schema
from steerflow.model.sfc import FlowClassifier
from steerflow.nbdb.txn import Snapshot

CLASSIFIERS = 8
CHAINS = 5


@st.composite
def port_ranges(draw: st.DrawFn) -> tuple[int | None, int | None]:
    kind = draw(st.sampled_from(("none", "one", "narrow", "wide")))
    if kind == "none":
        return None, None
    low = draw(st.integers(0, 65535))
    span = {"one": 0, "narrow": draw(st.integers(0, 2000)), "wide": draw(st.integers(4096, 65535))}[kind]
    return low, min(65535, low + span)


@st.composite
def classifier(draw: st.DrawFn, fc_id: str) -> dict[str, Any]:
    low, high = draw(port_ranges())
    return {
        "id": fc_id,
        "ethertype": "IPv4",
        "protocol": draw(st.sampled_from(("tcp", "udp", None))),
        "destination_port_range_min": low,
        "destination_port_range_max": high,
        "source_ip_prefix": draw(st.sampled_from((None, "10.0.0.0/8", "10.1.0.0/16", "10.1.0.9/32"))),
        "logical_source_port": draw(st.sampled_from((None, "p1", "p2"))),
    }


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    fcs = {f"fc{i}": draw(classifier(f"fc{i}")) for i in range(CLASSIFIERS)}
    free = list(fcs)
    chains = {}
    for c in range(CHAINS):
        if not free or draw(st.booleans()):
            continue
        mine = draw(st.lists(st.sampled_from(free), min_size=1, max_size=2, unique=True))
        free = [f for f in free if f not in mine]
        chains[f"pc{c}"] = {"id": f"pc{c}", "flow_classifiers": mine}
    return {schema.FLOW_CLASSIFIER: fcs, schema.PORT_CHAIN: chains}


def _changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (kind, id)
        for kind in after
        for id in set(before[kind]) | set(after[kind])
        if before[kind].get(id) != after[kind].get(id)
    }


@settings(max_examples=100, deadline=None)
@given(st.lists(snapshots(), min_size=2, max_size=5), classifier("query"))
def test_the_carried_index_equals_a_fresh_one_and_misses_no_overlap(
    states: list[dict[str, dict[str, Any]]], query: dict[str, Any]
) -> None:
    snap = Snapshot(1, states[0])
    snap.index(CHAIN_CLASSIFIERS)
    snap.index(CLASSIFIER_BLOCKS)
    snap.index(CLASSIFIER_FIELDS)
    for revision, (before, after) in enumerate(itertools.pairwise(states), start=2):
        snap = snap.followed_by(revision, after, _changes(before, after))
        carried = snap.index(CHAIN_CLASSIFIERS)
        fresh = Snapshot(revision, after).index(CHAIN_CLASSIFIERS)
        assert carried == fresh
        mine = FlowClassifier.from_dict(query)
        overlapping = {
            chain_id
            for chain_id, chain in after[schema.PORT_CHAIN].items()
            for fc_id in chain["flow_classifiers"]
            if basic_conflict(FlowClassifier.from_dict(after[schema.FLOW_CLASSIFIER][fc_id]), mine)
        }
        assert overlapping <= carried.candidates([mine])
        blocks = snap.index(CLASSIFIER_BLOCKS)
        assert blocks == Snapshot(revision, after).index(CLASSIFIER_BLOCKS)
        stored = {fc_id: FlowClassifier.from_dict(fc) for fc_id, fc in after[schema.FLOW_CLASSIFIER].items()}
        overlapping_fcs = {fc_id for fc_id, fc in stored.items() if basic_conflict(fc, mine)}
        assert overlapping_fcs <= classifier_candidates(blocks, mine, after[schema.FLOW_CLASSIFIER])
        fields = snap.index(CLASSIFIER_FIELDS)
        assert fields == Snapshot(revision, after).index(CLASSIFIER_FIELDS)
        in_conflict = {fc_id for fc_id, fc in stored.items() if conflict(fc, mine)}
        assert in_conflict <= fields.narrowed(query, set(stored))
        assert dict(carried.holder.items()) == {
            fc_id: chain_id
            for chain_id, chain in after[schema.PORT_CHAIN].items()
            for fc_id in chain["flow_classifiers"]
        }


@st.composite
def numbered_chains(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    chains = {}
    free = list(range(16, 41))  # labels are unique across chains
    for c in range(CHAINS):
        if draw(st.booleans()):
            labels = draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True))
            free = [label for label in free if label not in labels]
            groups = draw(st.lists(st.sampled_from(["g1", "g2", "g3"]), min_size=1, max_size=2, unique=True))
            chains[f"pc{c}"] = {
                "id": f"pc{c}",
                "chain_id": c + 1,
                "port_pair_groups": groups,
                "flow_classifiers": [],
                schema.HOP_LABELS: {f"g{i}": label for i, label in enumerate(labels[:-1])},
                schema.EXIT_LABEL: labels[-1],
            }
    return {schema.FLOW_CLASSIFIER: {}, schema.PORT_CHAIN: chains}


@settings(max_examples=100, deadline=None)
@given(st.lists(numbered_chains(), min_size=2, max_size=5), st.integers(16, 45), st.sets(st.integers(16, 45)))
def test_labels_chain_ids_and_group_lists_carried_equal_fresh_and_the_lowest_free_is_exact(
    states: list[dict[str, dict[str, Any]]], start: int, also: set[int]
) -> None:
    snap = Snapshot(1, states[0])
    for derived in (CHAIN_LABELS, CHAIN_IDS, CHAIN_GROUP_LISTS):
        snap.index(derived)
    for revision, (before, after) in enumerate(itertools.pairwise(states), start=2):
        snap = snap.followed_by(revision, after, _changes(before, after))
        fresh = Snapshot(revision, after)
        for derived in (CHAIN_LABELS, CHAIN_IDS, CHAIN_GROUP_LISTS):
            assert snap.index(derived) == fresh.index(derived)
        used = {label for chain in after[schema.PORT_CHAIN].values() for label in labels_of(chain)}
        expected = next(n for n in range(start, 10_000) if n not in used and n not in also)
        assert snap.index(CHAIN_LABELS).lowest_free(start, None, also) == expected
