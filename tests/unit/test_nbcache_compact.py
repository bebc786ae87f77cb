"""The agent's NB cache keeps one copy of each repeated string: documents equal to the store's, smaller."""

from __future__ import annotations

import time

from steerflow.agent.nbcache import CacheUpdate, NbCache, compact
from steerflow.model import schema
from steerflow.nbdb.api import Put
from steerflow.nbdb.counters import report_counters
from steerflow.nbdb.memory import MemoryStore


def chain(n: int, group: str) -> dict[str, object]:
    # built from parts, as a JSON decoder would: equal strings, distinct objects
    return {
        "id": f"chain-{n}",
        "".join(["flow_", "classifiers"]): ["".join(["fc-", group])],
        "chain_parameters": {"".join(["corr", "elation"]): "mpls", "symmetric": False},
        "description": "x" * 200,
    }


def test_compact_keeps_the_value_and_shares_keys_and_ids() -> None:
    a, b = chain(1, "g1"), chain(2, "g1")
    ka, kb = compact(a), compact(b)
    assert (ka, kb) == (a, b)
    key_a = next(k for k in ka if k.startswith("flow_"))
    key_b = next(k for k in kb if k.startswith("flow_"))
    assert key_a is key_b
    assert ka[key_a][0] is kb[key_b][0]
    assert ka["chain_parameters"]["correlation"] is kb["chain_parameters"]["correlation"]
    assert ka["chain_parameters"]["symmetric"] is False


def test_the_cache_holds_the_stores_documents_loaded_and_followed() -> None:
    store = MemoryStore()
    store.commit([Put(schema.PORT_CHAIN, "chain-1", chain(1, "g1"))])
    updates: list[CacheUpdate] = []
    cache = NbCache(store, updates.append)
    cache.load()
    cache.start()
    try:
        store.commit([Put(schema.PORT_CHAIN, "chain-2", chain(2, "g1"))])
        deadline = time.monotonic() + 5
        while cache.revision < store.revision() and time.monotonic() < deadline:
            time.sleep(0.01)
        with cache.held() as objects:
            chains = objects[schema.PORT_CHAIN]
            assert chains == {"chain-1": chain(1, "g1"), "chain-2": chain(2, "g1")}
            classifiers = [doc["flow_classifiers"][0] for doc in chains.values()]
            assert classifiers[0] is classifiers[1]
    finally:
        cache.stop()


def test_the_cache_leaves_out_the_chassis_counters_it_never_reads() -> None:
    """The per-hop counters are the API's (statistics): no agent holds any chassis' copy, loaded or
    followed, and a counters write is neither a desired change nor a status report to it: today's are
    no revision at all, an older agent's document is left out."""
    store = MemoryStore()
    store.commit([Put(schema.CHASSIS_COUNTERS, "ch1", {"id": "ch1", "hops": {"g1": [1, 100]}})])
    updates: list[CacheUpdate] = []
    cache = NbCache(store, updates.append)
    cache.load()
    cache.start()
    try:
        before = store.revision()
        report_counters(store, "ch2", {"hops": {"g1": [2, 200]}})
        assert store.revision() == before
        store.commit([Put(schema.CHASSIS_COUNTERS, "ch3", {"id": "ch3", "hops": {"g1": [3, 300]}})])
        store.commit([Put(schema.PORT_CHAIN, "chain-1", chain(1, "g1"))])
        deadline = time.monotonic() + 5
        while cache.revision < store.revision() and time.monotonic() < deadline:
            time.sleep(0.01)
        with cache.held() as objects:
            assert schema.CHASSIS_COUNTERS not in objects
            assert set(objects[schema.PORT_CHAIN]) == {"chain-1"}
        assert not any(update.status for update in updates)
        assert cache.desired_revision == store.revision()
    finally:
        cache.stop()
