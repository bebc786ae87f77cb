"""The chassis a write concerns: every chassis whose flows a write changes is named, and waits skip the rest.

The property: random NB histories (ports bound on a few chassis, pairs, groups, classifiers with and
without source ports, chains symmetric or not, graphs; one document changed per step); for each step the
API's concerned set is computed from the documents before and the step's operations, every chassis is
compiled from scratch before and after, and each chassis whose flows or groups changed must be named.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.agent.chassis import register_chassis
from steerflow.agent.nbcache import CacheUpdate, NbCache
from steerflow.api.concerns import concerned_chassis
from steerflow.compiler.compile import compile_nb
from steerflow.model import schema
from steerflow.nbdb.api import Delete, Operation, Put
from steerflow.nbdb.concerns import ConcernLog, concern_put, revision_concerns
from steerflow.nbdb.memory import MemoryStore
from steerflow.nbdb.status import STATUS_KINDS, heartbeat, report_applied, wait_applied
from steerflow.nbdb.txn import Snapshot
from tests.builders.random_docs import CHASSIS, TUNNEL, Docs, changed_between, histories
from tests.builders.sfc_world import ADMIN, World


def _ops(before: Docs, after: Docs) -> list[Operation]:
    ops: list[Operation] = []
    for kind, id in sorted(changed_between(before, after)):
        value = after.get(kind, {}).get(id)
        ops.append(Delete(kind, id) if value is None else Put(kind, id, value))
    return ops


def _pinned(steps: list[Docs]) -> list[Docs]:
    """The history without service graphs, every classifier with a source and a destination port: the
    chain writes the API names precisely (the others concern every chassis)."""
    pinned = []
    for docs in steps:
        docs = {kind: dict(objects) for kind, objects in docs.items() if kind != schema.SERVICE_GRAPH}
        classifiers = docs.get(schema.FLOW_CLASSIFIER, {})
        for id, fc in classifiers.items():
            ports = {"logical_source_port": fc.get("logical_source_port") or "p0"}
            ports["logical_destination_port"] = fc.get("logical_destination_port") or "p6"
            classifiers[id] = {**fc, **ports}
        pinned.append(docs)
    return pinned


def test_every_chassis_whose_flows_a_write_changes_is_concerned() -> None:
    seen: Counter[str] = Counter()  # the precise sets met, and the chassis changed under them

    # derandomized: the draws are the same every run, so the check that they met precise sets and
    # changed chassis (below) cannot fail by chance (it did, 2 runs in ~19)
    @settings(max_examples=120, deadline=None, derandomize=True)
    @given(st.one_of(histories(), histories().map(_pinned)))
    def every_changed_chassis_named(steps: list[Docs]) -> None:
        for before, after in itertools.pairwise(steps):
            ops = _ops(before, after)
            concerned = concerned_chassis(Snapshot(1, before), ops) if ops else None
            if concerned is None:
                continue
            seen["precise"] += 1
            for chassis in CHASSIS:
                old, new = compile_nb(before, chassis, TUNNEL), compile_nb(after, chassis, TUNNEL)
                if dict(old.flows) != dict(new.flows) or dict(old.groups) != dict(new.groups):
                    seen["changed"] += 1
                    assert chassis in concerned, (sorted({op.kind for op in ops}), chassis, concerned)

    every_changed_chassis_named()
    assert seen["precise"] > 20 and seen["changed"] > 5, seen  # or the property tested nothing


def _bound_world() -> tuple[World, dict[str, str]]:
    """A source port on ch1, a function on ch2, one on ch3; their bindings."""
    w = World()
    ports = {name: w.port(device_id=f"vm-{name[-1]}") for name in ("src", "in2", "out2", "in3", "out3")}
    where = {"src": "ch1", "in2": "ch2", "out2": "ch2", "in3": "ch3", "out3": "ch3"}
    for name, port in ports.items():
        binding = {"port_id": port, schema.CHASSIS: where[name], "ofport": 1}
        w.store.commit([Put(schema.PORT_BINDING, port, binding)])
    return w, ports


def _last_concern(w: World) -> list[str] | bool:
    doc = w.store.get(schema.CONCERNS, schema.CONCERNS_ID)
    assert doc is not None
    return bool(doc.value.get(schema.ALL_CHASSIS)) or list(doc.value[schema.CHASSIS])


def test_chain_writes_name_their_classifying_and_function_chassis() -> None:
    w, ports = _bound_world()
    pair2 = w.pp.create(ADMIN, {"ingress": ports["in2"], "egress": ports["out2"]})["id"]
    assert _last_concern(w) is True  # a new pair makes its ports service ports everywhere
    pair3 = w.pp.create(ADMIN, {"ingress": ports["in3"], "egress": ports["out3"]})["id"]
    group = w.ppg.create(ADMIN, {"port_pairs": [pair2]})["id"]
    assert _last_concern(w) == []  # a group in no chain concerns nobody
    fc = w.fc.create(ADMIN, {"logical_source_port": ports["src"], "protocol": "udp"})["id"]
    assert _last_concern(w) == []
    chain = w.pc.create(ADMIN, {"port_pair_groups": [group], "flow_classifiers": [fc]})["id"]
    assert _last_concern(w) == ["ch1", "ch2"]
    w.ppg.update(ADMIN, group, {"port_pairs": [pair3]})
    assert _last_concern(w) == ["ch1", "ch2", "ch3"]  # the old function's chassis and the new one's
    w.pc.delete(ADMIN, chain)
    assert _last_concern(w) == ["ch1", "ch3"]
    w.fc.delete(ADMIN, fc)
    assert _last_concern(w) == []


def test_a_classifier_without_source_port_concerns_every_chassis() -> None:
    w, ports = _bound_world()
    pair = w.pp.create(ADMIN, {"ingress": ports["in2"], "egress": ports["out2"]})["id"]
    group = w.ppg.create(ADMIN, {"port_pairs": [pair]})["id"]
    fc = w.fc.create(ADMIN, {"protocol": "udp", "destination_port_range_min": 53})["id"]
    w.pc.create(ADMIN, {"port_pair_groups": [group], "flow_classifiers": [fc]})
    assert _last_concern(w) is True


def _registered(*names: str) -> MemoryStore:
    store = MemoryStore()
    for i, name in enumerate(names):
        register_chassis(store, name, f"198.51.100.{11 + i}")
        heartbeat(store, name)
    return store


def test_a_wait_counts_a_chassis_no_write_since_its_report_concerns_as_done() -> None:
    store = _registered("ch1", "ch2", "ch3")
    first = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])  # no concerns document: everyone
    for name in ("ch1", "ch2", "ch3"):
        report_applied(store, name, first)
    chain = store.commit([Put(schema.PORT_CHAIN, "c1", {"id": "c1"}), concern_put(["ch1", "ch2"])])
    report_applied(store, "ch1", chain)
    assert wait_applied(store, chain, timeout=0).lagging == ["ch2"]  # ch3: not concerned
    other = store.commit([Put(schema.PORT_CHAIN, "c2", {"id": "c2"}), concern_put(["ch3"])])
    report_applied(store, "ch2", chain)
    assert wait_applied(store, other, timeout=0).lagging == ["ch3"]
    assert wait_applied(store, chain, timeout=0).done
    everyone = store.commit([Put(schema.NETWORK, "n2", {"id": "n2"})])
    assert wait_applied(store, everyone, timeout=0).lagging == ["ch1", "ch2", "ch3"]


def test_the_history_tells_each_revision_its_concern() -> None:
    store = _registered("ch1")
    named = store.commit([Put(schema.PORT_CHAIN, "c1", {"id": "c1"}), concern_put(["ch1"])])
    nobody = store.commit([Put(schema.PORT_PAIR_GROUP, "g1", {"id": "g1"}), concern_put([])])
    plain = store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})])
    found = revision_concerns(store.watch(named - 1, timeout=0).events, STATUS_KINDS)
    assert found == {named: frozenset({"ch1"}), nobody: frozenset(), plain: None}
    log = ConcernLog()
    log.note_all({r: c for r, c in found.items() if r < plain})
    assert log.holds_all("ch1", named) and not log.holds_all("ch1", named - 1)
    assert log.holds_all("ch2", 0)


def _followed(cache: NbCache, revision: int) -> int:
    """`revision`, once the cache holds it (each write its own batch)."""
    deadline = time.monotonic() + 5
    while cache.revision < revision and time.monotonic() < deadline:
        time.sleep(0.005)
    assert cache.revision == revision
    return revision


def test_the_agents_cache_tells_which_writes_concern_its_chassis() -> None:
    """A write naming other chassis only is a desired change (compiled) that concerns nobody here; one
    naming this chassis, or none (a write without the document), does; the log follows them all."""
    store = MemoryStore()
    updates: list[CacheUpdate] = []
    cache = NbCache(store, updates.append, chassis="ch2")
    cache.load()
    cache.start()
    try:
        elsewhere = _followed(
            cache, store.commit([Put(schema.PORT_CHAIN, "c1", {"id": "c1"}), concern_put(["ch1"])])
        )
        here = _followed(
            cache, store.commit([Put(schema.PORT_CHAIN, "c2", {"id": "c2"}), concern_put(["ch2"])])
        )
        plain = _followed(cache, store.commit([Put(schema.NETWORK, "n1", {"id": "n1"})]))
    finally:
        cache.stop()
    concerned = {u.revision: (u.relevant, u.concerned) for u in updates}
    assert concerned == {elsewhere: (True, False), here: (True, True), plain: (True, True)}
    assert cache.desired_revision == plain
    assert cache.concerns.newest == {"ch1": elsewhere, "ch2": here} and cache.concerns.every == plain
    with cache.held() as objects:
        assert schema.CONCERNS not in objects  # read as it passes, never held
