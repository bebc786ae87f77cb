"""Optional differential test: one scenario against upstream networking-sfc and against steerflow.

Skipped unless NEUTRON_REF_URL names a running reference server, e.g. started with
`PORT=19696 ../shared/reference/upstream/neutron-ref.sh` and `NEUTRON_REF_URL=http://127.0.0.1:19696`.
Each step's (HTTP status, error type) must agree. The test first deletes every SFC object on that server.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import pytest

from steerflow.api.errors import NeutronError
from steerflow.model import schema
from tests.builders.sfc_world import ALICE, World

REF = os.environ.get("NEUTRON_REF_URL", "")
pytestmark = pytest.mark.skipif(not REF, reason="NEUTRON_REF_URL not set (no upstream reference server)")

PLURAL = {"pp": "port_pairs", "ppg": "port_pair_groups", "pc": "port_chains", "fc": "flow_classifiers"}
PLURAL["sg"] = "service_graphs"
Outcome = tuple[int, str, Any]


def http(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{REF}/v2.0{path}", data, {"Content-Type": "application/json"}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Upstream:
    def __init__(self) -> None:
        for kind in ("sg", "pc", "ppg", "pp", "fc"):  # the reference server is ours alone: start empty
            for obj in http("GET", f"/sfc/{PLURAL[kind]}")[1][PLURAL[kind]]:
                http("DELETE", f"/sfc/{PLURAL[kind]}/{obj['id']}")
        self.net = http("POST", "/networks", {schema.NETWORK: {"name": "diff"}})[1][schema.NETWORK]["id"]
        http(
            "POST",
            "/subnets",
            {schema.SUBNET: {"network_id": self.net, "cidr": "10.9.0.0/24", "ip_version": 4}},
        )

    def port(self, device: str) -> str:
        return str(
            http("POST", "/ports", {schema.PORT: {"network_id": self.net, "device_id": device}})[1][
                schema.PORT
            ]["id"]
        )

    def call(self, kind: str, op: str, id: Any, body: Any) -> Outcome:
        base, one = f"/sfc/{PLURAL[kind]}", PLURAL[kind][:-1]
        method = {"create": "POST", "update": "PUT", "delete": "DELETE"}[op]
        status, answer = http(
            method, base if op == "create" else f"{base}/{id}", None if body is None else {one: body}
        )
        if status >= 400:
            return status, answer["NeutronError"]["type"], None
        return status, "ok", (answer or {}).get(one)


class Ours:
    def __init__(self) -> None:
        self.w = World()

    def port(self, device: str) -> str:
        return self.w.port(device)

    def call(self, kind: str, op: str, id: Any, body: Any) -> Outcome:
        handler = getattr(self.w, kind)
        try:
            if op == "create":
                return 201, "ok", handler.create(ALICE, body)
            if op == "update":
                return 200, "ok", handler.update(ALICE, id, body)
            handler.delete(ALICE, id)
            return 204, "ok", None
        except NeutronError as e:
            return e.status, e.type, None


MPLS, NSH = {"correlation": "mpls"}, {"correlation": "nsh"}
PORTS = [("p1", "d1"), ("p2", "d1"), ("p3", "d2"), ("p4", "d2"), ("p5", "d3"), ("p6", "d3"), ("p7", "d4")]
PORTS += [("p8", "d4"), ("s1", "va"), ("s2", "vb")]
STEPS: list[tuple[str, str, str, str | None, Any]] = [
    ("pp1", "pp", "create", None, {"ingress": "p1", "egress": "p2", "service_function_parameters": MPLS}),
    ("pp2", "pp", "create", None, {"ingress": "p3", "egress": "p4", "service_function_parameters": MPLS}),
    ("pp3", "pp", "create", None, {"ingress": "p5", "egress": "p6"}),
    ("pp4", "pp", "create", None, {"ingress": "p7", "egress": "p8", "service_function_parameters": NSH}),
    ("-", "pp", "create", None, {"ingress": "p1", "egress": "p2"}),
    ("-", "pp", "create", None, {"ingress": "p1", "egress": "p3"}),
    ("ppg1", "ppg", "create", None, {"port_pairs": ["pp1"]}),
    ("ppg2", "ppg", "create", None, {"port_pairs": ["pp2"]}),
    ("ppg3", "ppg", "create", None, {"port_pairs": ["pp3"]}),
    ("ppg4", "ppg", "create", None, {"port_pairs": ["pp4"]}),
    ("-", "ppg", "create", None, {"port_pairs": ["pp1"]}),
    ("-", "ppg", "create", None, {"port_pairs": ["pp3", "pp4"]}),
    ("fc1", "fc", "create", None, {"protocol": "tcp", "logical_source_port": "s1"}),
    ("-", "fc", "create", None, {"logical_source_port": "s1"}),
    (
        "fc2",
        "fc",
        "create",
        None,
        {"protocol": "udp", "logical_source_port": "s2", "source_ip_prefix": "10.0.0.0/8"},
    ),
    (
        "-",
        "fc",
        "create",
        None,
        {"protocol": "udp", "logical_source_port": "s2", "source_ip_prefix": "10.1.0.0/16"},
    ),
    (
        "fc3",
        "fc",
        "create",
        None,
        {"protocol": "udp", "logical_source_port": "s1", "source_ip_prefix": "10.1.0.0/16"},
    ),
    ("pc1", "pc", "create", None, {"port_pair_groups": ["ppg1", "ppg2"], "flow_classifiers": ["fc1"]}),
    ("-", "pc", "create", None, {"port_pair_groups": ["ppg1", "ppg2"]}),
    ("pc2", "pc", "create", None, {"port_pair_groups": ["ppg2", "ppg1"], "flow_classifiers": ["fc2"]}),
    ("-", "pc", "create", None, {"port_pair_groups": ["ppg1"], "flow_classifiers": ["fc3"]}),
    ("-", "pc", "create", None, {"port_pair_groups": ["ppg4"]}),
    ("-", "pc", "create", None, {"port_pair_groups": ["ppg1"], "flow_classifiers": ["fc1"]}),
    ("pc5", "pc", "create", None, {"port_pair_groups": ["ppg3"]}),
    ("-", "sg", "create", None, {"port_chains": {"pc1": ["pc5"]}}),
    ("g1", "sg", "create", None, {"port_chains": {"pc1": ["pc2"]}}),
    ("-", "sg", "create", None, {"port_chains": {"pc2": ["pc5"]}}),
    ("-", "pc", "update", "pc1", {"flow_classifiers": []}),
    ("-", "pc", "delete", "pc1", None),
    ("-", "pc", "update", "pc1", {"name": "n"}),
    ("-", "sg", "delete", "g1", None),
    ("-", "fc", "delete", "fc1", None),
    ("-", "ppg", "delete", "ppg1", None),
    ("-", "pp", "delete", "pp1", None),
    ("-", "sg", "create", None, {"port_chains": {"pc1": ["pc2"], "pc2": ["pc1"]}}),
    ("-", "sg", "create", None, {"port_chains": {"pc1": ["pc2", "pc2"]}}),
    ("-", "pc", "update", "pc2", {"port_pair_groups": ["ppg1", "ppg2"]}),
    ("-", "pc", "update", "pc5", {"port_pair_groups": ["ppg4"]}),
    ("-", "ppg", "update", "ppg3", {"port_pairs": ["pp3", "pp4"]}),
    ("-", "ppg", "update", "ppg3", {"port_pairs": []}),
    ("-", "pp", "delete", "pp3", None),
]


def play(backend: Upstream | Ours) -> list[tuple[int, str]]:
    names = {name: backend.port(device) for name, device in PORTS}

    def resolve(x: Any) -> Any:
        if isinstance(x, list):
            return [resolve(i) for i in x]
        if isinstance(x, dict):
            return {resolve(k): resolve(v) for k, v in x.items()}
        return names.get(x, x) if isinstance(x, str) else x

    outcomes = []
    for name, kind, op, id, body in STEPS:
        status, kind_of_answer, obj = backend.call(kind, op, resolve(id), resolve(body))
        if obj is not None and name != "-":
            names[name] = obj["id"]
        outcomes.append((status, kind_of_answer))
    return outcomes


def test_same_answers_as_upstream() -> None:
    assert play(Ours()) == play(Upstream())
