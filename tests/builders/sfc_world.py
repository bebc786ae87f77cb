"""A small SFC world over a MemoryStore for the test_sfc_* modules (helpers only, no tests)."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from steerflow.api import sfc_attributes, sfc_labels
from steerflow.api.context import Context
from steerflow.api.errors import NeutronError
from steerflow.api.sfc_chains import FlowClassifiers, PortChains
from steerflow.api.sfc_classifications import ClassificationGroups, Classifications
from steerflow.api.sfc_graphs import ServiceGraphs
from steerflow.api.sfc_pairs import PortPairGroups, PortPairs
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, Put
from steerflow.nbdb.memory import MemoryStore

ALICE = Context("alice")
BOB = Context("bob")
ADMIN = Context.admin("admin")
MPLS = {"correlation": "mpls"}
NSH = {"correlation": "nsh"}
UNKNOWN = "6a3f6a36-3a0f-4b6e-9d6f-1f1f1f1f1f1f"


class World:
    """Handlers for the five SFC resources on one store, plus builders with sensible defaults."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.pp = PortPairs(self.store)
        self.ppg = PortPairGroups(self.store)
        self.pc = PortChains(self.store)
        self.fc = FlowClassifiers(self.store)
        self.sg = ServiceGraphs(self.store)
        self.cls = Classifications(self.store)
        self.cg = ClassificationGroups(self.store)
        self._subnets = itertools.count(1)

    def port(self, device_id: str = "", project: str = "alice", **extra: Any) -> str:
        """A Neutron port put straight into the NB (the core API is someone else's)."""
        pid = str(uuid.uuid4())
        value = {
            "id": pid,
            "project_id": project,
            "tenant_id": project,
            "network_id": "net-1",
            "mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"subnet_id": "sub-1", "ip_address": "10.0.0.5"}],
            "device_id": device_id,
            "binding:host_id": "host-1",
            "port_security_enabled": False,
            **extra,
        }
        self.store.commit([Put(schema.PORT, pid, value)])
        return pid

    def pair(self, ctx: Context = ALICE, sfp: Any = None, **body: Any) -> JsonDict:
        device = f"vm-{uuid.uuid4()}"
        project = ctx.project_id
        body.setdefault("ingress", self.port(device, project))
        body.setdefault("egress", self.port(device, project))
        if sfp is not None:
            body["service_function_parameters"] = sfp
        return self.pp.create(ctx, body)

    def group(self, ctx: Context = ALICE, pairs: list[str] | None = None, **body: Any) -> JsonDict:
        """A group; by default with one fresh mpls port pair."""
        if pairs is None:
            pairs = [self.pair(ctx, MPLS)["id"]]
        return self.ppg.create(ctx, {"port_pairs": pairs, **body})

    def classifier(self, ctx: Context = ALICE, **body: Any) -> JsonDict:
        """A classifier on its own /24 so it conflicts with nothing unless told."""
        body.setdefault("source_ip_prefix", f"10.{next(self._subnets)}.0.0/24")
        return self.fc.create(ctx, body)

    def chain(
        self, ctx: Context = ALICE, groups: list[str] | None = None, fcs: list[str] | None = None, **body: Any
    ) -> JsonDict:
        groups = groups if groups is not None else [self.group(ctx)["id"]]
        return self.pc.create(ctx, {"port_pair_groups": groups, "flow_classifiers": fcs or [], **body})

    def count(self, kind: str) -> int:
        return len(self.store.list(kind))


def rejects(
    world: World, exc: type[NeutronError], status: int, fn: Callable[..., Any], *args: Any
) -> NeutronError:
    """`fn(*args)` raises exactly `exc` with HTTP `status` and writes nothing."""
    before = world.store.revision()
    with pytest.raises(NeutronError) as info:
        fn(*args)
    assert type(info.value) is exc, info.value
    assert info.value.status == status
    assert world.store.revision() == before
    return info.value


def race(jobs: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run the jobs in threads released together; each result is a value or the NeutronError raised."""
    start = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = jobs[i]()
        except NeutronError as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return results


def unlimited_world() -> World:
    """A world without quotas (label tests make many chains)."""
    world = World()
    world.pc.quota = world.ppg.quota = world.pp.quota = -1
    return world


def stored(w: World, chain_id: str) -> JsonDict:
    rec = w.store.get(schema.PORT_CHAIN, chain_id)
    assert rec is not None
    return rec.value


def hops(w: World, chain_id: str) -> dict[str, int]:
    return dict(stored(w, chain_id)[schema.HOP_LABELS])


def groups(w: World, n: int) -> list[str]:
    return [w.group()["id"] for _ in range(n)]


def all_labels(w: World) -> list[int]:
    return [label for rec in w.store.list(schema.PORT_CHAIN) for label in sfc_labels.labels_of(rec.value)]


def assert_invariants(w: World) -> None:
    """Every chain has one label per group plus an exit; no label is used twice in the whole store."""
    for rec in w.store.list(schema.PORT_CHAIN):
        assert list(rec.value[schema.HOP_LABELS]) == rec.value["port_pair_groups"]
        assert isinstance(rec.value[schema.EXIT_LABEL], int)
    labels = all_labels(w)
    assert len(labels) == len(set(labels))
    assert all(sfc_attributes.MIN_LABEL <= label <= sfc_attributes.MAX_LABEL for label in labels)
