"""The keys the dataplane needs are allocated with the objects: network VNIs and per-network port keys."""

from steerflow.api.context import Context
from steerflow.api.core import core_handlers
from steerflow.api.resource import ResourceHandler
from steerflow.nbdb.memory import MemoryStore


def _handlers() -> tuple[MemoryStore, dict[str, ResourceHandler]]:
    store = MemoryStore()
    return store, {h.resource: h for h in core_handlers(store)}


def test_networks_get_the_lowest_free_vni_and_keep_it() -> None:
    _store, h = _handlers()
    ctx = Context.admin()
    a = h["network"].create(ctx, {"name": "a"})
    b = h["network"].create(ctx, {"name": "b"})
    assert (a["provider:network_type"], a["provider:segmentation_id"]) == ("geneve", 1)
    assert b["provider:segmentation_id"] == 2
    h["network"].delete(ctx, a["id"])
    c = h["network"].create(ctx, {"name": "c"})
    assert c["provider:segmentation_id"] == 1  # freed VNIs are reused
    assert h["network"].update(ctx, b["id"], {"name": "b2"})["provider:segmentation_id"] == 2


def test_port_keys_are_per_network_internal_and_stable() -> None:
    store, h = _handlers()
    ctx = Context.admin()
    nets = [h["network"].create(ctx, {"name": n})["id"] for n in ("a", "b")]
    ports = [h["port"].create(ctx, {"network_id": net}) for net in (nets[0], nets[0], nets[1])]
    assert all("tunnel_key" not in p for p in ports)  # not part of the Neutron API
    stored = [store.get("port", p["id"]) for p in ports]
    assert [rec.value["tunnel_key"] for rec in stored if rec] == [1, 2, 1]
    h["port"].update(ctx, ports[0]["id"], {"name": "renamed"})
    renamed = store.get("port", ports[0]["id"])
    assert renamed is not None and renamed.value["tunnel_key"] == 1
