"""A symmetric chain's hidden reverse labels: allocated with the forward ones, stable, unique, secret."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from steerflow.api.errors import HTTPBadRequest
from steerflow.model import schema
from steerflow.rest.app import build_app
from steerflow.rest.auth import NoAuth
from tests.builders.sfc_world import (
    ALICE,
    World,
    all_labels,
    assert_invariants,
    groups,
    hops,
    rejects,
    stored,
)

with warnings.catch_warnings():  # starlette's TestClient nags about httpx; the client is fine
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SYMMETRIC: dict[str, Any] = {"chain_parameters": {"symmetric": True}}


@pytest.fixture
def w() -> World:
    world = World()
    world.pc.quota = world.ppg.quota = world.pp.quota = -1
    return world


def reverse(w: World, chain_id: str) -> tuple[dict[str, int], int]:
    value = stored(w, chain_id)
    return dict(value[schema.REVERSE_HOP_LABELS]), int(value[schema.REVERSE_EXIT_LABEL])


def test_a_symmetric_chain_gets_reverse_labels_after_the_forward_ones(w: World) -> None:
    g = groups(w, 2)
    c = w.chain(groups=g, **SYMMETRIC)
    assert hops(w, c["id"]) == {g[0]: 16, g[1]: 17}
    assert reverse(w, c["id"]) == ({g[0]: 19, g[1]: 20}, 21)
    assert sorted(all_labels(w)) == list(range(16, 22))
    assert_invariants(w)


def test_an_asymmetric_chain_has_no_reverse_labels(w: World) -> None:
    c = w.chain(groups=groups(w, 2))
    assert schema.REVERSE_HOP_LABELS not in stored(w, c["id"])
    assert schema.REVERSE_EXIT_LABEL not in stored(w, c["id"])


def test_reverse_labels_are_unique_across_chains(w: World) -> None:
    shared = w.group()["id"]
    w.chain(groups=[shared, w.group()["id"]], **SYMMETRIC)
    w.chain(groups=[w.group()["id"], shared], **SYMMETRIC)
    w.chain(groups=[w.group()["id"]])
    labels = all_labels(w)
    assert len(labels) == len(set(labels)) == 6 + 6 + 2


def test_reverse_labels_are_stable_over_reorder_and_insert(w: World) -> None:
    g = groups(w, 3)
    c = w.chain(groups=g[:2], **SYMMETRIC)
    before, exit_before = reverse(w, c["id"])
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [g[1], g[2], g[0]]})
    after, exit_after = reverse(w, c["id"])
    assert exit_after == exit_before
    assert {k: after[k] for k in g[:2]} == before
    assert after[g[2]] not in set(before.values()) | {exit_before}
    assert_invariants(w)


def test_removed_groups_release_their_reverse_labels(w: World) -> None:
    g = groups(w, 2)
    c = w.chain(groups=g, **SYMMETRIC)
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [g[0]]})
    assert list(reverse(w, c["id"])[0]) == [g[0]]
    w.pc.delete(ALICE, c["id"])
    assert all_labels(w) == []


def test_reverse_labels_appear_in_no_response(w: World) -> None:
    g = w.group()["id"]
    c = w.chain(groups=[g], **SYMMETRIC)
    for body in (c, w.pc.get(ALICE, c["id"]), *w.pc.list(ALICE, {})):
        assert schema.REVERSE_HOP_LABELS not in body and schema.REVERSE_EXIT_LABEL not in body
    assert schema.REVERSE_HOP_LABELS in stored(w, c["id"])


@pytest.mark.parametrize("name", [schema.REVERSE_HOP_LABELS, schema.REVERSE_EXIT_LABEL])
def test_clients_cannot_set_reverse_labels(w: World, name: str) -> None:
    g = w.group()["id"]
    value: Any = {g: 16} if name == schema.REVERSE_HOP_LABELS else 16
    e = rejects(
        w, HTTPBadRequest, 400, w.pc.create, ALICE, {"port_pair_groups": [g], name: value, **SYMMETRIC}
    )
    assert e.message == f"Attribute '{name}' not allowed in POST"


@pytest.fixture
def client(w: World) -> Iterator[TestClient]:
    with TestClient(build_app(w.store, NoAuth(), [w.pc, w.ppg, w.pp])) as c:
        yield c


def test_reverse_labels_are_neither_shown_nor_filters_over_rest(w: World, client: TestClient) -> None:
    base = "/v2.0/sfc/port_chains"
    g = w.group()["id"]
    made = client.post(base, json={schema.PORT_CHAIN: {"port_pair_groups": [g], **SYMMETRIC}})
    assert made.status_code == 201, made.text
    cid = made.json()[schema.PORT_CHAIN]["id"]
    hidden = f"fields={schema.REVERSE_HOP_LABELS}&fields={schema.REVERSE_EXIT_LABEL}"
    assert client.get(f"{base}/{cid}?{hidden}").json() == {schema.PORT_CHAIN: {}}
    for resp in (made, client.get(f"{base}/{cid}"), client.get(base), client.get("/openapi.json")):
        assert schema.REVERSE_HOP_LABELS not in resp.text and schema.REVERSE_EXIT_LABEL not in resp.text
    for query in (
        f"{schema.REVERSE_EXIT_LABEL}=18",
        f"{schema.REVERSE_EXIT_LABEL}=99",
        f"{schema.REVERSE_HOP_LABELS}={g}",
    ):
        assert len(client.get(f"{base}?{query}").json()["port_chains"]) == 1
