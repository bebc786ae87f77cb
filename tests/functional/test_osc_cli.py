"""The real `openstack` CLI (openstackclient + neutronclient's sfc plugin) against a real steerflow API."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from steerflow.client import SteerflowClient
from steerflow.model import schema
from tests.builders.api_server import ApiServer, TokenFile, start_api_server

ROOT = Path(__file__).resolve().parents[2]
OSC_VENV = Path(os.environ.get("STEERFLOW_OSC_VENV") or ROOT / ".venv-osc")
OPENSTACK = OSC_VENV / "bin" / "openstack"

pytestmark = [
    pytest.mark.osc,
    pytest.mark.server,
    pytest.mark.skipif(
        not OPENSTACK.exists(),
        reason=f"the openstack CLI is not installed at {OPENSTACK} (./run.sh install puts it there; "
        "STEERFLOW_OSC_VENV names another venv)",
    ),
]


def osc(url: str, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """One `openstack` invocation without Keystone: `none` auth, or `admin_token` with `token`."""
    auth = ["--os-auth-type", "admin_token", "--os-token", token] if token else ["--os-auth-type", "none"]
    # no OS_* variables from the caller's shell (a real cloud's credentials must not leak in)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    argv = [str(OPENSTACK), *auth, "--os-endpoint", url, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)


def osc_ok(url: str, *args: str, token: str | None = None) -> str:
    done = osc(url, *args, token=token)
    assert done.returncode == 0, f"openstack {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def osc_json(url: str, *args: str) -> Any:
    return json.loads(osc_ok(url, *args, "-f", "json"))


def make_ports(url: str, device: str, *names: str) -> dict[str, str]:
    """Ports for one device on a fresh network, made through the API directly (fast); their ids by name."""
    with SteerflowClient(url) as client:
        net = client.create(schema.NETWORK, {"name": f"net-{device}"})
        client.create(
            schema.SUBNET,
            {"name": f"sub-{device}", "network_id": net["id"], "cidr": "10.7.0.0/24", "ip_version": 4},
        )
        return {
            n: client.create(schema.PORT, {"name": n, "network_id": net["id"], "device_id": device})["id"]
            for n in names
        }


def test_network_subnet_and_ports(api_url: str) -> None:
    net = osc_json(api_url, "network", "create", "net1")
    subnet = osc_json(
        api_url, "subnet", "create", "--network", "net1", "--subnet-range", "10.0.0.0/24", "sub1"
    )
    assert (subnet["network_id"], subnet["cidr"]) == (net["id"], "10.0.0.0/24")
    ports = {}
    for name, device in (("client", "vm-c"), ("server", "vm-s"), ("sf-in", "vm-sf"), ("sf-out", "vm-sf")):
        port = osc_json(api_url, "port", "create", "--network", "net1", "--device", device, name)
        assert (port["name"], port["device_id"], port["network_id"]) == (name, device, net["id"])
        ports[name] = port["id"]
    with SteerflowClient(api_url) as client:
        stored = {p["name"]: p for p in client.list(schema.PORT)}
    assert {n: p["id"] for n, p in stored.items()} == ports
    assert stored["sf-in"]["device_id"] == stored["sf-out"]["device_id"] == "vm-sf"


def test_port_pair_create_list_show_set_delete(api_url: str) -> None:
    make_ports(api_url, "vm-pp", "in1", "out1")
    created = osc_json(
        api_url, "sfc", "port", "pair", "create", "--ingress", "in1", "--egress", "out1",
        "--service-function-parameters", "correlation=mpls,weight=5", "pp1",
    )  # fmt: skip
    # the CLI sends weight as the string "5"; the API stores the integer
    assert created["Service Function Parameters"] == {"correlation": "mpls", "weight": 5}
    listed = osc_json(api_url, "sfc", "port", "pair", "list")
    assert [(p["ID"], p["Name"]) for p in listed] == [(created["ID"], "pp1")]
    osc_ok(api_url, "sfc", "port", "pair", "set", "--name", "pp1b", "--description", "first SF", "pp1")
    shown = osc_json(api_url, "sfc", "port", "pair", "show", "pp1b")
    assert (shown["ID"], shown["Description"]) == (created["ID"], "first SF")
    osc_ok(api_url, "sfc", "port", "pair", "delete", "pp1b")
    with SteerflowClient(api_url) as client:
        assert client.list(schema.PORT_PAIR) == []


def test_port_pair_group_create_set_unset(api_url: str) -> None:
    ports = make_ports(api_url, "vm-g", "in1", "out1", "in2", "out2")
    with SteerflowClient(api_url) as client:
        pp1 = client.create(
            schema.PORT_PAIR, {"name": "pp1", "ingress": ports["in1"], "egress": ports["out1"]}
        )
        pp2 = client.create(
            schema.PORT_PAIR, {"name": "pp2", "ingress": ports["in2"], "egress": ports["out2"]}
        )
    group = osc_json(
        api_url, "sfc", "port", "pair", "group", "create", "--port-pair", "pp1",
        "--port-pair-group-parameters", "lb-fields=ip_src&ip_dst", "g1",
    )  # fmt: skip
    assert group["Port Pair"] == [pp1["id"]] and group["Tap Enabled"] is False
    assert group["Port Pair Group Parameters"]["lb_fields"] == ["ip_src", "ip_dst"]
    osc_ok(api_url, "sfc", "port", "pair", "group", "set", "--port-pair", "pp2", "g1")
    osc_ok(api_url, "sfc", "port", "pair", "group", "unset", "--port-pair", "pp1", "g1")
    tap = osc_json(
        api_url, "sfc", "port", "pair", "group", "create", "--port-pair", "pp1", "--enable-tap", "tap"
    )
    assert tap["Tap Enabled"] is True
    with SteerflowClient(api_url) as client:
        assert client.find(schema.PORT_PAIR_GROUP, "g1")["port_pairs"] == [pp2["id"]]
        assert client.find(schema.PORT_PAIR_GROUP, "tap")["port_pairs"] == [pp1["id"]]


def _chain_fixture(url: str) -> dict[str, str]:
    """Ports, a port pair and two groups (through the API); the ids by name."""
    ids = make_ports(url, "vm-x", "src", "dst", "sf-in", "sf-out")
    with SteerflowClient(url) as client:
        mpls = {"correlation": "mpls", "weight": 1}  # a graph needs MPLS-aware functions at its joints
        pp = client.create(
            schema.PORT_PAIR,
            {
                "name": "pp",
                "ingress": ids["sf-in"],
                "egress": ids["sf-out"],
                "service_function_parameters": mpls,
            },
        )
        ids["g1"] = client.create(schema.PORT_PAIR_GROUP, {"name": "g1", "port_pairs": [pp["id"]]})["id"]
        ids["g2"] = client.create(schema.PORT_PAIR_GROUP, {"name": "g2"})["id"]
    return ids


def test_flow_classifier_and_port_chain(api_url: str) -> None:
    ids = _chain_fixture(api_url)
    fc = osc_json(
        api_url, "sfc", "flow", "classifier", "create", "--protocol", "udp", "--source-port", "1000:2000",
        "--destination-port", "5001:5001", "--source-ip-prefix", "10.7.0.0/24",
        "--destination-ip-prefix", "10.7.0.9/32", "--logical-source-port", "src", "fc-udp",
    )  # fmt: skip
    assert (fc["Protocol"], fc["Logical Source Port"], fc["Destination Port Range Min"]) == (
        "udp",
        ids["src"],
        5001,
    )
    chain = osc_json(
        api_url, "sfc", "port", "chain", "create", "--port-pair-group", "g1", "--flow-classifier", "fc-udp",
        "--chain-parameters", "correlation=mpls,symmetric=true", "c1",
    )  # fmt: skip
    assert chain["Chain Parameters"] == {"correlation": "mpls", "symmetric": True}
    assert chain["Port Pair Groups"] == [ids["g1"]] and chain["Flow Classifiers"] == [fc["ID"]]
    # `set` reads the chain and PUTs the whole new list: g2 is appended, the classifiers are cleared
    osc_ok(api_url, "sfc", "port", "chain", "set", "--port-pair-group", "g2", "--no-flow-classifier", "c1")
    shown = osc_json(api_url, "sfc", "port", "chain", "show", "c1")
    assert shown["Port Pair Groups"] == [ids["g1"], ids["g2"]] and shown["Flow Classifiers"] == []
    assert [c["Name"] for c in osc_json(api_url, "sfc", "port", "chain", "list")] == ["c1"]
    osc_ok(api_url, "sfc", "port", "chain", "delete", "c1")
    with SteerflowClient(api_url) as client:
        assert client.list(schema.PORT_CHAIN) == []
        assert [f["name"] for f in client.list(schema.FLOW_CLASSIFIER)] == ["fc-udp"]


def test_service_graph_create_show_delete(api_url: str) -> None:
    ids = _chain_fixture(api_url)
    with SteerflowClient(api_url) as client:
        c1 = client.create(schema.PORT_CHAIN, {"name": "c1", "port_pair_groups": [ids["g1"]]})
        c2 = client.create(schema.PORT_CHAIN, {"name": "c2", "port_pair_groups": [ids["g2"]]})
    graph = osc_json(api_url, "sfc", "service", "graph", "create", "--branching-point", "c1:c2", "graph")
    assert graph["Branching Points"] == {c1["id"]: [c2["id"]]}
    shown = osc_json(api_url, "sfc", "service", "graph", "show", "graph")
    assert (shown["ID"], shown["Name"]) == (graph["ID"], "graph")
    osc_ok(api_url, "sfc", "service", "graph", "delete", "graph")
    with SteerflowClient(api_url) as client:
        assert client.list(schema.SERVICE_GRAPH) == []


def test_conflict_prints_the_neutron_error_and_fails(api_url: str) -> None:
    ids = make_ports(api_url, "vm-e", "e1")
    with SteerflowClient(api_url) as client:
        client.create(
            schema.FLOW_CLASSIFIER, {"name": "fc1", "protocol": "tcp", "logical_source_port": ids["e1"]}
        )
    done = osc(
        api_url,
        "sfc",
        "flow",
        "classifier",
        "create",
        "--protocol",
        "tcp",
        "--logical-source-port",
        "e1",
        "fc2",
    )
    assert done.returncode != 0
    assert "400" in done.stderr and "conflicts with another Flow Classifier" in done.stderr
    missing = osc(api_url, "sfc", "port", "chain", "show", "nope")
    assert missing.returncode != 0 and "nope" in missing.stderr
    with SteerflowClient(api_url) as client:
        assert [f["name"] for f in client.list(schema.FLOW_CLASSIFIER)] == ["fc1"]


def test_token_mode_with_admin_token_auth(token_api_server: ApiServer, token_file: TokenFile) -> None:
    url = token_api_server.url
    mine = osc_json_token(url, token_file.alice, "network", "create", "alice-net")
    assert mine["project_id"] == "alice"
    assert osc_json_token(url, token_file.bob, "network", "list") == []  # bob sees only his project
    anonymous = osc(url, "network", "list")  # `none` auth sends the token "notused"
    assert anonymous.returncode != 0 and "401" in anonymous.stderr


def osc_json_token(url: str, token: str, *args: str) -> Any:
    return json.loads(osc_ok(url, *args, "-f", "json", token=token))


MANY = 1000
PAGE_CAP = 100  # the server's --pagination-max-limit: no page is longer, so the CLI must follow links


@pytest.fixture(scope="module")
def capped_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    args = ("--pagination-max-limit", str(PAGE_CAP))
    with start_api_server(tmp_path_factory.mktemp("osc-capped"), extra_args=args) as server:
        yield server


def _bulk(url: str, collection: str, resource: str, items: list[dict[str, Any]]) -> list[str]:
    resp = httpx.post(f"{url}/v2.0{collection}", json={resource + "s": items}, timeout=120.0)
    assert resp.status_code == 201, resp.text[:500]
    return [o["id"] for o in resp.json()[resource + "s"]]


def _many_ports_and_pairs(url: str) -> tuple[list[str], list[str]]:
    """1,000 ports (two projects: the port quota is 500 each) and 1,000 port pairs over 32 of them
    (ten projects: the port pair quota is 100 each), all in bulk requests."""
    net = httpx.post(f"{url}/v2.0/networks", json={schema.NETWORK: {"name": "many"}}).json()[schema.NETWORK]
    sub = {"network_id": net["id"], "cidr": "10.8.0.0/22", "ip_version": 4}
    assert httpx.post(f"{url}/v2.0/subnets", json={schema.SUBNET: sub}).status_code == 201
    ports: list[str] = []
    for project in ("default", "other"):
        items = [
            {
                "network_id": net["id"],
                "device_id": "vm-many",
                "name": f"p{len(ports) + i}",
                "project_id": project,
            }
            for i in range(MANY // 2)
        ]
        ports += _bulk(url, "/ports", schema.PORT, items)
    combos = [(a, b) for a in ports[:32] for b in ports[:32]][:MANY]
    pairs: list[str] = []
    for k in range(MANY // 100):
        items = [
            {"name": f"pp{100 * k + i}", "ingress": a, "egress": b, "project_id": f"proj{k}"}
            for i, (a, b) in enumerate(combos[100 * k : 100 * (k + 1)])
        ]
        pairs += _bulk(url, "/sfc/port_pairs", schema.PORT_PAIR, items)
    return ports, pairs


def _list_requests(server: ApiServer, path: str) -> list[str]:
    """The access-log lines of GETs of `path` (with their query strings)."""
    return [ln for ln in server.log_text().splitlines() if f"GET {path}?" in ln or f"GET {path} " in ln]


def test_paged_listing_of_a_thousand_objects(capped_api: ApiServer) -> None:
    ports, pairs = _many_ports_and_pairs(capped_api.url)
    before = len(_list_requests(capped_api, "/v2.0/sfc/port_pairs"))
    listed = osc_json(capped_api.url, "sfc", "port", "pair", "list")
    assert sorted(p["ID"] for p in listed) == sorted(pairs) and len(listed) == MANY
    requests = _list_requests(capped_api, "/v2.0/sfc/port_pairs")[before:]
    # the server answers 100 at a time and the CLI followed the next links (one more page: empty)
    assert len(requests) >= MANY // PAGE_CAP and sum("marker=" in r for r in requests) >= MANY // PAGE_CAP - 1
    before = len(_list_requests(capped_api, "/v2.0/ports"))
    listed = osc_json(capped_api.url, "port", "list", "--limit", "250")
    assert sorted(p["ID"] for p in listed) == sorted(ports)
    requests = _list_requests(capped_api, "/v2.0/ports")[before:]
    assert sum("limit=" in r and "marker=" in r for r in requests) >= 3, requests
