"""Token mode over a real server: 401s, project isolation, admin reach, shared networks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from steerflow.model import schema
from steerflow.model.core import Chassis
from steerflow.nbdb.api import Put
from tests.builders.api_server import ApiServer, Rest, TokenFile

pytestmark = pytest.mark.server


@pytest.fixture
def clients(token_api_server: ApiServer, token_file: TokenFile) -> Iterator[dict[str, Rest]]:
    made = {
        "admin": Rest(token_api_server.url, token_file.admin),
        "alice": Rest(token_api_server.url, token_file.alice),
        "bob": Rest(token_api_server.url, token_file.bob),
        "anonymous": Rest(token_api_server.url),
        "forger": Rest(token_api_server.url, "not-a-token"),
    }
    yield made
    for client in made.values():
        client.close()


def error_type(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    kind: str = resp.json()["NeutronError"]["type"]
    return kind


def alice_world(alice: Rest) -> dict[str, Any]:
    net = alice.create("networks", name="alice-net")
    sub = alice.create("subnets", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    ports = [alice.create("ports", network_id=net["id"], device_id="vm-a") for _ in range(2)]
    return {"net": net, "sub": sub, "ports": ports}


def test_missing_or_unknown_token_is_401(clients: dict[str, Rest]) -> None:
    for name in ("anonymous", "forger"):
        http = clients[name].http
        for path in (
            "/v2.0/networks",
            "/v2.0/sfc/port_pairs",
            "/v2.0/extensions",
            "/v2.0/",
            "/v2.0/extensions/sfc",
        ):
            assert error_type(http.get(path), 401) == "Unauthorized"
        assert error_type(http.post("/v2.0/networks", json={schema.NETWORK: {}}), 401) == "Unauthorized"
        assert error_type(http.post("/v2.0/networks", content=b"{bad"), 401) == "Unauthorized"
        assert http.get("/").status_code == 200  # version discovery needs no token


def test_objects_belong_to_the_token_project(clients: dict[str, Rest]) -> None:
    world = alice_world(clients["alice"])
    assert world["net"]["project_id"] == world["net"]["tenant_id"] == "alice"
    assert world["ports"][0]["project_id"] == "alice"


def test_other_projects_objects_are_invisible(clients: dict[str, Rest], token_api_server: ApiServer) -> None:
    world = alice_world(clients["alice"])
    bob = clients["bob"]
    before = token_api_server.store.snapshot()
    for collection in ("networks", "subnets", "ports"):
        assert bob.list(collection) == []
    targets = {"networks": world["net"], "subnets": world["sub"], "ports": world["ports"][0]}
    for collection, obj in targets.items():
        kind = collection[:-1].capitalize()
        path = bob.path(collection, obj["id"])
        assert error_type(bob.http.get(path), 404) == f"{kind}NotFound"
        assert (
            error_type(bob.http.put(path, json={collection[:-1]: {"name": "mine"}}), 404) == f"{kind}NotFound"
        )
        assert error_type(bob.http.delete(path), 404) == f"{kind}NotFound"
    assert bob.list("ports", id=world["ports"][0]["id"]) == []
    assert token_api_server.store.snapshot() == before


def test_other_projects_objects_cannot_be_referenced(
    clients: dict[str, Rest], token_api_server: ApiServer
) -> None:
    world = alice_world(clients["alice"])
    bob = clients["bob"]
    before = token_api_server.store.snapshot()
    net_id, (p1, p2) = world["net"]["id"], world["ports"]
    subnet = {"network_id": net_id, "cidr": "10.1.0.0/24", "ip_version": 4}
    assert error_type(bob.http.post("/v2.0/subnets", json={schema.SUBNET: subnet}), 404) == "NetworkNotFound"
    port = {"network_id": net_id}
    assert error_type(bob.http.post("/v2.0/ports", json={schema.PORT: port}), 404) == "NetworkNotFound"
    pair = {"ingress": p1["id"], "egress": p2["id"]}
    resp = bob.http.post("/v2.0/sfc/port_pairs", json={schema.PORT_PAIR: pair})
    assert error_type(resp, 404) == "PortPairPortNotFound"
    classifier = {"logical_source_port": p1["id"]}
    resp = bob.http.post("/v2.0/sfc/flow_classifiers", json={schema.FLOW_CLASSIFIER: classifier})
    assert error_type(resp, 404) == "FlowClassifierPortNotFound"
    assert token_api_server.store.snapshot() == before


def test_member_cannot_act_for_another_project(clients: dict[str, Rest], token_api_server: ApiServer) -> None:
    before = token_api_server.store.snapshot()
    for key in ("project_id", "tenant_id"):
        resp = clients["bob"].http.post("/v2.0/networks", json={schema.NETWORK: {key: "alice"}})
        assert resp.status_code in (400, 403), resp.text
        assert "NeutronError" in resp.json()
    assert token_api_server.store.snapshot() == before


def test_admin_sees_all_and_creates_for_any_project(clients: dict[str, Rest]) -> None:
    admin, alice, bob = clients["admin"], clients["alice"], clients["bob"]
    world = alice_world(alice)
    for_bob = admin.create("networks", name="given", project_id="bob")
    for_bob_too = admin.create("networks", name="given2", tenant_id="bob")
    assert (for_bob["project_id"], for_bob_too["project_id"]) == ("bob", "bob")
    assert sorted(n["name"] for n in admin.list("networks")) == ["alice-net", "given", "given2"]
    assert admin.http.get(admin.path("ports", world["ports"][0]["id"])).status_code == 200
    assert sorted(n["name"] for n in bob.list("networks")) == ["given", "given2"]
    assert [n["name"] for n in alice.list("networks")] == ["alice-net"]
    # a port the admin makes for bob on bob's network is bob's
    port = admin.create("ports", network_id=for_bob["id"], project_id="bob")
    assert bob.http.get(bob.path("ports", port["id"])).status_code == 200


def test_shared_network_is_usable_but_not_changeable_by_others(clients: dict[str, Rest]) -> None:
    alice, bob = clients["alice"], clients["bob"]
    net = alice.create("networks", name="shared", shared=True)
    alice.create("subnets", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    assert [n["id"] for n in bob.list("networks")] == [net["id"]]
    port = bob.create("ports", network_id=net["id"])
    assert (port["project_id"], port["fixed_ips"][0]["ip_address"]) == ("bob", "10.0.0.2")
    net_path = bob.path("networks", net["id"])
    assert (
        error_type(bob.http.put(net_path, json={schema.NETWORK: {"name": "x"}}), 403) == "PolicyNotAuthorized"
    )
    assert error_type(bob.http.delete(net_path), 403) == "PolicyNotAuthorized"
    subnet = {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4}
    assert (
        error_type(bob.http.post("/v2.0/subnets", json={schema.SUBNET: subnet}), 403) == "PolicyNotAuthorized"
    )
    unshare = alice.http.put(alice.path("networks", net["id"]), json={schema.NETWORK: {"shared": False}})
    assert error_type(unshare, 409) == "InvalidSharedSetting"
    assert alice.list("ports") == []  # bob's port on alice's network is still bob's alone


def test_chassis_are_visible_to_admin_only(clients: dict[str, Rest], token_api_server: ApiServer) -> None:
    chassis = Chassis.from_dict({"name": "hv1", "underlay_ip": "192.0.2.1"})
    token_api_server.store.commit([Put(schema.CHASSIS, chassis.id, chassis.to_dict())])
    assert [
        c["name"] for c in clients["admin"].http.get("/v2.0/steerflow/chassis").json()[schema.CHASSIS]
    ] == ["hv1"]
    assert clients["alice"].http.get("/v2.0/steerflow/chassis").json()[schema.CHASSIS] == []
    assert error_type(clients["alice"].http.get("/v2.0/steerflow/chassis/hv1"), 404) == "ChassisNotFound"
