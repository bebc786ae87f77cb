"""The steerflow CLI's resource commands against a real API server: every resource, names, output, errors."""

from __future__ import annotations

import pytest

from steerflow.client import SteerflowClient
from steerflow.model import schema
from tests.builders.steerflow_cli import make_ports, sf, sf_fails, sf_json

pytestmark = pytest.mark.server


def test_network_subnet_port_lifecycle(api_url: str) -> None:
    net = sf_json(api_url, "network", "create", "--description", "first", "blue")
    assert (net["name"], net["description"]) == ("blue", "first")
    subnet = sf_json(
        api_url, "subnet", "create", "--network", "blue", "--subnet-range", "10.1.0.0/24", "blue-sub"
    )
    assert (subnet["network_id"], subnet["cidr"], subnet["ip_version"]) == (net["id"], "10.1.0.0/24", 4)
    port = sf_json(
        api_url, "port", "create", "--network", "blue", "--device", "vm-a", "--host", "chassis-1",
        "--fixed-ip", "subnet=blue-sub,ip-address=10.1.0.7", "a1",
    )  # fmt: skip
    assert port["device_id"] == "vm-a" and port["binding:host_id"] == "chassis-1"
    assert [ip["ip_address"] for ip in port["fixed_ips"]] == ["10.1.0.7"]
    sf_json(api_url, "port", "create", "--network", net["id"], "--device", "vm-b", "b1")

    assert [p["name"] for p in sf_json(api_url, "port", "list", "--device", "vm-a")] == ["a1"]
    assert {p["name"] for p in sf_json(api_url, "port", "list", "--network", "blue")} == {"a1", "b1"}
    assert [s["name"] for s in sf_json(api_url, "subnet", "list", "--network", "blue")] == ["blue-sub"]
    updated = sf_json(api_url, "port", "update", "--name", "a2", "--host", "chassis-2", "a1")
    assert (updated["id"], updated["name"], updated["binding:host_id"]) == (port["id"], "a2", "chassis-2")
    assert (
        sf_json(api_url, "network", "update", "--description", "renamed", "blue")["description"] == "renamed"
    )

    table = sf(api_url, "port", "list")
    assert table.exit_code == 0 and "a2" in table.stdout and "10.1.0.7" in table.stdout

    assert sf(api_url, "port", "delete", "a2", "b1").exit_code == 0
    with SteerflowClient(api_url) as client:
        assert client.list(schema.PORT) == []
        assert client.get(schema.NETWORK, net["id"])["description"] == "renamed"


def test_port_pair_and_group(api_url: str) -> None:
    ports = make_ports(api_url, "vm-sf", "in1", "out1", "in2", "out2")
    pp1 = sf_json(
        api_url, "port-pair", "create", "--ingress", "in1", "--egress", "out1",
        "--service-function-parameters", "correlation=mpls,weight=3", "pp1",
    )  # fmt: skip
    assert (pp1["ingress"], pp1["egress"]) == (ports["in1"]["id"], ports["out1"]["id"])
    assert pp1["service_function_parameters"] == {"correlation": "mpls", "weight": 3}
    plain = sf_json(api_url, "port-pair", "create", "--ingress", "out1", "--egress", "in1", "plain")
    assert plain["service_function_parameters"] == {"correlation": None, "weight": 1}
    pp2 = sf_json(
        api_url, "port-pair", "create", "--ingress", ports["in2"]["id"], "--egress", "out2",
        "--service-function-parameters", "correlation=mpls,weight=1", "pp2",
    )  # fmt: skip

    assert sf_json(api_url, "port-pair", "show", "pp1")["id"] == pp1["id"]
    assert (
        sf_json(api_url, "port-pair", "update", "--name", "pp2b", "--description", "d", "pp2")["name"]
        == "pp2b"
    )
    assert [p["name"] for p in sf_json(api_url, "port-pair", "list", "--name", "pp2b")] == ["pp2b"]

    group = sf_json(
        api_url, "port-pair-group", "create", "--port-pair", "pp1",
        "--port-pair-group-parameters", "lb-fields=ip_src&ip_dst", "g1",
    )  # fmt: skip
    assert group["port_pairs"] == [pp1["id"]] and group["group_id"] >= 1
    assert group["port_pair_group_parameters"]["lb_fields"] == ["ip_src", "ip_dst"]
    grown = sf_json(api_url, "port-pair-group", "update", "--port-pair", "pp2b", "g1")
    assert grown["port_pairs"] == [pp1["id"], pp2["id"]]
    shrunk = sf_json(api_url, "port-pair-group", "update", "--no-port-pair", "--port-pair", "pp2b", "g1")
    assert shrunk["port_pairs"] == [pp2["id"]]

    error = sf_fails(api_url, "port-pair", "delete", "pp2b")
    assert "PortPairInUse" in error
    table = sf(api_url, "port-pair-group", "list")
    assert table.exit_code == 0 and "pp2b" in table.stdout  # members shown by name
    assert sf(api_url, "port-pair-group", "delete", "g1").exit_code == 0
    assert sf(api_url, "port-pair", "delete", "pp2b", "pp1", plain["id"]).exit_code == 0
    assert sf_json(api_url, "port-pair", "list") == []


def make_groups(url: str) -> None:
    """Ports src, dst, sf-in, sf-out; port pair pp; groups g1 (with pp) and g2 (empty)."""
    make_ports(url, "vm-c", "src", "dst", "sf-in", "sf-out")
    sf_json(url, "port-pair", "create", "--ingress", "sf-in", "--egress", "sf-out", "pp")
    sf_json(url, "port-pair-group", "create", "--port-pair", "pp", "g1")
    sf_json(url, "port-pair-group", "create", "g2")


def test_flow_classifier_and_port_chain(api_url: str) -> None:
    make_groups(api_url)
    fc = sf_json(
        api_url, "flow-classifier", "create", "--protocol", "UDP", "--source-port", "1000:2000",
        "--destination-port", "53", "--source-ip-prefix", "10.9.0.0/24",
        "--destination-ip-prefix", "10.9.0.5/32",
        "--logical-source-port", "src", "--logical-destination-port", "dst", "fc-udp",
    )  # fmt: skip
    assert (fc["protocol"], fc["ethertype"]) == ("udp", "IPv4")
    assert (fc["source_port_range_min"], fc["source_port_range_max"]) == (1000, 2000)
    assert (fc["destination_port_range_min"], fc["destination_port_range_max"]) == (53, 53)
    fc_tcp = sf_json(
        api_url, "flow-classifier", "create", "--protocol", "tcp", "--logical-source-port", "dst", "t"
    )

    chain = sf_json(
        api_url, "port-chain", "create", "--port-pair-group", "g1", "--flow-classifier", "fc-udp",
        "--chain-parameters", "correlation=mpls,symmetric=true", "c1",
    )  # fmt: skip
    assert chain["chain_parameters"] == {"correlation": "mpls", "symmetric": True}
    assert chain["flow_classifiers"] == [fc["id"]] and chain["chain_id"] >= 1
    ppg_ids = [sf_json(api_url, "port-pair-group", "show", g)["id"] for g in ("g1", "g2")]
    grown = sf_json(
        api_url, "port-chain", "update", "--port-pair-group", "g2", "--flow-classifier", "t", "c1"
    )
    assert grown["port_pair_groups"] == ppg_ids and grown["flow_classifiers"] == [fc["id"], fc_tcp["id"]]
    cleared = sf_json(api_url, "port-chain", "update", "--no-flow-classifier", "c1")
    assert cleared["flow_classifiers"] == [] and cleared["chain_id"] == chain["chain_id"]

    md2 = sf_json(
        api_url, "port-chain", "create", "--port-pair-group", "g1",
        "--chain-parameters", "correlation=nsh,nsh_md_type=2", "c2",
    )  # fmt: skip
    assert md2["chain_parameters"] == {"correlation": "nsh", "symmetric": False, "nsh_md_type": 2}
    assert sf(api_url, "port-chain", "delete", "c1", "c2").exit_code == 0
    assert sf(api_url, "flow-classifier", "delete", "fc-udp", "t").exit_code == 0
    assert sf_json(api_url, "port-chain", "list") == [] and sf_json(api_url, "flow-classifier", "list") == []


def test_service_graph(api_url: str) -> None:
    make_groups(api_url)
    c1 = sf_json(api_url, "port-chain", "create", "--port-pair-group", "g1", "--port-pair-group", "g2", "c1")
    c2 = sf_json(api_url, "port-chain", "create", "--port-pair-group", "g2", "c2")
    graph = sf_json(api_url, "service-graph", "create", "--branching-point", "c1:c2", "graph")
    assert graph["port_chains"] == {c1["id"]: [c2["id"]]}
    assert sf_json(api_url, "service-graph", "update", "--description", "d", "graph")["description"] == "d"
    table = sf(api_url, "service-graph", "list")
    assert table.exit_code == 0
    assert f"c1 ({c1['id']}) -> c2 ({c2['id']})" in table.stdout  # chains shown by name and id
    assert "ServiceGraphPortChainInUse" in sf_fails(api_url, "port-chain", "delete", "c1")
    assert sf(api_url, "service-graph", "delete", "graph").exit_code == 0
    assert sf(api_url, "port-chain", "delete", "c1", "c2").exit_code == 0
    assert sf_json(api_url, "service-graph", "list") == []


def test_errors_are_one_red_line_and_exit_1(api_url: str) -> None:
    make_ports(api_url, "vm-e", "e1")
    sf_json(api_url, "flow-classifier", "create", "--protocol", "udp", "--logical-source-port", "e1", "fc1")
    error = sf_fails(
        api_url, "flow-classifier", "create", "--protocol", "udp", "--logical-source-port", "e1", "fc2"
    )
    assert error.startswith("Error: FlowClassifierInConflict: ")
    assert "no port pair found for 'nope'" in sf_fails(api_url, "port-pair", "show", "nope")
    sf_json(api_url, "network", "create", "twin")
    sf_json(api_url, "network", "create", "twin")
    assert "more than one network is named 'twin'" in sf_fails(api_url, "network", "show", "twin")
    assert "cannot reach the steerflow API" in sf_fails("http://127.0.0.1:9", "network", "list")
    usage = sf(api_url, "flow-classifier", "create", "--destination-port", "x:y", "fc3")
    assert usage.exit_code == 2 and "<min-port>:<max-port>" in usage.output
    with SteerflowClient(api_url) as client:
        assert [fc["name"] for fc in client.list(schema.FLOW_CLASSIFIER)] == ["fc1"]  # nothing half-written
