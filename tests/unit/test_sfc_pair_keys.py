"""Port pairs get a hidden, global, stable key: the Geneve delivery VNI of the instance."""

from steerflow.api.context import Context
from steerflow.api.core import core_handlers
from steerflow.api.sfc import sfc_handlers
from steerflow.nbdb.memory import MemoryStore


def test_pair_keys_are_hidden_global_and_reused_after_delete() -> None:
    store = MemoryStore()
    h = {x.resource: x for x in [*core_handlers(store), *sfc_handlers(store)]}
    ctx = Context.admin()
    net = h["network"].create(ctx, {"name": "n"})["id"]
    ports = [h["port"].create(ctx, {"network_id": net, "device_id": f"sf{i // 2}"})["id"] for i in range(4)]
    pairs = [h["port_pair"].create(ctx, {"ingress": ports[i], "egress": ports[i + 1]}) for i in (0, 2)]
    assert all("pair_key" not in p for p in pairs)
    assert [store.get("port_pair", p["id"]).value["pair_key"] for p in pairs] == [1, 2]  # type: ignore[union-attr]
    assert h["port_pair"].list(ctx, {"pair_key": ["1"]}) == h["port_pair"].list(ctx, {})  # not a filter
    h["port_pair"].delete(ctx, pairs[0]["id"])
    again = h["port_pair"].create(ctx, {"ingress": ports[0], "egress": ports[1]})
    assert store.get("port_pair", again["id"]).value["pair_key"] == 1  # type: ignore[union-attr]
