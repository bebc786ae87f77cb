"""Neutron API conventions over a real server: discovery, envelopes, bulk, fields, filters, status codes."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from steerflow.model import schema
from steerflow.nbdb.url import open_store
from tests.builders.api_server import ApiServer, Rest
from tests.builders.servers import wait_until

pytestmark = pytest.mark.server


def test_version_discovery_and_resource_list(rest: Rest, api_server: ApiServer) -> None:
    root = rest.http.get("/")
    assert root.status_code == 200
    (version,) = root.json()["versions"]
    assert version["id"] == "v2.0" and version["status"] == "CURRENT"
    assert version["links"][0]["href"] == f"{api_server.url}/v2.0/"
    for path in ("/v2.0/", "/v2.0"):
        listed = rest.http.get(path).json()["resources"]
        assert [r["collection"] for r in listed] == ["networks", "subnets", "ports"]


def test_extensions_list_what_clients_probe(rest: Rest) -> None:
    for path in ("/v2.0/extensions", "/v2.0/extensions.json"):
        aliases = {e["alias"] for e in rest.http.get(path).json()["extensions"]}
        wanted = {"sfc", schema.FLOW_CLASSIFIER, schema.SERVICE_GRAPH, "networking-sfc-tap"}
        assert wanted | {"port-security", "binding", "project-id"} <= aliases
    one = rest.http.get("/v2.0/extensions/sfc")
    assert one.status_code == 200
    assert one.json()["extension"]["name"] == "Service Function Chaining"
    missing = rest.http.get("/v2.0/extensions/tag-ports-during-bulk-creation")
    assert missing.status_code == 404
    assert missing.json()["NeutronError"]["type"] == "ExtensionNotFound"


def test_singular_create_show_update_delete_codes(rest: Rest) -> None:
    created = rest.http.post("/v2.0/networks", json={schema.NETWORK: {"name": "n1"}})
    assert created.status_code == 201
    net = created.json()[schema.NETWORK]
    assert net["project_id"] == net["tenant_id"] == "default"
    assert (net["status"], net["admin_state_up"], net["shared"]) == ("ACTIVE", True, False)
    assert net["subnets"] == []
    shown = rest.http.get(f"/v2.0/networks/{net['id']}")
    assert (shown.status_code, shown.json()) == (200, {schema.NETWORK: net})
    updated = rest.http.put(
        f"/v2.0/networks/{net['id']}", json={schema.NETWORK: {"name": "n2", "mtu": "1400"}}
    )
    assert updated.status_code == 200
    assert (updated.json()[schema.NETWORK]["name"], updated.json()[schema.NETWORK]["mtu"]) == ("n2", 1400)
    deleted = rest.http.delete(f"/v2.0/networks/{net['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = rest.http.get(f"/v2.0/networks/{net['id']}")
    assert gone.status_code == 404
    assert gone.json()["NeutronError"]["type"] == "NetworkNotFound"


def test_json_suffix_and_trailing_slash_are_accepted(rest: Rest) -> None:
    net = rest.create("networks", name="suffixed")
    assert rest.http.get("/v2.0/networks.json").json()["networks"][0]["id"] == net["id"]
    assert rest.http.get(f"/v2.0/networks/{net['id']}.json").json()[schema.NETWORK]["name"] == "suffixed"
    assert rest.http.post("/v2.0/networks.json", json={schema.NETWORK: {}}).status_code == 201
    # so is a trailing slash on a collection, as Neutron's router allows
    assert len(rest.http.get("/v2.0/networks/").json()["networks"]) == 2
    assert rest.http.post("/v2.0/networks/", json={schema.NETWORK: {}}).status_code == 201
    assert rest.http.get("/v2.0/extensions/").status_code == 200


def test_bulk_create_accepts_both_item_forms(rest: Rest) -> None:
    body = {"networks": [{"name": "b1"}, {schema.NETWORK: {"name": "b2"}}]}
    resp = rest.http.post("/v2.0/networks", json=body)
    assert resp.status_code == 201
    assert [n["name"] for n in resp.json()["networks"]] == ["b1", "b2"]
    assert sorted(n["name"] for n in rest.list("networks")) == ["b1", "b2"]


def test_bulk_create_is_all_or_nothing(rest: Rest, api_server: ApiServer) -> None:
    net = rest.create("networks", name="n")
    rest.create("subnets", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    store = open_store(api_server.nb_url)
    try:
        before = store.revision()
        ports = [
            {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.10"}]},
            {"network_id": net["id"]},
            {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.10"}]},  # taken by the first
        ]
        resp = rest.http.post("/v2.0/ports", json={"ports": ports})
        assert resp.status_code == 409
        assert resp.json()["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
        assert store.revision() == before  # nothing written, not even temporarily
        assert store.list(schema.PORT) == []
    finally:
        store.close()


def test_bulk_items_see_each_other(rest: Rest) -> None:
    """Later items of one bulk request are checked against the earlier ones (MACs, addresses)."""
    net = rest.create("networks", name="n")
    rest.create("subnets", network_id=net["id"], cidr="10.0.0.0/29", ip_version=4)
    resp = rest.http.post("/v2.0/ports", json={"ports": [{"network_id": net["id"]} for _ in range(5)]})
    assert resp.status_code == 201
    addresses = [p["fixed_ips"][0]["ip_address"] for p in resp.json()["ports"]]
    assert addresses == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    assert len({p["mac_address"] for p in resp.json()["ports"]}) == 5


def test_fields_select_attributes_like_neutron(rest: Rest) -> None:
    net = rest.create("networks", name="f1")
    listed = rest.http.get("/v2.0/networks", params={"fields": "name"}).json()["networks"]
    assert listed == [{"name": "f1"}]  # id is not added when not asked for
    both = rest.http.get("/v2.0/networks", params=[("fields", "id"), ("fields", "name")]).json()
    assert both["networks"] == [{"id": net["id"], "name": "f1"}]
    assert rest.http.get("/v2.0/networks", params={"fields": "bogus"}).json()["networks"] == [{}]
    assert rest.http.get("/v2.0/networks", params={"fields": ""}).json()["networks"] == [net]
    one = rest.http.get(f"/v2.0/networks/{net['id']}", params={"fields": "mtu"})
    assert one.json() == {schema.NETWORK: {"mtu": 1442}}


def test_filters_equality_or_and_unknown_ignored(rest: Rest) -> None:
    for name, shared in (("a", True), ("b", False), ("c", False)):
        rest.create("networks", name=name, shared=shared)

    def names(*params: tuple[str, str]) -> list[str]:
        resp = rest.http.get("/v2.0/networks", params=list(params))
        assert resp.status_code == 200, resp.text
        return sorted(n["name"] for n in resp.json()["networks"])

    assert names(("name", "a")) == ["a"]
    assert names(("name", "a"), ("name", "c")) == ["a", "c"]
    assert names(("name", "zzz")) == []
    assert names(("bogus", "1")) == ["a", "b", "c"]
    assert names(("name", "b"), ("bogus", "1")) == ["b"]
    assert names(("shared", "true")) == ["a"]
    assert names(("shared", "False")) == ["b", "c"]
    assert names(("tenant_id", "default"), ("project_id", "default")) == ["a", "b", "c"]
    bad = rest.http.get("/v2.0/networks", params={"shared": "maybe"})
    assert bad.status_code == 400
    assert bad.json()["NeutronError"]["type"] == "InvalidInput"


def test_project_id_and_tenant_id_both_accepted(rest: Rest) -> None:
    by_project = rest.create("networks", name="p", project_id="other")
    by_tenant = rest.create("networks", name="t", tenant_id="other")
    assert by_project["tenant_id"] == by_tenant["project_id"] == "other"
    clash = rest.http.post("/v2.0/networks", json={schema.NETWORK: {"tenant_id": "x", "project_id": "y"}})
    assert clash.status_code == 400
    assert clash.json()["NeutronError"]["message"] == "'project_id' and 'tenant_id' do not match"


def test_put_of_read_only_attribute_is_refused(rest: Rest) -> None:
    net = rest.create("networks", name="ro")
    for attr, value in (("id", str(uuid.uuid4())), ("tenant_id", "x"), ("status", "DOWN")):
        resp = rest.http.put(f"/v2.0/networks/{net['id']}", json={schema.NETWORK: {attr: value}})
        assert resp.status_code == 400
        assert resp.json()["NeutronError"]["message"].startswith(f"Cannot update read-only attribute {attr}")
    bulk = rest.http.put(f"/v2.0/networks/{net['id']}", json={"networks": [{"name": "x"}]})
    assert bulk.status_code == 400
    assert bulk.json()["NeutronError"]["message"] == "Bulk operation not supported"


def test_every_request_is_logged(rest: Rest, api_server: ApiServer) -> None:
    rest.create("networks", name="logged")
    rest.http.get("/v2.0/networks/nope")

    def access_lines() -> list[str]:
        return [ln for ln in api_server.log_text().splitlines() if "steerflow.rest.access" in ln]

    # a server writes its access line once the answer is on its way: the file may lag the answer a little
    # (two servers behind a balancer: each request's line is in the log of the one that answered it)
    wait_until(
        lambda: any("GET /v2.0/networks/nope 404" in ln for ln in access_lines()),
        what="the 404's access line",
    )
    assert any("POST /v2.0/networks 201" in ln and ln.endswith("ms") for ln in access_lines())


def test_openapi_document_describes_every_resource(rest: Rest) -> None:
    doc = rest.http.get("/openapi.json").json()
    for path in ("/v2.0/networks", "/v2.0/networks/{id}", "/v2.0/ports", "/v2.0/subnets"):
        assert path in doc["paths"]
    post = doc["paths"]["/v2.0/ports"]["post"]
    assert "201" in post["responses"] and "409" in post["responses"]
    schemas = doc["components"]["schemas"]
    assert schemas["PortCreate"]["required"] == ["network_id"]
    assert schemas["SubnetCreate"]["required"] == ["network_id", "ip_version", "cidr"]
    assert {"type": "boolean"} in schemas["Network"]["properties"]["admin_state_up"]["anyOf"]
    assert "name" in schemas["NetworkUpdate"]["properties"]
    assert "network_id" not in schemas["PortUpdate"]["properties"]
    assert "NeutronError" in schemas
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs and refs <= set(schemas), refs - set(schemas)  # every reference resolves
    page = rest.http.get("/docs")
    assert page.status_code == 200 and "openapi.json" in page.text
