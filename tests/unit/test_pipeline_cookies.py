"""Cookies say what they point to: each compiled flow's cookie maps back to the NB object owning it."""

from __future__ import annotations

import uuid

import pytest

from steerflow.compiler.compile import compile_nb
from steerflow.compiler.tables import INGRESS_PORT, L2_LOOKUP, SFC_DELIVER
from steerflow.model import schema
from steerflow.pipeline.cookies import OWNER_KINDS, CookieKind, Owner, cookie, cookie_kind, owner, owners
from tests.builders.pipeline_scenarios import TUNNEL, compiled_states, four_hops, l2, scenarios

SCENARIOS = {s.name: s for s in scenarios()}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_flow_but_infrastructure_maps_back_to_an_nb_object_of_its_scenario(name: str) -> None:
    docs = SCENARIOS[name].docs
    for chassis, state in compiled_states(SCENARIOS[name]):
        cookies = {flow.cookie for flow in state.flows.values()}
        found = owners(docs, cookies)
        for value in cookies:
            kind = cookie_kind(value)
            assert kind is not None, f"{name} on {chassis}: cookie {value:#x} has no kind"
            if kind is CookieKind.INFRA:
                assert found[value] is None
                continue
            named = found[value]
            assert named is not None, f"{name} on {chassis}: {kind.name} cookie {value:#x} owns nothing"
            assert named == owner(value, docs)
            assert named.kind == OWNER_KINDS[kind]


def test_network_flows_hash_the_network_id_not_its_vni() -> None:
    docs = l2().docs
    flows = compile_nb(docs, "ch1", TUNNEL).flows.values()
    lookups = {f.cookie for f in flows if f.table == L2_LOOKUP}
    assert lookups == {cookie(CookieKind.NETWORK, "net-a"), cookie(CookieKind.NETWORK, "net-b")}
    assert owner(cookie(CookieKind.NETWORK, "net-b"), docs) == Owner(
        schema.NETWORK, "net-b", CookieKind.NETWORK
    )
    tunnels = {owner(f.cookie, docs) for f in flows if f.table == INGRESS_PORT and f.match.get("tunnel_id")}
    assert tunnels == {Owner(schema.NETWORK, n, CookieKind.TUNNEL) for n in ("net-a", "net-b")}


def test_deliveries_name_their_port_pair_and_hops_their_group() -> None:
    docs = four_hops("mpls").docs
    flows = compile_nb(docs, "ch1", TUNNEL).flows.values()
    deliveries = {owner(f.cookie, docs) for f in flows if f.table == SFC_DELIVER}
    assert deliveries == {
        Owner(schema.PORT_PAIR, pair, CookieKind.INSTANCE) for pair in ("a-ch1", "a-ch2", "u-ch1", "u-ch2")
    }
    by_kind = {o.cookie_kind: o.kind for f in flows if (o := owner(f.cookie, docs)) is not None}
    assert by_kind[CookieKind.HOP] == schema.PORT_PAIR_GROUP
    assert by_kind[CookieKind.CLASSIFIER] == schema.FLOW_CLASSIFIER
    assert by_kind[CookieKind.CHAIN] == schema.PORT_CHAIN


def test_a_uuid_id_keeps_its_low_bits_and_any_id_hashes_alike_everywhere() -> None:
    pid = str(uuid.uuid4())
    assert cookie(CookieKind.PORT, pid) & ((1 << 56) - 1) == uuid.UUID(pid).int & ((1 << 56) - 1)
    assert cookie(CookieKind.PORT, "net-a") != cookie(CookieKind.NETWORK, "net-a")
    assert owner(cookie(CookieKind.PORT, pid), {schema.PORT: {pid: {}}}) == Owner(
        schema.PORT, pid, CookieKind.PORT
    )


def test_infrastructure_unknown_kinds_and_missing_objects_map_to_nothing() -> None:
    docs: dict[str, dict[str, dict[str, str]]] = {schema.PORT: {"p1": {}}, schema.NETWORK: {"n1": {}}}
    assert owner(cookie(CookieKind.INFRA), docs) is None
    assert owner(0x7F << 56 | 5, docs) is None  # no such kind
    assert owner(0, docs) is None
    assert owner(cookie(CookieKind.PORT, "p2"), docs) is None  # deleted since, or never there
    assert owner(cookie(CookieKind.PORT, "n1"), docs) is None  # a network's id under a port kind
    assert owners(docs, [cookie(CookieKind.ARP, "p1"), 0]) == {
        cookie(CookieKind.ARP, "p1"): Owner(schema.PORT, "p1", CookieKind.ARP),
        0: None,
    }
