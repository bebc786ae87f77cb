"""Neutron with steerflow's drivers: what Neutron's API creates, updates and deletes is in steerflow's NB."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.model import schema
from steerflow.nbdb.api import NorthboundStore, Put
from tests.builders.neutron_server import Neutron, neutron_chain

# a real neutron-server and redis-server; one worker runs them all, so Neutron's schema (a session
# fixture, slow to make) is made once
pytestmark = [pytest.mark.server, pytest.mark.xdist_group("neutron")]


def stored(nb: NorthboundStore, kind: str, id: str) -> dict[str, Any]:
    rec = nb.get(kind, id)
    assert rec is not None, f"{kind} {id} is not in the NB"
    return rec.value


def test_networks_ports_and_a_chain_are_mirrored_with_neutrons_ids(
    neutron: Neutron, nb: NorthboundStore
) -> None:
    world = neutron_chain(neutron)
    net = stored(nb, schema.NETWORK, world["net"]["id"])
    assert net["name"] == "net1" and net["subnets"] == [world["sub"]["id"]]
    assert net[schema.SEGMENTATION_ID] >= 1  # steerflow's own Geneve VNI
    assert stored(nb, schema.SUBNET, world["sub"]["id"])["cidr"] == "10.0.0.0/24"
    for role in ("client", "sf-in", "sf-out", "server"):
        port, theirs = stored(nb, schema.PORT, world[role]["id"]), world[role]
        assert (port["mac_address"], port["fixed_ips"]) == (theirs["mac_address"], theirs["fixed_ips"])
        assert port["device_id"] == theirs["device_id"] and port["port_security_enabled"] is True
        assert port["project_id"] == "demo" and port[schema.TUNNEL_KEY] >= 1
    pair = stored(nb, schema.PORT_PAIR, world["pair"]["id"])
    assert (pair["ingress"], pair["egress"]) == (world["sf-in"]["id"], world["sf-out"]["id"])
    assert stored(nb, schema.PORT_PAIR_GROUP, world["group"]["id"])["port_pairs"] == [world["pair"]["id"]]
    fc = stored(nb, schema.FLOW_CLASSIFIER, world["classifier"]["id"])
    assert (fc["protocol"], fc["logical_source_port"]) == ("udp", world["client"]["id"])
    chain = stored(nb, schema.PORT_CHAIN, world["chain"]["id"])
    assert chain["chain_id"] == world["chain"]["chain_id"]  # Neutron's allocation, kept
    assert list(chain[schema.HOP_LABELS]) == [world["group"]["id"]]  # steerflow's labels, allocated
    assert chain[schema.EXIT_LABEL] not in chain[schema.HOP_LABELS].values()


def test_updates_and_deletes_follow(neutron: Neutron, nb: NorthboundStore) -> None:
    world = neutron_chain(neutron)
    client = world["client"]["id"]
    neutron.update(
        schema.PORT,
        client,
        name="renamed",
        device_id="vm-other",
        port_security_enabled=False,
        security_groups=[],
    )
    port = stored(nb, schema.PORT, client)
    assert (port["name"], port["device_id"], port["port_security_enabled"]) == ("renamed", "vm-other", False)
    second = neutron.create(
        schema.FLOW_CLASSIFIER,
        protocol="tcp",
        ethertype="IPv4",
        logical_source_port=client,
        destination_port_range_min=80,
        destination_port_range_max=80,
    )
    neutron.update(
        schema.PORT_CHAIN, world["chain"]["id"], flow_classifiers=[world["classifier"]["id"], second["id"]]
    )
    chain = stored(nb, schema.PORT_CHAIN, world["chain"]["id"])
    assert chain["flow_classifiers"] == [world["classifier"]["id"], second["id"]]
    neutron.delete(schema.PORT_CHAIN, world["chain"]["id"])
    assert nb.get(schema.PORT_CHAIN, world["chain"]["id"]) is None
    neutron.delete(schema.PORT_PAIR_GROUP, world["group"]["id"])
    neutron.delete(schema.PORT_PAIR, world["pair"]["id"])
    neutron.delete(schema.PORT, world["server"]["id"])
    for kind, id in (
        (schema.PORT_PAIR_GROUP, world["group"]["id"]),
        (schema.PORT_PAIR, world["pair"]["id"]),
        (schema.PORT, world["server"]["id"]),
    ):
        assert nb.get(kind, id) is None, f"{kind} {id} is still in the NB"


def test_ports_bind_on_hosts_that_run_a_steerflow_agent(neutron: Neutron, nb: NorthboundStore) -> None:
    nb.commit(
        [
            Put(
                schema.CHASSIS,
                "hv1",
                {"id": "hv1", "name": "hv1", "underlay_ip": "192.0.2.1", "encapsulations": ["geneve"]},
            )
        ]
    )
    net = neutron.create(schema.NETWORK, name="net1")
    neutron.create(schema.SUBNET, network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    bound = neutron.create(schema.PORT, network_id=net["id"], **{"binding:host_id": "hv1"})
    assert bound["binding:vif_type"] == "ovs"
    assert bound["binding:vif_details"]["bridge_name"] == "br-int"
    assert bound["status"] == "DOWN"  # until the agent of hv1 has bound it
    port = stored(nb, schema.PORT, bound["id"])
    assert port["binding:host_id"] == "hv1"
    nb.commit([Put(schema.PORT, bound["id"], {**port, "status": "ACTIVE"})])  # what the agent writes
    neutron.wait_status(bound["id"], "ACTIVE")
    nb.commit([Put(schema.PORT, bound["id"], {**port, "status": "DOWN"})])  # and when it releases it
    neutron.wait_status(bound["id"], "DOWN")
    elsewhere = neutron.create(schema.PORT, network_id=net["id"], **{"binding:host_id": "hv9"})
    assert elsewhere["binding:vif_type"] == "binding_failed"  # no steerflow agent on hv9


def test_what_steerflow_cannot_steer_is_refused_before_neutron_stores_it(
    neutron: Neutron, nb: NorthboundStore
) -> None:
    world = neutron_chain(neutron)
    revision = nb.revision()
    # networking-sfc stores any n-tuple mapping; steerflow rewrites packets by it, so it must be a CIDR
    params = {"ppg_n_tuple_mapping": {"ingress_n_tuple": {"source_ip_prefix": "not-a-cidr"}}}
    resp = neutron.refused(schema.PORT_PAIR_GROUP, port_pairs=[], port_pair_group_parameters=params)
    assert resp.status_code == 400, resp.text
    error = resp.json()["NeutronError"]
    assert error["type"] == "SfcBadRequest"
    assert error["message"].startswith("steerflow cannot carry this port pair group: ")
    assert "not-a-cidr" in error["message"]
    groups = neutron.http.get("/sfc/port_pair_groups").json()["port_pair_groups"]
    assert [g["id"] for g in groups] == [world["group"]["id"]]  # Neutron did not keep it
    assert nb.revision() == revision  # nor did the NB change


def test_a_service_graph_is_mirrored(neutron: Neutron, nb: NorthboundStore) -> None:
    world = neutron_chain(neutron, correlation="mpls")  # graphs branch on MPLS-aware functions
    net = world["net"]["id"]
    sf2_in, sf2_out = (
        neutron.create(schema.PORT, network_id=net, name=f"sf2-{side}", device_id="vm-sf2")["id"]
        for side in ("in", "out")
    )
    pair = neutron.create(schema.PORT_PAIR, ingress=sf2_in, egress=sf2_out,
                          service_function_parameters={"correlation": "mpls"})  # fmt: skip
    group = neutron.create(schema.PORT_PAIR_GROUP, port_pairs=[pair["id"]])
    # the second chain takes TCP as it leaves the first one's function (chains' classifiers must not
    # overlap, logical ports aside: the first chain has all UDP)
    fc = neutron.create(schema.FLOW_CLASSIFIER, protocol="tcp", ethertype="IPv4",
                        logical_source_port=world["sf-out"]["id"])  # fmt: skip
    second = neutron.create(schema.PORT_CHAIN, port_pair_groups=[group["id"]], flow_classifiers=[fc["id"]])
    graph = neutron.create(schema.SERVICE_GRAPH, port_chains={world["chain"]["id"]: [second["id"]]})
    mirrored = stored(nb, schema.SERVICE_GRAPH, graph["id"])
    assert mirrored["port_chains"] == {world["chain"]["id"]: [second["id"]]}
    neutron.delete(schema.SERVICE_GRAPH, graph["id"])
    assert nb.get(schema.SERVICE_GRAPH, graph["id"]) is None
