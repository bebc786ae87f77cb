"""Port chains: defaults, chain_id allocation and rules 1, 4, 5, 7, 8, 24-31, 40, 41."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.api import sfc_attributes, sfc_chains
from steerflow.api import sfc_errors as err
from steerflow.api.base import lowest_free
from steerflow.api.errors import HTTPBadRequest, InvalidInput, NeutronError, OverQuota
from tests.builders.sfc_world import ADMIN, ALICE, BOB, MPLS, NSH, UNKNOWN, World, rejects

READ_ONLY_AFTER_CREATE = ": it is set when the port chain is created (create a new port chain to change it)"


@pytest.fixture
def w() -> World:
    return World()


# --- defaults and conversions ---------------------------------------------------------------------


def test_defaults(w: World) -> None:
    g = w.group()
    c = w.pc.create(ALICE, {"port_pair_groups": [g["id"]]})
    assert c == {
        "id": c["id"],
        "chain_id": 1,
        "name": "",
        "description": "",
        "tenant_id": "alice",
        "project_id": "alice",
        "port_pair_groups": [g["id"]],
        "flow_classifiers": [],
        "chain_parameters": {"correlation": "mpls", "symmetric": False},
    }
    assert w.pc.get(ALICE, c["id"]) == c


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, {"correlation": "mpls", "symmetric": False}),
        ({}, {"correlation": "mpls", "symmetric": False}),
        ({"symmetric": "true"}, {"correlation": "mpls", "symmetric": True}),  # filled in and converted
        ({"symmetric": "False"}, {"correlation": "mpls", "symmetric": False}),
        ({"correlation": "nsh"}, {"correlation": "nsh", "symmetric": False}),
        # steerflow's extension: kept when given (converted), never filled in
        (
            {"correlation": "nsh", "nsh_md_type": 2},
            {"correlation": "nsh", "symmetric": False, "nsh_md_type": 2},
        ),
        (
            {"correlation": "nsh", "nsh_md_type": "1"},
            {"correlation": "nsh", "symmetric": False, "nsh_md_type": 1},
        ),
    ],
)
def test_chain_parameters(w: World, given: Any, stored: Any) -> None:
    unaware = w.group(pairs=[w.pair()["id"]])  # correlation null: fits any chain
    assert w.chain(groups=[unaware["id"]], chain_parameters=given)["chain_parameters"] == stored


def test_cli_strings_and_single_values(w: World) -> None:
    g = w.group()
    fc = w.classifier()
    c = w.pc.create(ALICE, {"port_pair_groups": g["id"], "flow_classifiers": fc["id"], "chain_id": "7"})
    assert (c["port_pair_groups"], c["flow_classifiers"], c["chain_id"]) == ([g["id"]], [fc["id"]], 7)


# --- attribute rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "exc"),
    [
        ({"correlation": "vxlan"}, HTTPBadRequest),
        ({"correlation": None}, HTTPBadRequest),
        ({"symmetric": "maybe"}, InvalidInput),
        ({"foo": 1}, HTTPBadRequest),
        ("mpls", HTTPBadRequest),
        ({"correlation": "nsh", "nsh_md_type": 3}, HTTPBadRequest),
        ({"correlation": "nsh", "nsh_md_type": 0}, HTTPBadRequest),
        ({"correlation": "nsh", "nsh_md_type": "two"}, InvalidInput),
        ({"correlation": "nsh", "nsh_md_type": None}, InvalidInput),
        ({"nsh_md_type": 2}, InvalidInput),  # the default correlation, mpls, has no metadata type
        ({"correlation": "mpls", "nsh_md_type": 1}, InvalidInput),
    ],
)
def test_rule1_bad_chain_parameters(w: World, params: Any, exc: type[NeutronError]) -> None:
    g = w.group()
    rejects(w, exc, 400, w.pc.create, ALICE, {"port_pair_groups": [g["id"]], "chain_parameters": params})


def test_nsh_md_type_read_only_and_listed(w: World) -> None:
    unaware = w.group(pairs=[w.pair()["id"]])
    c = w.chain(groups=[unaware["id"]], chain_parameters={"correlation": "nsh", "nsh_md_type": 2})
    assert w.pc.get(ALICE, c["id"])["chain_parameters"]["nsh_md_type"] == 2
    params = {**c["chain_parameters"], "nsh_md_type": 1}
    e = rejects(w, HTTPBadRequest, 400, w.pc.update, ALICE, c["id"], {"chain_parameters": params})
    assert e.message == "Cannot update read-only attribute chain_parameters" + READ_ONLY_AFTER_CREATE


def test_rule4_port_pair_groups_required_and_non_empty(w: World) -> None:
    e = rejects(w, HTTPBadRequest, 400, w.pc.create, ALICE, {})
    assert e.message == "Failed to parse request. Required attribute 'port_pair_groups' not specified"
    empties: list[Any] = [[], None]
    for empty in empties:
        rejects(w, err.PortPairGroupNotSpecified, 400, w.pc.create, ALICE, {"port_pair_groups": empty})
    c = w.chain()
    rejects(w, err.PortPairGroupNotSpecified, 400, w.pc.update, ALICE, c["id"], {"port_pair_groups": []})


@pytest.mark.parametrize(
    "body",
    [{"port_pair_groups": ["abc"]}, {"port_pair_groups": [UNKNOWN, UNKNOWN]}, {"flow_classifiers": ["abc"]}],
)
def test_rule5_non_uuid_lists(w: World, body: dict[str, Any]) -> None:
    rejects(w, HTTPBadRequest, 400, w.pc.create, ALICE, {"port_pair_groups": [UNKNOWN], **body})


@pytest.mark.parametrize(
    ("chain_id", "exc"), [(65536, HTTPBadRequest), (-1, HTTPBadRequest), ("x", InvalidInput)]
)
def test_rule7_chain_id_range(w: World, chain_id: Any, exc: type[NeutronError]) -> None:
    g = w.group()
    rejects(w, exc, 400, w.pc.create, ALICE, {"port_pair_groups": [g["id"]], "chain_id": chain_id})


def test_rule7_checked_before_empty_groups(w: World) -> None:
    e = rejects(w, HTTPBadRequest, 400, w.pc.create, ALICE, {"port_pair_groups": [], "chain_id": 70000})
    assert (
        e.message
        == "Invalid input for chain_id. Reason: '70000' is too large - must be no larger than '65535'."
    )


@pytest.mark.parametrize("field", ["chain_parameters", "chain_id", "tenant_id"])
def test_rule8_chain_put_read_only(w: World, field: str) -> None:
    c = w.chain()
    e = rejects(w, HTTPBadRequest, 400, w.pc.update, ALICE, c["id"], {field: c[field]})
    assert e.message == f"Cannot update read-only attribute {field}" + READ_ONLY_AFTER_CREATE


# --- chain_id ---------------------------------------------------------------------------------------


def test_chain_id_lowest_free_global_and_reused(w: World) -> None:
    a, b, c = w.chain(), w.chain(BOB), w.chain()
    assert [a["chain_id"], b["chain_id"], c["chain_id"]] == [1, 2, 3]
    w.pc.delete(BOB, b["id"])
    assert w.chain()["chain_id"] == 2
    assert w.chain(chain_id=65535)["chain_id"] == 65535  # explicit top value allowed


def test_rule30_chain_id_taken(w: World) -> None:
    a = w.chain(chain_id=5)
    g = w.group(BOB)
    body = {"port_pair_groups": [g["id"]], "chain_id": 5}
    e = rejects(w, err.PortChainChainIdInConflict, 400, w.pc.create, BOB, body)  # global, across projects
    assert e.message == f"Chain id 5 conflicts with Chain id in port chain {a['id']}."


def test_rule30_chain_ids_exhausted(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sfc_chains, "MAX_CHAIN_ID", 4)  # auto-assign takes 1..MAX-1
    for _ in range(3):
        w.chain()
    g = w.group()
    e = rejects(w, err.PortChainUnavailableChainId, 400, w.pc.create, ALICE, {"port_pair_groups": [g["id"]]})
    assert e.message.endswith("no available chain id.")
    assert w.pc.create(ALICE, {"port_pair_groups": [g["id"]], "chain_id": 4})["chain_id"] == 4


def test_auto_chain_id_range_is_1_to_65534() -> None:
    assert lowest_free(set(range(1, 65534)), 1, sfc_attributes.MAX_CHAIN_ID - 1) == 65534
    assert lowest_free(set(range(1, 65535)), 1, sfc_attributes.MAX_CHAIN_ID - 1) is None


# --- references and conflicts -------------------------------------------------------------------------


def test_rule24_unknown_group_or_classifier(w: World) -> None:
    g = w.group()
    rejects(w, err.PortPairGroupNotFound, 404, w.pc.create, ALICE, {"port_pair_groups": [g["id"], UNKNOWN]})
    body = {"port_pair_groups": [g["id"]], "flow_classifiers": [UNKNOWN]}
    e = rejects(w, err.FlowClassifierNotFound, 404, w.pc.create, ALICE, body)
    assert e.message == f"Flow Classifier {UNKNOWN} not found."
    c = w.chain()
    rejects(w, err.PortPairGroupNotFound, 404, w.pc.update, ALICE, c["id"], {"port_pair_groups": [UNKNOWN]})
    rejects(w, err.FlowClassifierNotFound, 404, w.pc.update, ALICE, c["id"], {"flow_classifiers": [UNKNOWN]})


def test_rule25_adjacent_tap_groups(w: World) -> None:
    tap1, tap2, plain = w.group(tap_enabled=True), w.group(tap_enabled=True), w.group()
    body = {"port_pair_groups": [plain["id"], tap1["id"], tap2["id"]]}
    rejects(w, err.ConsecutiveTapPPGNotSupported, 400, w.pc.create, ALICE, body)
    c = w.chain(groups=[tap1["id"], plain["id"], tap2["id"]])  # not adjacent: fine
    body = {"port_pair_groups": [tap1["id"], tap2["id"], plain["id"]]}
    rejects(w, err.ConsecutiveTapPPGNotSupported, 400, w.pc.update, ALICE, c["id"], body)


def test_rule26_identical_group_list(w: World) -> None:
    g1, g2, g3 = w.group(), w.group(), w.group()
    first = w.chain(groups=[g1["id"], g2["id"]])
    e = rejects(w, err.InvalidPortPairGroups, 409, w.chain, ALICE, [g1["id"], g2["id"]])
    assert first["id"] in e.message
    w.chain(groups=[g1["id"], g3["id"]])  # sharing is allowed
    w.chain(groups=[g2["id"], g1["id"]])  # so is another order
    w.chain(groups=[g1["id"]])
    other = w.chain(groups=[g3["id"]])
    body = {"port_pair_groups": [g1["id"], g2["id"]]}
    rejects(w, err.InvalidPortPairGroups, 409, w.pc.update, ALICE, other["id"], body)
    assert w.pc.update(ALICE, first["id"], body)["port_pair_groups"] == body["port_pair_groups"]  # itself


@pytest.mark.parametrize(("pp_correlation", "chain_correlation"), [(NSH, "mpls"), (MPLS, "nsh")])
def test_rule27_pair_correlation_differs_from_chain(
    w: World, pp_correlation: Any, chain_correlation: str
) -> None:
    g = w.group(pairs=[w.pair(sfp=pp_correlation)["id"]])
    body = {"port_pair_groups": [g["id"]], "chain_parameters": {"correlation": chain_correlation}}
    e = rejects(w, err.PortChainInconsistentCorrelations, 400, w.pc.create, ALICE, body)
    assert g["id"] in e.message


def test_rule27_null_correlation_and_create_only(w: World) -> None:
    unaware = w.group(pairs=[w.pair(sfp=None)["id"], w.pair(sfp={"weight": 3})["id"]])
    c = w.chain(groups=[unaware["id"]], chain_parameters={"correlation": "nsh"})
    nsh_group = w.group(pairs=[w.pair(sfp=NSH)["id"]])
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [unaware["id"], nsh_group["id"]]})
    mpls_group = w.group()
    w.pc.update(ALICE, c["id"], {"port_pair_groups": [mpls_group["id"]]})  # upstream checks on create only


def test_rule28_classifier_in_another_chain(w: World) -> None:
    fc = w.classifier()
    first = w.chain(fcs=[fc["id"]])
    g = w.group()
    body = {"port_pair_groups": [g["id"]], "flow_classifiers": [fc["id"]]}
    rejects(w, err.FlowClassifierInUse, 409, w.pc.create, ALICE, body)
    other = w.chain()
    rejects(
        w, err.FlowClassifierInUse, 409, w.pc.update, ALICE, other["id"], {"flow_classifiers": [fc["id"]]}
    )
    assert w.pc.update(ALICE, first["id"], {"flow_classifiers": [fc["id"]]})["flow_classifiers"] == [fc["id"]]


def test_rule29_overlapping_classifiers_of_two_chains(w: World) -> None:
    a = w.classifier(source_ip_prefix="10.0.0.0/16", logical_source_port=w.port("vm-a"))
    b = w.classifier(source_ip_prefix="10.0.1.0/24", logical_source_port=w.port("vm-b"))  # other source port
    first = w.chain(fcs=[a["id"]])
    g = w.group()
    body = {"port_pair_groups": [g["id"]], "flow_classifiers": [b["id"]]}
    e = rejects(w, err.PortChainFlowClassifierInConflict, 400, w.pc.create, ALICE, body)
    named = f" ({a['name']!r})" if a["name"] else ""
    assert e.message == (
        f"Flow Classifier {b['id']} conflicts with Flow Classifier {a['id']}{named} in port chain "
        f"{first['id']}: both match ethertype IPv4, source_ip_prefix 10.0.1.0/24 / 10.0.0.0/16."
    )
    other = w.chain()
    rejects(
        w,
        err.PortChainFlowClassifierInConflict,
        400,
        w.pc.update,
        ALICE,
        other["id"],
        {"flow_classifiers": [b["id"]]},
    )
    assert w.pc.update(ALICE, first["id"], {"flow_classifiers": [a["id"], b["id"]]})  # within one chain: fine


def test_rule31_chain_in_graph_is_frozen(w: World) -> None:
    src = w.chain()
    dst = w.chain()
    w.sg.create(ALICE, {"port_chains": {src["id"]: [dst["id"]]}})
    for chain in (src, dst):
        bodies: list[dict[str, Any]] = [
            {"flow_classifiers": []},
            {"port_pair_groups": chain["port_pair_groups"]},
        ]
        for body in bodies:
            rejects(w, err.ServiceGraphPortChainInUse, 409, w.pc.update, ALICE, chain["id"], body)
        rejects(w, err.ServiceGraphPortChainInUse, 409, w.pc.delete, ALICE, chain["id"])
        assert w.pc.update(ALICE, chain["id"], {"name": "n", "description": "d"})["name"] == "n"


# --- put semantics, decisions, isolation ------------------------------------------------------------


def test_put_replaces_lists_in_order(w: World) -> None:
    g1, g2 = w.group(), w.group()
    f1, f2 = w.classifier(), w.classifier()
    c = w.chain(groups=[g1["id"]], fcs=[f1["id"]])
    body = {"port_pair_groups": [g2["id"], g1["id"]], "flow_classifiers": [f2["id"]]}
    updated = w.pc.update(ALICE, c["id"], body)
    assert (updated["port_pair_groups"], updated["flow_classifiers"]) == ([g2["id"], g1["id"]], [f2["id"]])
    assert updated["chain_id"] == c["chain_id"]  # labels stay stable across updates
    w.fc.delete(ALICE, f1["id"])  # released


def test_rules40_41_accepted(w: World) -> None:
    fc = w.classifier(logical_source_port=w.port("vm", network_id="net-2"))  # no destination port
    g = w.group()
    c = w.chain(groups=[g["id"]], fcs=[fc["id"]], chain_parameters={"symmetric": True})
    assert c["chain_parameters"]["symmetric"] is True


def test_chain_project_isolation(w: World) -> None:
    g = w.group()
    fc = w.classifier()
    rejects(w, err.PortPairGroupNotFound, 404, w.pc.create, BOB, {"port_pair_groups": [g["id"]]})
    bob_group = w.group(BOB)
    body = {"port_pair_groups": [bob_group["id"]], "flow_classifiers": [fc["id"]]}
    rejects(w, err.FlowClassifierNotFound, 404, w.pc.create, BOB, body)
    c = w.chain(groups=[g["id"]])
    rejects(w, err.PortChainNotFound, 404, w.pc.get, BOB, c["id"])
    rejects(w, err.PortChainNotFound, 404, w.pc.update, BOB, c["id"], {"name": "x"})
    assert w.pc.list(BOB, {}) == []
    assert [x["id"] for x in w.pc.list(ADMIN, {"chain_id": ["1"]})] == [c["id"]]
    w.chain(BOB)  # bob's own chain, in the same global chain_id space
    assert sorted(x["chain_id"] for x in w.pc.list(ADMIN, {})) == [1, 2]


def test_chain_quota(w: World) -> None:
    w.ppg.quota = -1
    for _ in range(10):
        w.chain()
    g = w.group()
    rejects(w, OverQuota, 409, w.pc.create, ALICE, {"port_pair_groups": [g["id"]]})
