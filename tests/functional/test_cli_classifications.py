"""The steerflow CLI's classification and classification-group commands against a real API server."""

from __future__ import annotations

import pytest

from steerflow.client import SteerflowClient
from steerflow.model import schema
from tests.builders.steerflow_cli import sf, sf_fails, sf_json

pytestmark = pytest.mark.server


def test_classifications_groups_and_a_classifier_using_one(api_url: str) -> None:
    dns = sf_json(
        api_url, "classification", "create", "--type", "udp",
        "--definition", "dst_port_min=53,dst_port_max=53", "dns",
    )  # fmt: skip
    assert (dns["type"], dns["definition"]) == ("udp", {"dst_port_min": 53, "dst_port_max": 53})
    ef = sf_json(
        api_url, "classification", "create", "--type", "ipv4", "--definition", "dscp=0x2e", "--shared", "ef"
    )
    assert ef["definition"] == {"dscp": 46} and ef["shared"] is True
    either = sf_json(
        api_url, "classification-group", "create", "--operator", "OR", "--classification", "dns",
        "--classification", ef["id"], "dns-or-ef",
    )  # fmt: skip
    assert (either["operator"], either["classifications"]) == ("OR", [dns["id"], ef["id"]])
    outer = sf_json(api_url, "classification-group", "create", "--classification-group", "dns-or-ef", "outer")
    assert outer["classification_groups"] == [either["id"]] and outer["operator"] == "AND"
    fc = sf_json(api_url, "flow-classifier", "create", "--classification-group", "outer", "fc")
    assert fc["classification_group_id"] == outer["id"]
    summary = sf(api_url, "flow-classifier", "list")
    assert summary.exit_code == 0 and f"and classification group {outer['id']}" in summary.stdout

    table = sf(api_url, "classification-group", "list")
    assert table.exit_code == 0 and "dns-or-ef" in table.stdout and "outer" in table.stdout
    assert sorted(c["name"] for c in sf_json(api_url, "classification", "list")) == ["dns", "ef"]

    refused = sf_fails(
        api_url, "classification", "create", "--type", "udp", "--definition", "window_min=1", "w"
    )
    assert "window_min are not supported" in refused
    in_use = sf_fails(api_url, "classification-group", "delete", "outer")
    assert "in use by Flow Classifier" in in_use
    assert sf(api_url, "flow-classifier", "delete", "fc").exit_code == 0
    assert sf(api_url, "classification-group", "delete", "outer", "dns-or-ef").exit_code == 0
    assert sf(api_url, "classification", "delete", "dns", "ef").exit_code == 0
    with SteerflowClient(api_url) as client:
        assert client.list(schema.CLASSIFICATION) == client.list(schema.CLASSIFICATION_GROUP) == []
