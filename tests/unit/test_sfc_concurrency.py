"""Racing writers: validation and commit are atomic, so conflicting creates cannot both win."""

from __future__ import annotations

import functools
from typing import Any

from steerflow.api import sfc_errors as err
from steerflow.api.sfc_attributes import PORT_CHAIN
from steerflow.model import schema
from tests.builders.sfc_world import ALICE, World, race

THREADS = 8


def test_same_classifier_exactly_one_chain_wins() -> None:
    w = World()
    w.ppg.quota = -1
    fc = w.classifier()
    groups = [w.group()["id"] for _ in range(THREADS)]
    jobs = [
        lambda g=g: w.pc.create(ALICE, {"port_pair_groups": [g], "flow_classifiers": [fc["id"]]})
        for g in groups
    ]
    results = race(jobs)
    winners = [r for r in results if isinstance(r, dict)]
    losers = [r for r in results if not isinstance(r, dict)]
    assert len(winners) == 1
    assert all(type(e) is err.FlowClassifierInUse and e.status == 409 for e in losers)
    stored = w.store.list(schema.PORT_CHAIN)
    assert [PORT_CHAIN.visible(r.value) for r in stored] == winners  # stored also holds hidden labels


def test_concurrent_chains_get_distinct_chain_ids() -> None:
    w = World()
    w.ppg.quota = w.pc.quota = -1
    groups = [w.group()["id"] for _ in range(THREADS)]
    jobs = [functools.partial(w.pc.create, ALICE, {"port_pair_groups": [g]}) for g in groups]
    results = race(jobs)
    assert sorted(r["chain_id"] for r in results) == list(range(1, THREADS + 1))


def test_same_port_pair_into_two_groups_exactly_one_wins() -> None:
    w = World()
    pp = w.pair()["id"]

    def create_group() -> Any:
        return w.ppg.create(ALICE, {"port_pairs": [pp]})

    results = race([create_group] * THREADS)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(type(r) is err.PortPairInUse for r in results if not isinstance(r, dict))
    assert len(w.store.list(schema.PORT_PAIR_GROUP)) == 1
