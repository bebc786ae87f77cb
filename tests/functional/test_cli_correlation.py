"""Correlations through the CLI and a real API server: an installed driver's name is accepted, anything
else is one error line listing the valid values (the installed drivers, the vlan test driver too)."""

from __future__ import annotations

import pytest

from steerflow.model.correlations import installed_correlations
from tests.builders.steerflow_cli import make_ports, sf_fails, sf_json

pytestmark = pytest.mark.server


def test_a_wrong_correlation_is_refused_with_the_valid_values(api_url: str) -> None:
    assert "vlan" in installed_correlations(), "steerflow-vlan-encap is not installed (./run.sh install)"
    make_ports(api_url, "vm-sf", "in1", "out1")
    pair = ["port-pair", "create", "--ingress", "in1", "--egress", "out1", "--service-function-parameters"]
    error = sf_fails(api_url, *pair, "correlation=vxlan", "pp0")
    assert error == (
        "Error: HTTPBadRequest: Invalid input for service_function_parameters. Reason: vxlan is not in "
        "valid_values: correlation must be one of mpls, nsh, vlan or null."
    )
    pp = sf_json(api_url, *pair, "correlation=vlan", "pp1")
    assert pp["service_function_parameters"] == {"correlation": "vlan"}  # partial: kept partial
    sf_json(api_url, "port-pair-group", "create", "--port-pair", "pp1", "g1")
    chain = ["port-chain", "create", "--port-pair-group", "g1", "--chain-parameters"]
    error = sf_fails(api_url, *chain, "correlation=vxlan", "c0")
    assert error.endswith("Reason: vxlan is not in valid_values: correlation must be one of mpls, nsh, vlan.")
    assert sf_json(api_url, *chain, "correlation=vlan", "c1")["chain_parameters"]["correlation"] == "vlan"
