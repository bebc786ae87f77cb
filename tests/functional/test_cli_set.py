"""The steerflow CLI's changes against a real API server: set/unset (and the update alias), every API
option, delete past failures, and errors a user can act on."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.client import ApiError, SteerflowClient
from steerflow.model import schema
from tests.builders.steerflow_cli import make_ports, sf, sf_fails, sf_json, sf_quiet

pytestmark = pytest.mark.server


def get(url: str, kind: str, name: str) -> dict[str, Any]:
    with SteerflowClient(url) as client:
        return client.find(kind, name)


def test_network_options_and_set(api_url: str) -> None:
    net = sf_json(
        api_url, "network", "create", "--mtu", "1400", "--share", "--disable-port-security", "--disable", "n1"
    )
    assert (net["mtu"], net["shared"], net["port_security_enabled"], net["admin_state_up"]) == (
        1400, True, False, False,
    )  # fmt: skip
    sf_quiet(
        api_url, "network", "set", "--mtu", "1300", "--no-share", "--enable-port-security", "--enable", "n1"
    )
    net = get(api_url, schema.NETWORK, "n1")
    assert (net["mtu"], net["shared"], net["port_security_enabled"], net["admin_state_up"]) == (
        1300, False, True, True,
    )  # fmt: skip
    renamed = sf_json(api_url, "network", "update", "--name", "n2", "n1")  # the old name, an alias of set
    assert renamed["name"] == "n2"
    usage = sf(api_url, "network", "set", "n2")
    assert usage.exit_code == 2 and "nothing to change" in usage.output
    # an admin (every caller without a token file) creates for another project
    assert sf_json(api_url, "network", "create", "--project", "p9", "theirs")["project_id"] == "p9"
    classifier = sf_json(api_url, "flow-classifier", "create", "--project", "p9", "--protocol", "icmp", "fp")
    assert classifier["project_id"] == "p9"


def test_subnet_gateway_and_port_options(api_url: str) -> None:
    sf_json(api_url, "network", "create", "--disable-port-security", "net")
    sub = sf_json(
        api_url, "subnet", "create", "--network", "net", "--subnet-range", "10.5.0.0/24", "--gateway", "none",
        "--allocation-pool", "start=10.5.0.10,end=10.5.0.20", "--no-dhcp", "sub",
    )  # fmt: skip
    assert sub["gateway_ip"] is None and sub["enable_dhcp"] is False
    assert sub["allocation_pools"] == [{"start": "10.5.0.10", "end": "10.5.0.20"}]
    sf_quiet(api_url, "subnet", "set", "--gateway", "10.5.0.1", "--dhcp", "sub")
    sub = get(api_url, schema.SUBNET, "sub")
    assert (sub["gateway_ip"], sub["enable_dhcp"]) == ("10.5.0.1", True)
    sf_quiet(api_url, "subnet", "set", "--gateway", "none", "sub")
    assert get(api_url, schema.SUBNET, "sub")["gateway_ip"] is None

    port = sf_json(
        api_url, "port", "create", "--network", "net", "--fixed-ip", "ip-address=10.5.0.11",
        "--device-owner", "compute:nova", "--enable-port-security", "p1",
    )  # fmt: skip
    assert port["port_security_enabled"] is True and port["device_owner"] == "compute:nova"
    defaulted = sf_json(api_url, "port", "create", "--network", "net", "p2")
    assert defaulted["port_security_enabled"] is False  # the network's
    sf_quiet(api_url, "port", "set", "--disable-port-security", "--fixed-ip", "ip-address=10.5.0.12", "p1")
    port = get(api_url, schema.PORT, "p1")
    assert port["port_security_enabled"] is False
    assert [ip["ip_address"] for ip in port["fixed_ips"]] == ["10.5.0.11", "10.5.0.12"]
    sf_quiet(api_url, "port", "unset", "--fixed-ip", "ip-address=10.5.0.11", "p1")
    assert [ip["ip_address"] for ip in get(api_url, schema.PORT, "p1")["fixed_ips"]] == ["10.5.0.12"]
    sf_quiet(api_url, "port", "set", "--host", "ch1", "p1")
    assert get(api_url, schema.PORT, "p1")["binding:host_id"] == "ch1"
    sf_quiet(api_url, "port", "unset", "--host", "p1")
    assert get(api_url, schema.PORT, "p1")["binding:host_id"] == ""


def make_groups(url: str) -> None:
    """Ports src, in1, out1, in2, out2; port pairs pp1 and pp2; groups g1 (with both) and g2 (empty)."""
    make_ports(url, "vm", "src", "in1", "out1", "in2", "out2")
    sf_json(url, "port-pair", "create", "--ingress", "in1", "--egress", "out1", "pp1")
    sf_json(url, "port-pair", "create", "--ingress", "in2", "--egress", "out2", "pp2")
    sf_json(url, "port-pair-group", "create", "--port-pair", "pp1", "--port-pair", "pp2", "g1")
    sf_json(url, "port-pair-group", "create", "g2")


def test_set_and_unset_of_groups_and_chains(api_url: str) -> None:
    make_groups(api_url)
    pp1, pp2 = get(api_url, schema.PORT_PAIR, "pp1")["id"], get(api_url, schema.PORT_PAIR, "pp2")["id"]
    sf_quiet(api_url, "port-pair-group", "unset", "--port-pair", "pp1", "g1")
    assert get(api_url, schema.PORT_PAIR_GROUP, "g1")["port_pairs"] == [pp2]
    sf_quiet(api_url, "port-pair-group", "set", "--port-pair", "pp1", "g1")
    assert get(api_url, schema.PORT_PAIR_GROUP, "g1")["port_pairs"] == [pp2, pp1]
    sf_quiet(api_url, "port-pair-group", "unset", "--all-port-pair", "g1")
    assert get(api_url, schema.PORT_PAIR_GROUP, "g1")["port_pairs"] == []
    mapped = sf_json(
        api_url, "port-pair-group", "create", "--ingress-n-tuple", "source_ip_prefix=10.0.0.0/24",
        "--egress-n-tuple", "destination_port_range_min=80,destination_port_range_max=90", "g3",
    )  # fmt: skip
    assert mapped["port_pair_group_parameters"]["ppg_n_tuple_mapping"] == {
        "ingress_n_tuple": {"source_ip_prefix": "10.0.0.0/24"},
        "egress_n_tuple": {"destination_port_range_min": 80, "destination_port_range_max": 90},
    }

    sf_json(api_url, "flow-classifier", "create", "--protocol", "udp", "--logical-source-port", "src", "fa")
    sf_json(api_url, "flow-classifier", "create", "--protocol", "tcp", "--logical-source-port", "src", "fb")
    chain = sf_json(
        api_url, "port-chain", "create", "--port-pair-group", "g1", "--port-pair-group", "g2",
        "--flow-classifier", "fa", "--flow-classifier", "fb", "--chain-id", "77", "c1",
    )  # fmt: skip
    assert chain["chain_id"] == 77
    fb = get(api_url, schema.FLOW_CLASSIFIER, "fb")["id"]
    sf_quiet(api_url, "port-chain", "unset", "--flow-classifier", "fa", "--port-pair-group", "g1", "c1")
    chain = get(api_url, schema.PORT_CHAIN, "c1")
    assert chain["flow_classifiers"] == [fb]
    assert chain["port_pair_groups"] == [get(api_url, schema.PORT_PAIR_GROUP, "g2")["id"]]
    sf_quiet(api_url, "port-chain", "unset", "--all-flow-classifier", "c1")
    assert get(api_url, schema.PORT_CHAIN, "c1")["flow_classifiers"] == []
    shown = sf_json(api_url, "port-chain", "set", "--description", "d", "c1")  # -f prints the result
    assert shown["description"] == "d"
    sf_quiet(api_url, "port-pair", "set", "--name", "pp9", "pp1")
    sf_quiet(api_url, "flow-classifier", "set", "--description", "x", "fa")
    assert get(api_url, schema.PORT_PAIR, "pp9")["id"] == pp1
    assert get(api_url, schema.FLOW_CLASSIFIER, "fa")["description"] == "x"


def test_delete_goes_on_past_failures(api_url: str) -> None:
    for name in ("a", "b", "c"):
        sf_json(api_url, "network", "create", name)
    result = sf(api_url, "network", "delete", "a", "nope", "c")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: failed to delete network with name or ID 'nope': no network found for 'nope'",
        "Error: 1 of 3 networks failed to delete.",
    ]
    with SteerflowClient(api_url) as client:
        assert [n["name"] for n in client.list(schema.NETWORK)] == ["b"]  # a and c went
    sf_quiet(api_url, "network", "delete", "b")
    assert "no network found for 'b'" in sf_fails(api_url, "network", "delete", "b")


def test_errors_say_what_to_do(api_url: str) -> None:
    first = sf_json(api_url, "network", "create", "twin")
    second = sf_json(api_url, "network", "create", "twin")
    ambiguous = sf_fails(api_url, "network", "show", "twin")
    assert "more than one network is named 'twin'" in ambiguous
    assert first["id"] in ambiguous and second["id"] in ambiguous

    assert "--endpoint must be an http(s) URL" in sf_fails("localhost:9696", "network", "list")
    versioned = sf_fails(f"{api_url}/v2.0", "network", "list")
    assert f"give --endpoint the base URL without /v2.0 (--endpoint {api_url})" in versioned

    make_groups(api_url)
    lb = sf_fails(
        api_url, "port-pair-group", "create", "--port-pair-group-parameters", "lb-fields=ip_foo", "g3"
    )
    assert "Illegal values in a list: ip_foo (valid values: eth_dst, eth_src, ip_dst" in lb
    protocol = sf_fails(api_url, "flow-classifier", "create", "--protocol", "sctp", "f0")
    assert "Supported protocol values are ['tcp', 'udp', 'icmp']" in protocol
    ethertype = sf_fails(api_url, "flow-classifier", "create", "--ethertype", "IPv5", "f0")
    assert "Supported ethertype values are ['IPv4', 'IPv6']" in ethertype

    web = sf_json(
        api_url, "flow-classifier", "create", "--protocol", "tcp", "--logical-source-port", "src", "web"
    )
    conflict = sf_fails(api_url, "flow-classifier", "create", "--logical-source-port", "src", "all")
    assert (
        f"conflicts with another Flow Classifier {web['id']} ('web'): both match ethertype IPv4" in conflict
    )
    assert "protocol any / tcp" in conflict

    chain = sf_json(api_url, "port-chain", "create", "--port-pair-group", "g1", "c1")
    with SteerflowClient(api_url) as client, pytest.raises(ApiError) as caught:
        client.update(schema.PORT_CHAIN, chain["id"], {"chain_parameters": {"correlation": "nsh"}})
    assert "it is set when the port chain is created" in str(caught.value)
