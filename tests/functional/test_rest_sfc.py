"""networking-sfc resources end to end over a real server: a whole chain, in-use ports, and a create race."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from steerflow.api.sfc_attributes import PORT_CHAIN
from steerflow.model import schema
from tests.builders.api_server import ApiServer, Rest

pytestmark = pytest.mark.server


def build_topology(rest: Rest) -> dict[str, Any]:
    """A network with a client port and two service functions (two ports each) in two port pairs."""
    net = rest.create("networks", name="sfc-net")
    sub = rest.create("subnets", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4, name="sfc-sub")
    client = rest.create("ports", network_id=net["id"], device_id="vm-client", name="client")
    ports = {
        name: rest.create("ports", network_id=net["id"], device_id=device, name=name)
        for name, device in (
            ("sf1-in", "vm-sf1"),
            ("sf1-out", "vm-sf1"),
            ("sf2-in", "vm-sf2"),
            ("sf2-out", "vm-sf2"),
        )
    }
    pp1 = rest.create("port_pairs", name="pp1", ingress=ports["sf1-in"]["id"], egress=ports["sf1-out"]["id"])
    pp2 = rest.create("port_pairs", name="pp2", ingress=ports["sf2-in"]["id"], egress=ports["sf2-out"]["id"])
    return {"net": net, "sub": sub, "client": client, "ports": ports, "pp1": pp1, "pp2": pp2}


def test_whole_chain_is_created_and_read_back(rest: Rest, api_server: ApiServer) -> None:
    topo = build_topology(rest)
    ppg = rest.create("port_pair_groups", name="ppg", port_pairs=[topo["pp1"]["id"], topo["pp2"]["id"]])
    fc = rest.create(
        "flow_classifiers",
        name="web",
        protocol="TCP",
        destination_port_range_min="80",
        destination_port_range_max=80,
        logical_source_port=topo["client"]["id"],
    )
    chain = rest.create("port_chains", name="pc", port_pair_groups=[ppg["id"]], flow_classifiers=[fc["id"]])
    assert (ppg["group_id"], chain["chain_id"]) == (1, 1)
    assert chain["chain_parameters"] == {"correlation": "mpls", "symmetric": False}
    assert (fc["protocol"], fc["ethertype"], fc["destination_port_range_min"]) == ("tcp", "IPv4", 80)
    assert topo["pp1"]["service_function_parameters"] == {"correlation": None, "weight": 1}
    for collection, obj in (
        ("port_pairs", topo["pp1"]),
        ("port_pairs", topo["pp2"]),
        ("port_pair_groups", ppg),
        ("flow_classifiers", fc),
        ("port_chains", chain),
    ):
        resp = rest.http.get(rest.path(collection, obj["id"]))
        assert resp.json() == {collection[:-1]: obj}
        assert [o["id"] for o in rest.list(collection, name=obj["name"])] == [obj["id"]]
        assert obj["project_id"] == obj["tenant_id"] == "default"
    stored = api_server.store.get(schema.PORT_CHAIN, chain["id"])
    assert stored is not None and PORT_CHAIN.visible(stored.value) == chain  # the API view plus hidden labels


def test_ports_in_use_by_chains_cannot_be_deleted(rest: Rest, api_server: ApiServer) -> None:
    topo = build_topology(rest)
    fc = rest.create("flow_classifiers", name="fc", logical_source_port=topo["client"]["id"])
    for port, user in ((topo["ports"]["sf1-in"], "port pair"), (topo["client"], "flow classifier")):
        resp = rest.http.delete(rest.path("ports", port["id"]))
        assert resp.status_code == 409, resp.text
        err = resp.json()["NeutronError"]
        assert err["type"] == "PortInUse" and user in err["message"]
    # torn down in order, nothing is left dangling
    for collection, obj in (
        ("flow_classifiers", fc),
        ("port_pairs", topo["pp1"]),
        ("port_pairs", topo["pp2"]),
    ):
        assert rest.http.delete(rest.path(collection, obj["id"])).status_code == 204
    for port in [topo["client"], *topo["ports"].values()]:
        assert rest.http.delete(rest.path("ports", port["id"])).status_code == 204
    assert rest.http.delete(rest.path("networks", topo["net"]["id"])).status_code == 204
    # nothing but the write-concerns document every API write rewrites (bookkeeping, not an object)
    assert [r.kind for r in api_server.store.snapshot()[1]] == [schema.CONCERNS]


def race(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST each body to /v2.0/sfc/port_chains from its own thread and connection, all at once."""
    start = threading.Barrier(len(bodies))
    results: list[httpx.Response | None] = [None] * len(bodies)

    def post(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            start.wait()
            results[i] = client.post("/v2.0/sfc/port_chains", json={schema.PORT_CHAIN: bodies[i]})

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_racing_chains_on_one_classifier_exactly_one_wins(rest: Rest, api_server: ApiServer) -> None:
    topo = build_topology(rest)
    pg1 = rest.create("port_pair_groups", name="pg1", port_pairs=[topo["pp1"]["id"]])
    pg2 = rest.create("port_pair_groups", name="pg2", port_pairs=[topo["pp2"]["id"]])
    fc = rest.create("flow_classifiers", name="fc", logical_source_port=topo["client"]["id"])
    for round_ in range(5):
        bodies = [
            {"name": f"a{round_}", "port_pair_groups": [pg1["id"]], "flow_classifiers": [fc["id"]]},
            {"name": f"b{round_}", "port_pair_groups": [pg2["id"]], "flow_classifiers": [fc["id"]]},
        ]
        responses = race(api_server.url, bodies)
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["NeutronError"]["type"] == "FlowClassifierInUse"
        chains = api_server.store.list(schema.PORT_CHAIN)
        assert len(chains) == 1 and chains[0].value["flow_classifiers"] == [fc["id"]]
        assert rest.http.delete(rest.path("port_chains", chains[0].id)).status_code == 204
