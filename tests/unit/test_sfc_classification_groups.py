"""Classifications and classification groups over the API: validation, expansion, in-use, conflicts."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from steerflow.api import sfc_errors as err
from steerflow.api.errors import HTTPBadRequest
from steerflow.model import schema
from steerflow.rest.app import build_app
from steerflow.rest.auth import NoAuth
from tests.builders.sfc_world import ADMIN, ALICE, BOB, UNKNOWN, World, rejects

with warnings.catch_warnings():  # starlette's TestClient nags about httpx; the client is fine
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def w() -> World:
    return World()


def classification(w: World, c_type: str, ctx: Any = ALICE, **definition: Any) -> str:
    return str(w.cls.create(ctx, {"type": c_type, "definition": definition})["id"])


def group(w: World, operator: str, classifications: list[str], groups: list[str] | None = None,
          ctx: Any = ALICE, **body: Any) -> str:  # fmt: skip
    body = {
        "operator": operator,
        "classifications": classifications,
        "classification_groups": groups or [],
    } | body
    return str(w.cg.create(ctx, body)["id"])


def terms(w: World, group_id: str) -> Any:
    return w.store.get(schema.CLASSIFICATION_GROUP, group_id).value[schema.MATCH_TERMS]  # type: ignore[union-attr]


# --- classifications ----------------------------------------------------------------------------------


def test_a_classification_shows_what_was_given_with_defaults(w: World) -> None:
    made = w.cls.create(ALICE, {"type": "udp", "definition": {"dst_port_min": 53, "dst_port_max": 53}})
    assert made == {
        "id": made["id"],
        "name": "",
        "description": "",
        "tenant_id": "alice",
        "project_id": "alice",
        "shared": False,
        "type": "udp",
        "definition": {"dst_port_min": 53, "dst_port_max": 53},
        "negated": False,
    }
    assert w.cls.get(ALICE, made["id"]) == made


BAD_DEFINITIONS = [
    ("ethernet", {"src_addr": "02:00:00:00:00"}, "is not a MAC address"),
    ("ethernet", {"ethertype": 0x05FF}, "is not an integer in 1536-65535"),
    ("ethernet", {"vlan_id": 4096}, "is not an integer in 0-4095"),
    ("ethernet", {"vlan_id": True}, "is not an integer"),
    ("ipv4", {"src_addr": "2001:db8::/64"}, "is not an IPv4 address or prefix"),
    ("ipv4", {"dst_addr": "10.0.0.0/33"}, "is not an IPv4 address or prefix"),
    ("ipv4", {"dscp": 64}, "is not an integer in 0-63"),
    ("ipv4", {"dscp": "46"}, "is not an integer in 0-63"),
    ("ipv4", {"dscp": 46, "dscp_mask": 0x38}, "only 63 is possible"),
    ("ipv4", {"ecn": 4}, "is not an integer in 0-3"),
    ("ipv4", {"protocol": 256}, "is not an integer in 0-255"),
    ("ipv4", {"ttl_min": 2}, "keys ttl_min are not supported"),
    ("ipv4", {"length_min": 100, "flags": 2}, "keys flags, length_min are not supported"),
    ("ipv6", {"src_addr": "10.0.0.1"}, "is not an IPv6 address or prefix"),
    ("ipv6", {"traffic_class": 184, "traffic_class_mask": 0xF0}, "only 0xff, 0xfc (DSCP) or 0x03 (ECN)"),
    ("ipv6", {"traffic_class_mask": 0xFF}, "traffic_class_mask needs traffic_class"),
    ("ipv6", {"traffic_class": 184, "dscp": 46}, "traffic_class and dscp both set the traffic class"),
    ("ipv6", {"hops_min": 1}, "keys hops_min are not supported"),
    ("tcp", {"src_port_min": 90, "src_port_max": 80}, "src_port_min 90 is above src_port_max 80"),
    ("tcp", {"dst_port_max": 65536}, "is not an integer in 0-65535"),
    ("tcp", {"flags": 0x12, "flags_mask": 0x02}, "set bits outside flags_mask"),
    ("tcp", {"flags_mask": 0x02}, "flags_mask needs flags"),
    ("tcp", {"flags": 0x1000}, "is not an integer in 0-4095"),
    ("tcp", {"window_min": 10}, "keys window_min are not supported"),
    ("udp", {"length_max": 100}, "keys length_max are not supported"),
    ("udp", {"flags": 2}, "keys flags are not supported"),
]


@pytest.mark.parametrize(("c_type", "definition", "reason"), BAD_DEFINITIONS)
def test_a_definition_that_cannot_be_compiled_is_a_400_naming_why(
    w: World, c_type: str, definition: dict[str, Any], reason: str
) -> None:
    body = {"type": c_type, "definition": definition}
    error = rejects(w, err.InvalidClassificationDefinition, 400, w.cls.create, ALICE, body)
    assert reason in str(error) and f"Invalid {c_type} classification definition" in str(error)
    assert w.count(schema.CLASSIFICATION) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "sctp", "definition": {}}, "Invalid input for type. Reason: sctp is not in valid_values"),
        (
            {"type": "udp", "definition": [1]},
            "Invalid input for definition. Reason: '[1]' is not a dictionary",
        ),
        ({"type": "udp"}, "Required attribute 'definition' not specified"),
        ({"definition": {}}, "Required attribute 'type' not specified"),
        ({"type": "udp", "definition": {}, "negated": True}, "negated classifications cannot be compiled"),
        ({"type": "udp", "definition": {}, "negated": "maybe"}, "'maybe' cannot be converted to boolean"),
    ],
)
def test_malformed_classifications_are_refused(w: World, body: dict[str, Any], reason: str) -> None:
    error = rejects(w, type(_expected_class(body)), 400, w.cls.create, ALICE, body)
    assert reason in str(error)


def _expected_class(body: dict[str, Any]) -> Exception:
    from steerflow.api.errors import InvalidInput

    return InvalidInput(error_message="") if body.get("negated") == "maybe" else HTTPBadRequest(msg="")


def test_only_names_and_descriptions_change(w: World) -> None:
    cid = classification(w, "udp", dst_port_min=53)
    assert w.cls.update(ALICE, cid, {"name": "dns"})["name"] == "dns"
    for key, value in (("definition", {}), ("type", "tcp"), ("negated", False), ("shared", True)):
        error = rejects(w, HTTPBadRequest, 400, w.cls.update, ALICE, cid, {key: value})
        assert f"Cannot update read-only attribute {key}" in str(error)


# --- groups ---------------------------------------------------------------------------------------------


def test_an_or_group_keeps_each_alternative_and_an_and_group_merges_them(w: World) -> None:
    dns = classification(w, "udp", dst_port_min=53, dst_port_max=53)
    mdns = classification(w, "udp", dst_port_min=5353, dst_port_max=5353)
    ef = classification(w, "ipv4", dscp=46)
    either = group(w, "OR", [dns, mdns])
    assert terms(w, either) == [
        {"ip_proto": 17, "udp_dst": [53, 53]},
        {"ip_proto": 17, "udp_dst": [5353, 5353]},
    ]
    both = group(w, "AND", [ef], [either])
    assert terms(w, both) == [
        {"eth_type": 0x0800, "ip_dscp": 46, "ip_proto": 17, "udp_dst": [53, 53]},
        {"eth_type": 0x0800, "ip_dscp": 46, "ip_proto": 17, "udp_dst": [5353, 5353]},
    ]
    shown = w.cg.get(ALICE, both)
    assert shown["operator"] == "AND" and shown["classification_groups"] == [either]
    assert schema.MATCH_TERMS not in shown


def test_a_group_defaults_to_and(w: World) -> None:
    made = w.cg.create(ALICE, {"classifications": [classification(w, "tcp", flags=2)]})
    assert made["operator"] == "AND" and made["classification_groups"] == [] and made["shared"] is False


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        (("ipv4", {}), ("ipv6", {}), "eth_type"),
        (("tcp", {}), ("udp", {}), "ip_proto"),
        (("ipv4", {"dscp": 10}), ("ipv4", {"dscp": 12}), "ip_dscp"),
        (("ipv4", {"src_addr": "10.0.0.0/24"}), ("ipv4", {"src_addr": "10.0.1.0/24"}), "ipv4_src"),
        (("tcp", {"dst_port_min": 1, "dst_port_max": 10}), ("tcp", {"dst_port_min": 11}), "tcp_dst"),
        (("tcp", {"flags": 2, "flags_mask": 2}), ("tcp", {"flags": 0, "flags_mask": 2}), "tcp_flags"),
        (("ethernet", {"ethertype": 0x0806}), ("ipv4", {}), "eth_type"),
        (("ipv4", {"protocol": 1}), ("tcp", {}), "ip_proto"),
    ],
)
def test_an_and_of_contradicting_fields_is_a_400_naming_the_field(
    w: World, first: tuple[str, dict[str, Any]], second: tuple[str, dict[str, Any]], field: str
) -> None:
    ids = [classification(w, first[0], **first[1]), classification(w, second[0], **second[1])]
    body = {"operator": "AND", "classifications": ids}
    error = rejects(w, err.InvalidClassificationGroup, 400, w.cg.create, ALICE, body)
    assert f"they set {field} differently" in str(error)
    assert group(w, "OR", ids)  # the same members ORed are fine


def test_an_and_keeps_the_combinations_that_can_match(w: World) -> None:
    either = group(w, "OR", [classification(w, "tcp"), classification(w, "udp")])
    web = classification(w, "tcp", dst_port_min=80, dst_port_max=80)
    assert terms(w, group(w, "AND", [web], [either])) == [{"ip_proto": 6, "tcp_dst": [80, 80]}]


def test_the_expansion_is_bounded(w: World) -> None:
    def ports(side: str, n: int) -> str:
        return group(w, "OR", [classification(w, "tcp", **{f"{side}_port_min": p, f"{side}_port_max": p})
                               for p in range(1, n + 1)])  # fmt: skip

    sources, destinations, nine = ports("src", 8), ports("dst", 8), ports("dst", 9)
    assert len(terms(w, group(w, "AND", [], [sources, destinations]))) == 64
    body = {"operator": "AND", "classification_groups": [sources, nine]}
    error = rejects(w, err.InvalidClassificationGroup, 400, w.cg.create, ALICE, body)
    assert "more than 64 alternatives" in str(error)


def test_an_empty_or_unknown_membership_is_refused(w: World) -> None:
    rejects(w, err.InvalidClassificationGroup, 400, w.cg.create, ALICE, {"operator": "OR"})
    rejects(w, err.ClassificationNotFound, 404, w.cg.create, ALICE, {"classifications": [UNKNOWN]})
    rejects(w, err.ClassificationGroupNotFound, 404, w.cg.create, ALICE, {"classification_groups": [UNKNOWN]})
    bad = {"classifications": ["not-a-uuid"]}
    rejects(w, HTTPBadRequest, 400, w.cg.create, ALICE, bad)
    dup = classification(w, "tcp")
    rejects(w, HTTPBadRequest, 400, w.cg.create, ALICE, {"classifications": [dup, dup]})
    rejects(w, HTTPBadRequest, 400, w.cg.create, ALICE, {"classifications": [dup], "operator": "XOR"})


def test_what_is_used_cannot_be_deleted(w: World) -> None:
    cid = classification(w, "udp", dst_port_min=53, dst_port_max=53)
    inner = group(w, "OR", [cid])
    outer = group(w, "AND", [], [inner])
    fc = w.classifier(protocol="udp", classification_group_id=outer)
    rejects(w, err.ClassificationInUse, 409, w.cls.delete, ALICE, cid)
    error = rejects(w, err.ClassificationGroupInUse, 409, w.cg.delete, ALICE, inner)
    assert f"Classification Group {outer}" in str(error)
    error = rejects(w, err.ClassificationGroupInUse, 409, w.cg.delete, ALICE, outer)
    assert f"Flow Classifier {fc['id']}" in str(error)
    w.fc.delete(ALICE, fc["id"])
    w.cg.delete(ALICE, outer)
    w.cg.delete(ALICE, inner)
    w.cls.delete(ALICE, cid)
    assert w.count(schema.CLASSIFICATION) == w.count(schema.CLASSIFICATION_GROUP) == 0


def test_shared_objects_are_usable_by_every_project_but_changed_by_their_own(w: World) -> None:
    private = classification(w, "tcp")
    shared = str(w.cls.create(ALICE, {"type": "udp", "definition": {}, "shared": True})["id"])
    rejects(w, err.ClassificationNotFound, 404, w.cls.get, BOB, private)
    rejects(w, err.ClassificationNotFound, 404, w.cg.create, BOB, {"classifications": [private]})
    assert w.cls.get(BOB, shared)["shared"] is True
    bobs = group(w, "AND", [shared], ctx=BOB)
    rejects(w, err.ClassificationNotFound, 404, w.cls.delete, BOB, shared)
    rejects(w, err.ClassificationNotFound, 404, w.cls.update, BOB, shared, {"name": "mine"})
    rejects(w, err.ClassificationInUse, 409, w.cls.delete, ADMIN, shared)
    assert {c["id"] for c in w.cls.list(BOB, {})} == {shared}
    assert w.cg.get(BOB, bobs)["classifications"] == [shared]


# --- flow classifiers with a group ---------------------------------------------------------------------


def test_a_flow_classifier_shows_its_group_and_keeps_its_terms_hidden(w: World) -> None:
    cg = group(w, "OR", [classification(w, "ipv4", dscp=46)])
    fc = w.classifier(classification_group_id=cg)
    assert fc["classification_group_id"] == cg and schema.MATCH_TERMS not in fc
    stored = w.store.get(schema.FLOW_CLASSIFIER, fc["id"]).value  # type: ignore[union-attr]
    assert stored[schema.MATCH_TERMS] == [{"eth_type": 0x0800, "ip_dscp": 46}]
    assert w.fc.list(ALICE, {"classification_group_id": [cg]}) == [fc]
    error = rejects(w, HTTPBadRequest, 400, w.fc.update, ALICE, fc["id"], {"classification_group_id": None})
    assert "Cannot update read-only attribute classification_group_id" in str(error)


def test_a_flow_classifier_refuses_a_group_it_cannot_use(w: World) -> None:
    tcp = group(w, "AND", [classification(w, "tcp", dst_port_min=80, dst_port_max=80)])
    for ctx, group_id, exc, status in (
        (ALICE, UNKNOWN, err.ClassificationGroupNotFound, 404),
        (BOB, tcp, err.ClassificationGroupNotFound, 404),
        (ALICE, "nope", HTTPBadRequest, 400),
    ):
        rejects(w, exc, status, w.fc.create, ctx, {"classification_group_id": group_id})
    # its own fields and the group's contradict: udp vs tcp, other ports, IPv6 vs an IPv4 group
    other_ports = {"protocol": "tcp", "destination_port_range_min": 81, "destination_port_range_max": 90}
    for own in ({"protocol": "udp"}, {"protocol": "icmp"}, other_ports):
        body = {**own, "classification_group_id": tcp}
        rejects(w, err.FlowClassifierClassificationGroupConflict, 400, w.fc.create, ALICE, body)
    v4 = group(w, "AND", [classification(w, "ipv4", src_addr="10.9.0.0/16")])
    body = {"ethertype": "IPv6", "classification_group_id": v4}
    rejects(w, err.FlowClassifierClassificationGroupConflict, 400, w.fc.create, ALICE, body)
    body = {"source_ip_prefix": "10.8.0.0/16", "classification_group_id": v4}
    rejects(w, err.FlowClassifierClassificationGroupConflict, 400, w.fc.create, ALICE, body)
    # a group without a layer 3 type fits either ethertype
    assert w.fc.create(ALICE, {"ethertype": "IPv6", "classification_group_id": tcp})["ethertype"] == "IPv6"


def test_classifiers_whose_groups_match_different_packets_do_not_conflict(w: World) -> None:
    dns = group(w, "OR", [classification(w, "udp", dst_port_min=53, dst_port_max=53)])
    mdns = group(w, "OR", [classification(w, "udp", dst_port_min=5353, dst_port_max=5353)])
    both = group(w, "OR", [classification(w, "udp", dst_port_min=5353, dst_port_max=5353),
                           classification(w, "tcp", dst_port_min=22, dst_port_max=22)])  # fmt: skip
    common = {"source_ip_prefix": "10.0.0.0/24"}
    first = w.fc.create(ALICE, {**common, "classification_group_id": dns})
    w.fc.create(ALICE, {**common, "classification_group_id": mdns})
    error = rejects(w, err.FlowClassifierInConflict, 400, w.fc.create, ALICE,
                    {**common, "classification_group_id": both})  # fmt: skip
    assert "classification group" in str(error)
    # without a group, a classifier takes everything its fields say: it overlaps every one of them
    rejects(w, err.FlowClassifierInConflict, 400, w.fc.create, ALICE, {**common, "protocol": "udp"})
    # a TCP classifier overlaps neither UDP group
    w.fc.create(ALICE, {**common, "protocol": "tcp"})
    assert first["classification_group_id"] == dns


def test_chains_compare_the_groups_of_their_classifiers(w: World) -> None:
    port = w.port()
    dns = group(w, "AND", [classification(w, "udp", dst_port_min=53, dst_port_max=53)])
    web = group(w, "AND", [classification(w, "tcp", dst_port_min=80, dst_port_max=80)])
    any_ip = group(w, "AND", [classification(w, "ipv4")])
    one = w.fc.create(ALICE, {"logical_source_port": port, "classification_group_id": dns})
    two = w.fc.create(ALICE, {"logical_source_port": w.port(), "classification_group_id": web})
    three = w.fc.create(ALICE, {"logical_source_port": w.port(), "classification_group_id": any_ip})
    w.chain(fcs=[one["id"]])
    w.chain(fcs=[two["id"]])  # udp 53 and tcp 80 never meet
    groups = [w.group()["id"]]
    rejects(w, err.PortChainFlowClassifierInConflict, 400, w.chain, ALICE, groups, [three["id"]])


# --- over REST ---------------------------------------------------------------------------------------------


@pytest.fixture
def client(w: World) -> Iterator[TestClient]:
    with TestClient(build_app(w.store, NoAuth(), [w.cls, w.cg, w.fc, w.pc, w.ppg, w.pp])) as c:
        yield c


def test_the_collections_sit_at_the_api_root_with_their_extension(client: TestClient) -> None:
    headers = {"X-Project-Id": "alice"}
    made = client.post(
        "/v2.0/classifications",
        json={schema.CLASSIFICATION: {"type": "tcp", "definition": {"flags": 2}, "project_id": "alice"}},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    cid = made.json()[schema.CLASSIFICATION]["id"]
    body = {schema.CLASSIFICATION_GROUP: {"classifications": [cid], "project_id": "alice"}}
    made_group = client.post("/v2.0/classification_groups", json=body, headers=headers)
    assert made_group.status_code == 201, made_group.text
    gid = made_group.json()[schema.CLASSIFICATION_GROUP]["id"]
    gone = client.delete(f"/v2.0/classifications/{cid}", headers=headers)
    assert gone.status_code == 409 and gone.json()["NeutronError"]["type"] == "ClassificationInUse"
    bad = client.post(
        "/v2.0/classifications",
        json={schema.CLASSIFICATION: {"type": "udp", "definition": {"window_min": 1}, "project_id": "alice"}},
        headers=headers,
    )
    assert bad.status_code == 400 and bad.json()["NeutronError"]["type"] == "InvalidClassificationDefinition"
    aliases = {e["alias"] for e in client.get("/v2.0/extensions").json()["extensions"]}
    assert "neutron_classifier" in aliases
    assert [r["collection"] for r in client.get("/v2.0/").json()["resources"]] == []
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v2.0/classifications" in paths and "/v2.0/classification_groups/{id}" in paths
    assert client.get(f"/v2.0/classification_groups/{gid}", headers=headers).status_code == 200
