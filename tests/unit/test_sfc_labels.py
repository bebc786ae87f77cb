"""A port chain's hidden MPLS labels: allocation, uniqueness, stability over updates, exhaustion, secrecy."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.api import sfc_attributes, sfc_labels
from steerflow.api import sfc_errors as err
from steerflow.api.errors import HTTPBadRequest, NeutronError
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, Put
from steerflow.rest.app import build_app
from steerflow.rest.auth import NoAuth
from tests.builders.sfc_world import (
    ALICE,
    BOB,
    World,
    all_labels,
    assert_invariants,
    groups,
    hops,
    race,
    rejects,
    stored,
    unlimited_world,
)

with warnings.catch_warnings():  # starlette's TestClient nags about httpx; the client is fine
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def w() -> World:
    return unlimited_world()


def exit_of(w: World, chain_id: str) -> int:
    return int(stored(w, chain_id)[schema.EXIT_LABEL])


# --- allocation -----------------------------------------------------------------------------------


def test_label_space_is_mpls_minus_the_reserved_values() -> None:
    assert (sfc_attributes.MIN_LABEL, sfc_attributes.MAX_LABEL) == (16, 2**20 - 1)


def test_create_gives_each_group_a_label_then_the_exit(w: World) -> None:
    g = groups(w, 3)
    c = w.chain(groups=g)
    assert hops(w, c["id"]) == {g[0]: 16, g[1]: 17, g[2]: 18}
    assert exit_of(w, c["id"]) == 19


def test_labels_are_unique_across_chains_and_projects(w: World) -> None:
    shared = w.group()["id"]
    a = w.chain(groups=[shared, w.group()["id"]])
    b = w.chain(groups=[w.group()["id"], shared])  # a group may be in several chains
    c = w.chain(BOB, groups=[w.group(BOB)["id"]])
    assert hops(w, a["id"])[shared] != hops(w, b["id"])[shared]
    assert sorted(all_labels(w)) == list(range(16, 16 + 3 + 3 + 2))
    assert exit_of(w, c["id"]) == 23
    assert_invariants(w)


def test_bulk_create_allocates_distinct_labels(w: World) -> None:
    g = groups(w, 3)
    made = w.pc.create_bulk(ALICE, [{"port_pair_groups": [g[0], g[1]]}, {"port_pair_groups": [g[2]]}])
    assert hops(w, made[0]["id"]) == {g[0]: 16, g[1]: 17}
    assert (exit_of(w, made[0]["id"]), hops(w, made[1]["id"]), exit_of(w, made[1]["id"])) == (
        18,
        {g[2]: 19},
        20,
    )


def test_racing_creates_get_distinct_labels(w: World) -> None:
    g = groups(w, 8)
    results = race([functools.partial(w.pc.create, ALICE, {"port_pair_groups": [gid]}) for gid in g])
    assert all(isinstance(r, dict) for r in results)
    assert sorted(all_labels(w)) == list(range(16, 32))
    assert_invariants(w)


def test_a_group_cannot_be_listed_twice_so_group_ids_key_the_labels(w: World) -> None:
    """Upstream's uuid_list validator refuses duplicates (on POST and PUT); so does ours."""
    g = w.group()["id"]
    e = rejects(w, HTTPBadRequest, 400, w.pc.create, ALICE, {"port_pair_groups": [g, g]})
    assert "Duplicate items in the list" in e.message
    c = w.chain(groups=[g])
    rejects(w, HTTPBadRequest, 400, w.pc.update, ALICE, c["id"], {"port_pair_groups": [g, g]})


# --- stability across updates ---------------------------------------------------------------------


def test_reorder_keeps_every_label(w: World) -> None:
    g = groups(w, 3)
    c = w.chain(groups=g)
    before, exit_label = hops(w, c["id"]), exit_of(w, c["id"])
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [g[2], g[0], g[1]]})
    assert hops(w, c["id"]) == before
    assert list(hops(w, c["id"])) == [g[2], g[0], g[1]]  # stored in chain order
    assert exit_of(w, c["id"]) == exit_label


def test_insert_gives_only_the_new_group_a_label(w: World) -> None:
    g = groups(w, 3)
    c = w.chain(groups=[g[0], g[1]])  # 16, 17, exit 18
    other = w.chain(groups=[g[2]])  # 19, exit 20
    new = w.group()["id"]
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [g[0], new, g[1]]})
    assert hops(w, c["id"]) == {g[0]: 16, new: 21, g[1]: 17}
    assert exit_of(w, c["id"]) == 18
    assert (hops(w, other["id"]), exit_of(w, other["id"])) == ({g[2]: 19}, 20)
    assert_invariants(w)


def test_removed_groups_release_their_labels(w: World) -> None:
    g = groups(w, 3)
    c = w.chain(groups=g)  # 16, 17, 18, exit 19
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [g[0], g[2]]})
    assert (hops(w, c["id"]), exit_of(w, c["id"])) == ({g[0]: 16, g[2]: 18}, 19)
    later = w.chain(groups=[w.group()["id"]])
    assert sorted(hops(w, later["id"]).values()) == [17]  # g[1]'s label is free again


def test_a_replaced_group_never_inherits_the_label_in_the_same_update(w: World) -> None:
    """Packets in flight with the removed group's label must not reach the group that replaced it."""
    g = groups(w, 2)
    c = w.chain(groups=g)  # 16, 17, exit 18
    new = w.group()["id"]
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [new, g[1]]})
    assert hops(w, c["id"]) == {new: 19, g[1]: 17}
    assert exit_of(w, c["id"]) == 18


def test_updates_that_leave_the_groups_alone_keep_the_labels(w: World) -> None:
    g = groups(w, 2)
    c = w.chain(groups=g, fcs=[w.classifier()["id"]])
    before = stored(w, c["id"])
    w.pc.update(ALICE, c["id"], {"name": "renamed", "flow_classifiers": []})
    after = stored(w, c["id"])
    assert (after[schema.HOP_LABELS], after[schema.EXIT_LABEL]) == (
        before[schema.HOP_LABELS],
        before[schema.EXIT_LABEL],
    )
    revision = w.store.revision()
    w.pc.update(ALICE, c["id"], {"name": "renamed", "port_pair_groups": g})
    assert w.store.revision() == revision  # nothing changed: nothing written


def test_delete_releases_every_label_for_reuse(w: World) -> None:
    a = w.chain(groups=groups(w, 2))  # 16, 17, exit 18
    b = w.chain(groups=groups(w, 1))  # 19, exit 20
    w.pc.delete(ALICE, a["id"])
    g = groups(w, 3)
    c = w.chain(groups=g)
    assert (hops(w, c["id"]), exit_of(w, c["id"])) == ({g[0]: 16, g[1]: 17, g[2]: 18}, 21)
    assert (list(hops(w, b["id"]).values()), exit_of(w, b["id"])) == ([19], 20)


_OPS = st.lists(
    st.tuples(st.sampled_from(["create", "put", "delete"]), st.integers(0, 3), st.permutations(range(5))),
    max_size=14,
)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS, sizes=st.lists(st.integers(1, 4), min_size=14, max_size=14))
def test_random_edits_keep_labels_unique_and_stable(ops: list[Any], sizes: list[int]) -> None:
    w = World()
    w.pc.quota = -1
    pool = [w.group()["id"] for _ in range(5)]
    for (op, slot, order), size in zip(ops, sizes, strict=False):
        chains = [r.value for r in w.store.list(schema.PORT_CHAIN)]
        wanted = [pool[i] for i in order[:size]]
        before = w.store.revision()
        try:
            _apply(w, op, chains[slot] if slot < len(chains) else None, wanted)
        except NeutronError:  # e.g. another chain already has exactly this list (rule 26)
            assert w.store.revision() == before
        assert_invariants(w)


def _apply(w: World, op: str, chain: JsonDict | None, wanted: list[str]) -> None:
    if op == "create" or chain is None:
        w.pc.create(ALICE, {"port_pair_groups": wanted})
    elif op == "delete":
        w.pc.delete(ALICE, chain["id"])
    else:
        w.pc.update(ALICE, chain["id"], {"port_pair_groups": wanted})
        after = stored(w, chain["id"])
        assert after[schema.EXIT_LABEL] == chain[schema.EXIT_LABEL]
        kept = {g: label for g, label in chain[schema.HOP_LABELS].items() if g in wanted}
        assert {g: after[schema.HOP_LABELS][g] for g in kept} == kept


# --- exhaustion -----------------------------------------------------------------------------------


def test_exhausted_labels_refuse_the_create_with_a_409(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sfc_labels, "MAX_LABEL", 20)  # 16..20: five labels
    c = w.chain(groups=groups(w, 2))  # three labels, the last two are left
    assert max(all_labels(w)) == 18
    g = groups(w, 2)
    e = rejects(w, err.PortChainUnavailableLabel, 409, w.pc.create, ALICE, {"port_pair_groups": g})
    assert "no available MPLS label" in e.message and "needs 3 new labels and only 2 of 16-20" in e.message
    last = w.chain(groups=[g[0]])  # needs exactly the two left
    assert (hops(w, last["id"]), exit_of(w, last["id"])) == ({g[0]: 19}, 20)
    rejects(w, err.PortChainUnavailableLabel, 409, w.pc.create, ALICE, {"port_pair_groups": [g[1]]})
    w.pc.delete(ALICE, c["id"])
    assert sorted(hops(w, w.chain(groups=[g[1]])["id"]).values()) == [16]


def test_exhausted_labels_refuse_a_whole_bulk(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sfc_labels, "MAX_LABEL", 19)
    g = groups(w, 3)
    bodies = [{"port_pair_groups": [g[0]]}, {"port_pair_groups": [g[1], g[2]]}]
    rejects(w, err.PortChainUnavailableLabel, 409, w.pc.create_bulk, ALICE, bodies)
    assert w.count(schema.PORT_CHAIN) == 0


def test_exhausted_labels_refuse_adding_a_group(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sfc_labels, "MAX_LABEL", 19)
    g = groups(w, 4)
    c = w.chain(groups=g[:3])  # 16..19: all of them
    body = {"port_pair_groups": [g[0], g[3], g[1], g[2]]}
    rejects(w, err.PortChainUnavailableLabel, 409, w.pc.update, ALICE, c["id"], body)
    # the freed label is not reused by the same update, so even a swap needs one more label
    swap = {"port_pair_groups": [g[3], g[1], g[2]]}
    rejects(w, err.PortChainUnavailableLabel, 409, w.pc.update, ALICE, c["id"], swap)
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [g[2], g[1]]})  # reorder and remove need none
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [g[2], g[3], g[1]]})  # g[0]'s label is free now
    assert (hops(w, c["id"]), exit_of(w, c["id"])) == ({g[2]: 18, g[3]: 16, g[1]: 17}, 19)


# --- hidden from clients --------------------------------------------------------------------------


def test_labels_appear_in_no_handler_response(w: World) -> None:
    g = groups(w, 2)
    responses = [w.chain(groups=g)]
    responses += w.pc.create_bulk(ALICE, [{"port_pair_groups": [g[1]]}])
    responses.append(w.pc.update(ALICE, responses[0]["id"], {"port_pair_groups": [g[1], g[0]]}))
    responses.append(w.pc.get(ALICE, responses[0]["id"]))
    responses += w.pc.list(ALICE, {})
    assert len(responses) == 6
    for body in responses:
        assert schema.HOP_LABELS not in body and schema.EXIT_LABEL not in body
    assert schema.HOP_LABELS in stored(w, responses[0]["id"])


@pytest.fixture
def client(w: World) -> Iterator[TestClient]:
    with TestClient(build_app(w.store, NoAuth(), [w.pc, w.ppg, w.pp])) as c:
        yield c


def test_labels_appear_in_no_rest_response(w: World, client: TestClient) -> None:
    base = "/v2.0/sfc/port_chains"
    g = w.group()["id"]  # the client acts as admin: it sees it
    made = client.post(base, json={schema.PORT_CHAIN: {"port_pair_groups": [g]}})
    assert made.status_code == 201, made.text
    cid = made.json()[schema.PORT_CHAIN]["id"]
    hidden = "fields=hop_labels&fields=exit_label"
    assert client.get(f"{base}/{cid}?{hidden}").json() == {schema.PORT_CHAIN: {}}
    assert client.get(f"{base}?{hidden}").json() == {"port_chains": [{}]}
    assert client.get(f"{base}/{cid}?{hidden}&fields=chain_id").json() == {schema.PORT_CHAIN: {"chain_id": 1}}
    updated = client.put(f"{base}/{cid}", json={schema.PORT_CHAIN: {"name": "x"}})
    assert updated.status_code == 200, updated.text
    responses = (made, updated, client.get(f"{base}/{cid}"), client.get(base), client.get("/openapi.json"))
    for resp in responses:
        assert schema.HOP_LABELS not in resp.text and schema.EXIT_LABEL not in resp.text


def test_labels_are_no_filter(w: World, client: TestClient) -> None:
    """Like any unknown key the filter is ignored, so it cannot be used to probe the labels."""
    g = w.group()["id"]  # the client acts as admin: it sees it
    client.post("/v2.0/sfc/port_chains", json={schema.PORT_CHAIN: {"port_pair_groups": [g]}})
    for query in ("exit_label=17", "exit_label=99", f"hop_labels={g}"):
        assert len(client.get(f"/v2.0/sfc/port_chains?{query}").json()["port_chains"]) == 1


@pytest.mark.parametrize("name", [schema.HOP_LABELS, schema.EXIT_LABEL])
def test_clients_cannot_set_labels(w: World, name: str) -> None:
    g = w.group()["id"]
    value: Any = {g: 16} if name == schema.HOP_LABELS else 16
    e = rejects(w, HTTPBadRequest, 400, w.pc.create, ALICE, {"port_pair_groups": [g], name: value})
    assert e.message == f"Attribute '{name}' not allowed in POST"
    c = w.chain(groups=[g])
    e = rejects(w, HTTPBadRequest, 400, w.pc.update, ALICE, c["id"], {name: value})
    assert e.message == f"Cannot update read-only attribute {name}"


def test_clients_cannot_set_labels_over_rest(w: World, client: TestClient) -> None:
    g = w.group()["id"]  # the client acts as admin: it sees it
    resp = client.post(
        "/v2.0/sfc/port_chains", json={schema.PORT_CHAIN: {"port_pair_groups": [g], schema.EXIT_LABEL: 5}}
    )
    assert resp.status_code == 400
    assert resp.json()["NeutronError"]["type"] == "HTTPBadRequest"
    assert w.count(schema.PORT_CHAIN) == 0


# --- chains stored before labels existed ----------------------------------------------------------


def _legacy_chain(w: World, groups_: list[str], **keep: Any) -> str:
    """A chain as an older steerflow stored it: no labels (or only those in `keep`)."""
    c = w.chain(groups=groups_)
    value = {k: v for k, v in stored(w, c["id"]).items() if k not in (schema.HOP_LABELS, schema.EXIT_LABEL)}
    w.store.commit([Put(schema.PORT_CHAIN, c["id"], {**value, **keep})])
    return str(c["id"])


def test_unlabelled_chains_are_served_and_labelled_on_their_next_update(w: World) -> None:
    g = groups(w, 3)
    old = _legacy_chain(w, g[:2])
    assert w.pc.get(ALICE, old)["port_pair_groups"] == g[:2]
    assert [c["id"] for c in w.pc.list(ALICE, {})] == [old]
    fresh = w.chain(groups=[g[2]])  # the unlabelled chain holds no label: 16 is free
    assert (hops(w, fresh["id"]), exit_of(w, fresh["id"])) == ({g[2]: 16}, 17)
    w.pc.update(ALICE, old, {"name": "touched"})
    assert (hops(w, old), exit_of(w, old)) == ({g[0]: 18, g[1]: 19}, 20)
    assert_invariants(w)
    w.pc.delete(ALICE, old)
    assert sorted(all_labels(w)) == [16, 17]


def test_a_partly_labelled_chain_keeps_what_it_has(w: World) -> None:
    g = groups(w, 2)
    old = _legacy_chain(w, g, hop_labels={g[1]: 40})
    w.pc.update(ALICE, old, {"port_pair_groups": [g[1], g[0]]})
    assert (hops(w, old), exit_of(w, old)) == ({g[1]: 40, g[0]: 16}, 17)


def test_an_unlabelled_chain_can_be_deleted(w: World) -> None:
    old = _legacy_chain(w, groups(w, 1))
    w.pc.delete(ALICE, old)
    assert w.count(schema.PORT_CHAIN) == 0
