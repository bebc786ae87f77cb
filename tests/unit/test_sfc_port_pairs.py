"""Port pairs and port pair groups: defaults, conversions and rules 1-5, 8, 15-23."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.api import sfc_errors as err
from steerflow.api.errors import HTTPBadRequest, InvalidInput, NeutronError, OverQuota
from steerflow.api.sfc_refs import sfc_users_of_port
from steerflow.model import schema
from steerflow.nbdb.txn import take_snapshot
from tests.builders.sfc_world import ADMIN, ALICE, BOB, MPLS, NSH, UNKNOWN, World, rejects


@pytest.fixture
def w() -> World:
    return World()


# --- port pair: defaults and conversions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, {"correlation": None, "weight": 1}),
        ({}, {"correlation": None, "weight": 1}),
        ({"correlation": "mpls"}, {"correlation": "mpls"}),  # partial: not completed (observed upstream)
        ({"weight": "5"}, {"weight": 5}),
        ({"correlation": "nsh", "weight": 0}, {"correlation": "nsh", "weight": 0}),
    ],
)
def test_port_pair_service_function_parameters(w: World, given: Any, stored: Any) -> None:
    pp = w.pair(sfp=given)
    assert pp["service_function_parameters"] == stored
    assert w.pp.get(ALICE, pp["id"]) == pp


def test_port_pair_representation(w: World) -> None:
    ingress = w.port("vm-1")
    pp = w.pp.create(ALICE, {"ingress": ingress, "egress": ingress, "name": "fw"})  # ingress may equal egress
    assert set(pp) == {
        "id",
        "name",
        "description",
        "project_id",
        "tenant_id",
        "ingress",
        "egress",
        "service_function_parameters",
    }
    assert (pp["name"], pp["description"], pp["project_id"], pp["tenant_id"]) == ("fw", "", "alice", "alice")


# --- port pair: rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sfp", "exc"),
    [
        ({"correlation": "vxlan"}, HTTPBadRequest),  # rule 1: value outside the set
        ({"weight": -1}, HTTPBadRequest),
        ({"weight": "x"}, InvalidInput),
        ({"foo": 1}, HTTPBadRequest),  # rule 1: unknown key
        ("mpls", HTTPBadRequest),
    ],
)
def test_rule1_bad_service_function_parameters(w: World, sfp: Any, exc: type[NeutronError]) -> None:
    port = w.port("vm")
    rejects(
        w, exc, 400, w.pp.create, ALICE, {"ingress": port, "egress": port, "service_function_parameters": sfp}
    )


def test_rule1_unknown_key_message(w: World) -> None:
    port = w.port("vm")
    body = {"ingress": port, "egress": port, "service_function_parameters": {"weight": "x", "foo": 1}}
    e = rejects(w, HTTPBadRequest, 400, w.pp.create, ALICE, body)
    assert (
        e.message == "Invalid input for service_function_parameters. Reason: Unexpected keys supplied: foo "
        "(valid keys: correlation, weight)."
    )


@pytest.mark.parametrize("missing", ["ingress", "egress"])
def test_rule4_required_ingress_egress(w: World, missing: str) -> None:
    body = {"ingress": w.port("vm"), "egress": w.port("vm")}
    del body[missing]
    e = rejects(w, HTTPBadRequest, 400, w.pp.create, ALICE, body)
    assert e.message == f"Failed to parse request. Required attribute '{missing}' not specified"


def test_rule5_non_uuid_port(w: World) -> None:
    e = rejects(w, HTTPBadRequest, 400, w.pp.create, ALICE, {"ingress": "abc", "egress": w.port("vm")})
    assert e.message == "Invalid input for ingress. Reason: 'abc' is not a valid UUID."


@pytest.mark.parametrize(
    "body",
    [{"ingress": UNKNOWN}, {"egress": UNKNOWN}, {"service_function_parameters": {}}, {"tenant_id": "alice"}],
)
def test_rule8_port_pair_put_read_only(w: World, body: Any) -> None:
    pp = w.pair()
    rejects(w, HTTPBadRequest, 400, w.pp.update, ALICE, pp["id"], body)


def test_port_pair_put_name_description(w: World) -> None:
    pp = w.pair()
    assert w.pp.update(ALICE, pp["id"], {"name": "a", "description": "b"}) == {
        **pp,
        "name": "a",
        "description": "b",
    }


def test_rule15_same_ingress_egress(w: World) -> None:
    pp = w.pair()
    body = {"ingress": pp["ingress"], "egress": pp["egress"]}
    e = rejects(w, err.PortPairIngressEgressInUse, 400, w.pp.create, ALICE, body)
    assert pp["id"] in e.message
    w.pp.create(ALICE, {"ingress": pp["egress"], "egress": pp["ingress"]})  # reversed is another pair


@pytest.mark.parametrize("side", ["ingress", "egress"])
def test_rule16_unknown_port(w: World, side: str) -> None:
    body = {"ingress": w.port("vm"), "egress": w.port("vm"), side: UNKNOWN}
    e = rejects(w, err.PortPairPortNotFound, 404, w.pp.create, ALICE, body)
    assert e.message == f"Port Pair port {UNKNOWN} not found."


@pytest.mark.parametrize(
    ("ingress_dev", "egress_dev", "exc"),
    [
        ("", "vm", err.PortPairIngressNoHost),
        ("vm", "", err.PortPairEgressNoHost),
        ("vm-a", "vm-b", err.PortPairIngressEgressDifferentHost),
    ],
)
def test_rule17_device_ids(w: World, ingress_dev: str, egress_dev: str, exc: type[NeutronError]) -> None:
    body = {"ingress": w.port(ingress_dev), "egress": w.port(egress_dev)}
    rejects(w, exc, 400, w.pp.create, ALICE, body)


def test_rule17_host_means_device_not_binding_host(w: World) -> None:
    body = {
        "ingress": w.port("vm", **{"binding:host_id": "a"}),
        "egress": w.port("vm", **{"binding:host_id": "b"}),
    }
    w.pp.create(ALICE, body)


def test_rule18_delete_pair_in_group(w: World) -> None:
    g = w.group()
    rejects(w, err.PortPairInUse, 409, w.pp.delete, ALICE, g["port_pairs"][0])
    w.ppg.update(ALICE, g["id"], {"port_pairs": []})
    w.pp.delete(ALICE, g["port_pairs"][0])
    assert w.count(schema.PORT_PAIR) == 0


def test_port_pair_project_isolation(w: World) -> None:
    pp = w.pair()
    rejects(w, err.PortPairNotFound, 404, w.pp.get, BOB, pp["id"])
    assert w.pp.list(BOB, {}) == []
    assert w.pp.list(ADMIN, {}) == [pp]
    bob_device = w.port("vm", project="bob")
    body = {"ingress": pp["ingress"], "egress": bob_device}  # alice's port is invisible to bob
    rejects(w, err.PortPairPortNotFound, 404, w.pp.create, BOB, body)


def test_port_pair_quota(w: World) -> None:
    w.pp.quota = 2
    w.pair()
    w.pair()
    port = w.port("vm")
    e = rejects(w, OverQuota, 409, w.pp.create, ALICE, {"ingress": port, "egress": port})
    assert e.message == "Quota exceeded for resources: ['port_pair']."
    w.pair(BOB)


# --- port pair group: defaults --------------------------------------------------------------------

DEFAULT_PPG_PARAMETERS = {
    "lb_fields": [],
    "ppg_n_tuple_mapping": {"ingress_n_tuple": {}, "egress_n_tuple": {}},
}


def test_group_defaults(w: World) -> None:
    g = w.ppg.create(ALICE, {})
    assert g["port_pairs"] == []  # an empty group is allowed
    assert g["port_pair_group_parameters"] == DEFAULT_PPG_PARAMETERS
    assert (g["tap_enabled"], g["group_id"]) == (False, 1)
    assert w.ppg.create(ALICE, {"port_pairs": None, "port_pair_group_parameters": None})["port_pairs"] == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"lb_fields": ["ip_src"]}, {**DEFAULT_PPG_PARAMETERS, "lb_fields": ["ip_src"]}),
        (
            {"ppg_n_tuple_mapping": {"ingress_n_tuple": {}}},
            {"lb_fields": [], "ppg_n_tuple_mapping": {"ingress_n_tuple": {}}},
        ),
        (
            {
                "ppg_n_tuple_mapping": {
                    "egress_n_tuple": {"source_port_range_min": "80", "source_ip_prefix": "10.0.0.0/8"}
                }
            },
            {
                "lb_fields": [],
                "ppg_n_tuple_mapping": {
                    "egress_n_tuple": {"source_port_range_min": 80, "source_ip_prefix": "10.0.0.0/8"}
                },
            },
        ),
    ],
)
def test_group_parameters(w: World, given: Any, stored: Any) -> None:
    g = w.ppg.create(ALICE, {"port_pair_group_parameters": given})
    assert g["port_pair_group_parameters"] == stored


def test_group_tap_enabled_converts_cli_string(w: World) -> None:
    assert w.ppg.create(ALICE, {"tap_enabled": "true"})["tap_enabled"] is True


def test_group_id_lowest_free_global_and_reused(w: World) -> None:
    a = w.ppg.create(ALICE, {})
    b = w.ppg.create(BOB, {})
    c = w.ppg.create(ALICE, {})
    assert [a["group_id"], b["group_id"], c["group_id"]] == [1, 2, 3]
    w.ppg.delete(BOB, b["id"])
    assert w.ppg.create(ALICE, {})["group_id"] == 2
    rejects(w, HTTPBadRequest, 400, w.ppg.create, ALICE, {"group_id": 9})
    rejects(w, HTTPBadRequest, 400, w.ppg.update, ALICE, a["id"], {"group_id": 9})


# --- port pair group: rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"lb_fields": ["foo"]},
            "Invalid input for port_pair_group_parameters. Reason: Illegal values in a list: foo "
            "(valid values: eth_dst, eth_src, ip_dst, ip_src, tcp_dst, tcp_src, udp_dst, udp_src).",
        ),
        (
            {"lb_fields": "ip_src"},
            "Invalid input for port_pair_group_parameters. Reason: 'ip_src' is not a list.",
        ),
        (
            {"bogus": 1},
            "Invalid input for port_pair_group_parameters. Reason: Unexpected keys supplied: bogus "
            "(valid keys: lb_fields, ppg_n_tuple_mapping, health_check, fail_mode).",
        ),
        ("x", "Invalid input for port_pair_group_parameters. Reason: 'x' is not a dictionary."),
    ],
)
def test_rules1_2_bad_group_parameters(w: World, params: Any, message: str) -> None:
    e = rejects(w, HTTPBadRequest, 400, w.ppg.create, ALICE, {"port_pair_group_parameters": params})
    assert e.message == message


@pytest.mark.parametrize(
    "mapping",
    [
        {"ingress_n_tuple": {"bar": 1}},
        {"egress_n_tuple": {"source_port": 1}},
        {"sideways_n_tuple": {}},
        {"ingress_n_tuple": "x"},
    ],
)
def test_rule3_unknown_n_tuple_key(w: World, mapping: Any) -> None:
    body = {"port_pair_group_parameters": {"ppg_n_tuple_mapping": mapping}}
    rejects(w, err.PPGParametersInvalidNTupleMappingParameter, 400, w.ppg.create, ALICE, body)


@pytest.mark.parametrize(
    ("n_tuple", "exc"),
    [
        ({"source_port_range_min": 70000}, err.FlowClassifierInvalidPortValue),
        ({"destination_port_range_max": "abc"}, err.FlowClassifierInvalidPortValue),
        ({"source_ip_prefix": "xyz"}, HTTPBadRequest),
    ],
)
def test_n_tuple_values_validated(w: World, n_tuple: Any, exc: type[NeutronError]) -> None:
    body = {"port_pair_group_parameters": {"ppg_n_tuple_mapping": {"ingress_n_tuple": n_tuple}}}
    rejects(w, exc, 400, w.ppg.create, ALICE, body)


def test_rule5_group_port_pairs_not_uuids(w: World) -> None:
    rejects(w, HTTPBadRequest, 400, w.ppg.create, ALICE, {"port_pairs": ["abc"]})
    pp = w.pair()["id"]
    e = rejects(w, HTTPBadRequest, 400, w.ppg.create, ALICE, {"port_pairs": [pp, pp]})
    assert "Duplicate items in the list" in e.message


@pytest.mark.parametrize("op", ["create", "update"])
def test_rule19_unknown_port_pair(w: World, op: str) -> None:
    if op == "create":
        rejects(w, err.PortPairNotFound, 404, w.ppg.create, ALICE, {"port_pairs": [UNKNOWN]})
    else:
        g = w.group()
        rejects(w, err.PortPairNotFound, 404, w.ppg.update, ALICE, g["id"], {"port_pairs": [UNKNOWN]})


@pytest.mark.parametrize(("first", "second"), [(MPLS, NSH), (MPLS, None), ({"weight": 2}, NSH)])
def test_rule20_mixed_correlations(w: World, first: Any, second: Any) -> None:
    a, b = w.pair(sfp=first)["id"], w.pair(sfp=second)["id"]
    rejects(w, err.InconsistentCorrelations, 400, w.ppg.create, ALICE, {"port_pairs": [a, b]})
    g = w.ppg.create(ALICE, {"port_pairs": [a]})
    rejects(w, err.InconsistentCorrelations, 400, w.ppg.update, ALICE, g["id"], {"port_pairs": [a, b]})


def test_rule20_partial_parameters_count_as_null_correlation(w: World) -> None:
    a, b = w.pair(sfp={"weight": 2})["id"], w.pair()["id"]  # upstream answers 500 (KeyError) here
    assert w.ppg.create(ALICE, {"port_pairs": [a, b]})["port_pairs"] == [a, b]


def test_rule21_pair_in_another_group(w: World) -> None:
    g = w.group()
    pp = g["port_pairs"][0]
    rejects(w, err.PortPairInUse, 409, w.ppg.create, ALICE, {"port_pairs": [pp]})
    other = w.group()
    rejects(w, err.PortPairInUse, 409, w.ppg.update, ALICE, other["id"], {"port_pairs": [pp]})
    assert w.ppg.update(ALICE, g["id"], {"port_pairs": [pp]})["port_pairs"] == [pp]  # its own group is fine


def test_rule22_tap_group_with_several_pairs(w: World) -> None:
    a, b = w.pair(sfp=MPLS)["id"], w.pair(sfp=MPLS)["id"]
    body = {"port_pairs": [a, b], "tap_enabled": True}
    rejects(w, err.MultiplePortPairsInTapPPGNotSupported, 400, w.ppg.create, ALICE, body)
    g = w.ppg.create(ALICE, {"port_pairs": [a], "tap_enabled": True})
    rejects(
        w,
        err.MultiplePortPairsInTapPPGNotSupported,
        400,
        w.ppg.update,
        ALICE,
        g["id"],
        {"port_pairs": [a, b]},
    )


def test_rule23_delete_group_in_chain(w: World) -> None:
    c = w.chain()
    rejects(w, err.PortPairGroupInUse, 409, w.ppg.delete, ALICE, c["port_pair_groups"][0])


def test_rule8_group_put_read_only(w: World) -> None:
    g = w.group()
    bodies: list[dict[str, Any]] = [{"tap_enabled": True}, {"port_pair_group_parameters": {}}]
    for body in bodies:
        e = rejects(w, HTTPBadRequest, 400, w.ppg.update, ALICE, g["id"], body)
        assert e.message == (
            f"Cannot update read-only attribute {next(iter(body))}: it is set when the port pair group "
            "is created (create a new port pair group to change it)"
        )


def test_group_put_replaces_the_list(w: World) -> None:
    a, b, c = (w.pair(sfp=MPLS)["id"] for _ in range(3))
    g = w.ppg.create(ALICE, {"port_pairs": [a, b]})
    assert w.ppg.update(ALICE, g["id"], {"port_pairs": [c, a]})["port_pairs"] == [c, a]
    w.pp.delete(ALICE, b)  # b was released by the update


def test_group_project_isolation(w: World) -> None:
    pp = w.pair()["id"]
    rejects(w, err.PortPairNotFound, 404, w.ppg.create, BOB, {"port_pairs": [pp]})
    g = w.ppg.create(ADMIN, {"port_pairs": [pp], "project_id": "alice"})  # admin acts for alice
    assert (g["project_id"], g["tenant_id"]) == ("alice", "alice")
    assert w.ppg.list(ALICE, {}) == [g]
    rejects(w, err.PortPairGroupNotFound, 404, w.ppg.delete, BOB, g["id"])


def test_list_filters_on_group(w: World) -> None:
    a = w.ppg.create(ALICE, {"name": "a"})
    w.ppg.create(ALICE, {"name": "b", "tap_enabled": True})
    assert w.ppg.list(ALICE, {"name": ["a"]}) == [a]
    assert w.ppg.list(ALICE, {"tap_enabled": ["False"]}) == [a]
    assert w.ppg.list(ALICE, {"group_id": ["1"]}) == [a]
    assert len(w.ppg.list(ALICE, {"no_such_attribute": ["1"]})) == 2


def test_users_of_a_port(w: World) -> None:
    pp = w.pair()
    fc = w.classifier(logical_destination_port=pp["egress"])
    snap = take_snapshot(w.store)
    assert sorted(sfc_users_of_port(snap, pp["egress"])) == sorted(
        [(schema.PORT_PAIR, pp["id"]), (schema.FLOW_CLASSIFIER, fc["id"])]
    )
    assert sfc_users_of_port(snap, w.port("vm")) == []
