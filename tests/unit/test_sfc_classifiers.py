"""Flow classifiers: defaults, normalisation and rules 6, 8, 9-14 and 39."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.api import sfc_errors as err
from steerflow.api.errors import HTTPBadRequest, NeutronError
from steerflow.model import schema
from tests.builders.sfc_world import ADMIN, ALICE, BOB, UNKNOWN, World, rejects

READ_ONLY_AFTER_CREATE = (
    ": it is set when the flow classifier is created (create a new flow classifier to change it)"
)


@pytest.fixture
def w() -> World:
    return World()


def test_defaults(w: World) -> None:
    fc = w.fc.create(ALICE, {})  # rule 39 decision: no logical_source_port is fine
    assert fc == {
        "id": fc["id"],
        "name": "",
        "description": "",
        "tenant_id": "alice",
        "project_id": "alice",
        "ethertype": "IPv4",
        "protocol": None,
        "source_port_range_min": None,
        "source_port_range_max": None,
        "destination_port_range_min": None,
        "destination_port_range_max": None,
        "source_ip_prefix": None,
        "destination_ip_prefix": None,
        "logical_source_port": None,
        "logical_destination_port": None,
        "l7_parameters": {},
        "classification_group_id": None,
    }


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"ethertype": "ipv6"}, {"ethertype": "IPv6"}),
        ({"ethertype": None}, {"ethertype": "IPv4"}),
        ({"protocol": "TCP"}, {"protocol": "tcp"}),
        ({"protocol": "Icmp"}, {"protocol": "icmp"}),
        ({"protocol": "udp", "destination_port_range_min": "53"}, {"destination_port_range_min": 53}),
        ({"source_ip_prefix": "10.0.0.1/24"}, {"source_ip_prefix": "10.0.0.1/24"}),  # kept as given
        ({"name": None, "description": None}, {"name": "", "description": ""}),
        ({"l7_parameters": None}, {"l7_parameters": {}}),
    ],
)
def test_normalisation(w: World, given: dict[str, Any], stored: dict[str, Any]) -> None:
    fc = w.fc.create(ALICE, given)
    assert {k: fc[k] for k in stored} == stored


@pytest.mark.parametrize(
    ("body", "exc"),
    [
        ({"ethertype": "IPv5"}, err.FlowClassifierInvalidEthertype),
        ({"ethertype": 4}, err.FlowClassifierInvalidEthertype),
        ({"protocol": "sctp"}, err.FlowClassifierInvalidProtocol),
        ({"protocol": 6}, err.FlowClassifierInvalidProtocol),
        ({"protocol": "tcp", "source_port_range_min": "x"}, err.FlowClassifierInvalidPortValue),
        ({"protocol": "tcp", "source_port_range_max": 65536}, err.FlowClassifierInvalidPortValue),
        ({"protocol": "tcp", "destination_port_range_min": -1}, err.FlowClassifierInvalidPortValue),
        ({"l7_parameters": {"url": "x"}}, err.FlowClassifierInvalidL7Parameter),
        ({"source_ip_prefix": "10.0.0.1"}, HTTPBadRequest),
        ({"destination_ip_prefix": "nonsense/8"}, HTTPBadRequest),
        ({"logical_source_port": "abc"}, HTTPBadRequest),
        ({"l7_parameters": []}, HTTPBadRequest),
        ({"colour": "red"}, HTTPBadRequest),
    ],
)
def test_rule6_attribute_errors(w: World, body: dict[str, Any], exc: type[NeutronError]) -> None:
    rejects(w, exc, 400, w.fc.create, ALICE, body)


def test_rule6_messages(w: World) -> None:
    e = rejects(w, err.FlowClassifierInvalidProtocol, 400, w.fc.create, ALICE, {"protocol": "sctp"})
    supported = "['tcp', 'udp', 'icmp']"
    assert (
        e.message
        == f"Flow Classifier does not support protocol sctp. Supported protocol values are {supported}."
    )
    e = rejects(w, err.FlowClassifierInvalidL7Parameter, 400, w.fc.create, ALICE, {"l7_parameters": {"k": 1}})
    assert (
        e.message
        == "Invalid Flow Classifier parameters: Unknown key k.. Supported flow classifier parameters are {}."
    )


@pytest.mark.parametrize(
    "field",
    [
        "ethertype",
        "protocol",
        "source_port_range_min",
        "source_port_range_max",
        "destination_port_range_min",
        "destination_port_range_max",
        "source_ip_prefix",
        "destination_ip_prefix",
        "logical_source_port",
        "logical_destination_port",
        "l7_parameters",
    ],
)
def test_rule8_only_name_description_updatable(w: World, field: str) -> None:
    fc = w.classifier()
    e = rejects(w, HTTPBadRequest, 400, w.fc.update, ALICE, fc["id"], {field: None})
    assert e.message == f"Cannot update read-only attribute {field}" + READ_ONLY_AFTER_CREATE


def test_name_description_update(w: World) -> None:
    fc = w.classifier(name="a")
    assert w.fc.update(ALICE, fc["id"], {"name": None, "description": "d"}) == {
        **fc,
        "name": "",
        "description": "d",
    }


@pytest.mark.parametrize("side", ["source", "destination"])
def test_rule9_min_above_max(w: World, side: str) -> None:
    body = {"protocol": "tcp", f"{side}_port_range_min": 100, f"{side}_port_range_max": 99}
    e = rejects(w, err.FlowClassifierInvalidPortRange, 400, w.fc.create, ALICE, body)
    assert "min_port_range=100" in e.message


@pytest.mark.parametrize("protocol", [None, "icmp"])
@pytest.mark.parametrize("field", ["source_port_range_min", "destination_port_range_max"])
def test_rule10_ports_need_tcp_or_udp(w: World, protocol: str | None, field: str) -> None:
    body = {"protocol": protocol, field: 80}
    rejects(w, err.FlowClassifierProtocolRequiredWithPorts, 400, w.fc.create, ALICE, body)


@pytest.mark.parametrize(
    "body",
    [
        {"ethertype": "IPv4", "source_ip_prefix": "2001:db8::/64"},
        {"ethertype": "IPv6", "destination_ip_prefix": "10.0.0.0/8"},
        {"source_ip_prefix": "2001:db8::/64"},  # default ethertype IPv4
    ],
)
def test_rule11_prefix_version(w: World, body: dict[str, Any]) -> None:
    rejects(w, err.FlowClassifierIpPrefixFormatConflictWithEthertype, 400, w.fc.create, ALICE, body)


@pytest.mark.parametrize("field", ["logical_source_port", "logical_destination_port"])
def test_rule12_unknown_logical_port(w: World, field: str) -> None:
    e = rejects(w, err.FlowClassifierPortNotFound, 404, w.fc.create, ALICE, {field: UNKNOWN})
    assert e.message == f"Flow Classifier Neutron Port {UNKNOWN} not found."


def test_rule12_other_projects_port_is_not_found(w: World) -> None:
    port = w.port("vm", project="alice")
    rejects(w, err.FlowClassifierPortNotFound, 404, w.fc.create, BOB, {"logical_source_port": port})
    w.fc.create(ADMIN, {"logical_source_port": port})


def test_rule13_conflicts_with_any_classifier(w: World) -> None:
    port = w.port("vm")
    first = w.fc.create(ALICE, {"name": "web", "protocol": "tcp", "logical_source_port": port})
    e = rejects(w, err.FlowClassifierInConflict, 400, w.fc.create, ALICE, {"logical_source_port": port})
    assert e.message == (
        f"Flow Classifier conflicts with another Flow Classifier {first['id']} ('web'): both match "
        f"ethertype IPv4, protocol any / tcp, logical_source_port {port}."
    )
    w.fc.create(ALICE, {"logical_source_port": w.port("vm")})  # another source port avoids it


@pytest.mark.parametrize(
    ("second", "conflicts"),
    [
        ({}, True),
        ({"protocol": "udp"}, False),
        ({"ethertype": "IPv6"}, False),
        ({"source_ip_prefix": "10.1.2.0/24"}, True),
        ({"source_ip_prefix": "10.2.0.0/16"}, False),
        ({"protocol": "tcp", "destination_port_range_min": 81}, False),
        ({"protocol": "tcp", "destination_port_range_max": 80}, True),
        ({"logical_destination_port": "new"}, True),  # the first has none: wildcard
    ],
)
def test_rule13_table(w: World, second: dict[str, Any], conflicts: bool) -> None:
    port = w.port("vm")
    first = {"protocol": "tcp", "source_ip_prefix": "10.1.0.0/16", "logical_source_port": port}
    w.fc.create(ALICE, {**first, "destination_port_range_min": 10, "destination_port_range_max": 80})
    if second.get("logical_destination_port") == "new":
        second["logical_destination_port"] = w.port("vm2")
    body = {"logical_source_port": port, **second}
    if conflicts:
        rejects(w, err.FlowClassifierInConflict, 400, w.fc.create, ALICE, body)
    else:
        w.fc.create(ALICE, body)


def test_rule13_scoped_to_the_callers_project(w: World) -> None:
    w.fc.create(ALICE, {})
    w.fc.create(BOB, {})  # bob does not see alice's classifier
    rejects(w, err.FlowClassifierInConflict, 400, w.fc.create, ADMIN, {})


def test_rule14_delete_classifier_in_chain(w: World) -> None:
    fc = w.classifier()
    c = w.chain(fcs=[fc["id"]])
    rejects(w, err.FlowClassifierInUse, 409, w.fc.delete, ALICE, fc["id"])
    w.pc.update(ALICE, c["id"], {"flow_classifiers": []})
    w.fc.delete(ALICE, fc["id"])
    assert w.count(schema.FLOW_CLASSIFIER) == 0


def test_filters_convert_query_strings(w: World) -> None:
    tcp = w.classifier(protocol="tcp", destination_port_range_min=80)
    w.classifier(protocol="udp")
    assert w.fc.list(ALICE, {"protocol": ["TCP"]}) == [tcp]
    assert w.fc.list(ALICE, {"destination_port_range_min": ["80"]}) == [tcp]
    assert w.fc.list(ALICE, {"ethertype": ["ipv4"], "protocol": ["tcp", "icmp"]}) == [tcp]
