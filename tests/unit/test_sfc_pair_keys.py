"""Port pairs get a hidden, global, stable key: the Geneve delivery VNI of the instance."""

from steerflow.api.context import Context
from steerflow.api.core import core_handlers
from steerflow.api.sfc import sfc_handlers
from steerflow.model import schema
from steerflow.nbdb.memory import MemoryStore


def test_pair_keys_are_hidden_global_and_reused_after_delete() -> None:
    store = MemoryStore()
    h = {x.resource: x for x in [*core_handlers(store), *sfc_handlers(store)]}
    ctx = Context.admin()
    net = h[schema.NETWORK].create(ctx, {"name": "n"})["id"]
    ports = [
        h[schema.PORT].create(ctx, {"network_id": net, "device_id": f"sf{i // 2}"})["id"] for i in range(4)
    ]
    pairs = [h[schema.PORT_PAIR].create(ctx, {"ingress": ports[i], "egress": ports[i + 1]}) for i in (0, 2)]
    assert all(schema.PAIR_KEY not in p for p in pairs)
    assert [store.get(schema.PORT_PAIR, p["id"]).value[schema.PAIR_KEY] for p in pairs] == [1, 2]  # type: ignore[union-attr]
    assert h[schema.PORT_PAIR].list(ctx, {schema.PAIR_KEY: ["1"]}) == h[schema.PORT_PAIR].list(
        ctx, {}
    )  # not a filter
    h[schema.PORT_PAIR].delete(ctx, pairs[0]["id"])
    again = h[schema.PORT_PAIR].create(ctx, {"ingress": ports[0], "egress": ports[1]})
    assert store.get(schema.PORT_PAIR, again["id"]).value[schema.PAIR_KEY] == 1  # type: ignore[union-attr]
