"""The keys the dataplane needs are allocated with the objects: network VNIs and per-network port keys."""

from steerflow.api.context import Context
from steerflow.api.core import core_handlers
from steerflow.api.resource import ResourceHandler
from steerflow.model import schema
from steerflow.nbdb.memory import MemoryStore


def _handlers() -> tuple[MemoryStore, dict[str, ResourceHandler]]:
    store = MemoryStore()
    return store, {h.resource: h for h in core_handlers(store)}


def test_networks_get_the_lowest_free_vni_and_keep_it() -> None:
    _store, h = _handlers()
    ctx = Context.admin()
    a = h[schema.NETWORK].create(ctx, {"name": "a"})
    b = h[schema.NETWORK].create(ctx, {"name": "b"})
    assert (a["provider:network_type"], a[schema.SEGMENTATION_ID]) == ("geneve", 1)
    assert b[schema.SEGMENTATION_ID] == 2
    h[schema.NETWORK].delete(ctx, a["id"])
    c = h[schema.NETWORK].create(ctx, {"name": "c"})
    assert c[schema.SEGMENTATION_ID] == 1  # freed VNIs are reused
    assert h[schema.NETWORK].update(ctx, b["id"], {"name": "b2"})[schema.SEGMENTATION_ID] == 2


def test_port_keys_are_per_network_internal_and_stable() -> None:
    store, h = _handlers()
    ctx = Context.admin()
    nets = [h[schema.NETWORK].create(ctx, {"name": n})["id"] for n in ("a", "b")]
    ports = [h[schema.PORT].create(ctx, {"network_id": net}) for net in (nets[0], nets[0], nets[1])]
    assert all(schema.TUNNEL_KEY not in p for p in ports)  # not part of the Neutron API
    stored = [store.get(schema.PORT, p["id"]) for p in ports]
    assert [rec.value[schema.TUNNEL_KEY] for rec in stored if rec] == [1, 2, 1]
    h[schema.PORT].update(ctx, ports[0]["id"], {"name": "renamed"})
    renamed = store.get(schema.PORT, ports[0]["id"])
    assert renamed is not None and renamed.value[schema.TUNNEL_KEY] == 1
