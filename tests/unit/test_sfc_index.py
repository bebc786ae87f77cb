"""The chain-classifier index: carried from snapshot to snapshot it equals one built from scratch, and
its candidates include every chain whose classifiers really overlap (rule 29)."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.api.sfc_conflicts import basic_conflict
from steerflow.api.sfc_index import CHAIN_CLASSIFIERS
from steerflow.api.txn import Snapshot
from steerflow.model.sfc import FlowClassifier

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
    return {"flow_classifier": fcs, "port_chain": chains}


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
    for revision, (before, after) in enumerate(itertools.pairwise(states), start=2):
        snap = snap.followed_by(revision, after, _changes(before, after))
        carried = snap.index(CHAIN_CLASSIFIERS)
        fresh = Snapshot(revision, after).index(CHAIN_CLASSIFIERS)
        assert carried == fresh
        mine = FlowClassifier.from_dict(query)
        overlapping = {
            chain_id
            for chain_id, chain in after["port_chain"].items()
            for fc_id in chain["flow_classifiers"]
            if basic_conflict(FlowClassifier.from_dict(after["flow_classifier"][fc_id]), mine)
        }
        assert overlapping <= carried.candidates([mine])
        assert dict(carried.holder.items()) == {
            fc_id: chain_id
            for chain_id, chain in after["port_chain"].items()
            for fc_id in chain["flow_classifiers"]
        }
