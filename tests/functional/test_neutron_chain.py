"""A chain created through a real neutron-server (steerflow's ML2 and networking-sfc drivers) steers
packets between two emulated chassis running steerflow agents: Nova's part (plugging the VMs' taps with
iface-id = the Neutron port id) is played by the lab."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from steerflow.demo.plug import plug_function, plug_vm
from steerflow.lab.traffic import udp_transfer
from steerflow.model import schema
from tests.builders.chain_lab import PAYLOADS, shifted
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab
from tests.builders.neutron_server import Neutron, NeutronServer, empty_database, missing_venv

pytestmark = [pytest.mark.root, requires_lab, pytest.mark.server]


@pytest.fixture
def neutron_on(fabric: Fabric, tmp_path: Path) -> Iterator[Neutron]:
    """neutron-server writing the fabric's NB (the embedded store's file, shared with the agents)."""
    why = missing_venv()
    if why:
        pytest.skip(why)
    server = NeutronServer(tmp_path / "neutron", fabric.nb_url, empty_database(tmp_path))
    server.start()
    try:
        with Neutron(server.url) as client:
            yield client
    finally:
        server.kill()


def test_a_chain_made_through_neutron_steers_packets_across_chassis(
    fabric: Fabric, neutron_on: Neutron
) -> None:
    neutron = neutron_on
    for i in (1, 2):
        fabric.add_chassis(f"ch{i}", f"198.51.100.{10 + i}")
    net = neutron.create(schema.NETWORK, name="net")
    neutron.create(schema.SUBNET, network_id=net["id"], cidr="203.0.113.0/24", ip_version=4)

    def port(name: str, host: str, device: str) -> dict[str, Any]:
        made = neutron.create(schema.PORT, network_id=net["id"], name=name, device_id=device,
                              **{"binding:host_id": host})  # fmt: skip
        assert made["binding:vif_type"] == "ovs", made  # bound: a steerflow agent runs on `host`
        return made

    client_port, server_port = port("client", "ch1", "client"), port("server", "ch2", "server")
    sf_in, sf_out = port("fw-in", "ch2", "fw"), port("fw-out", "ch2", "fw")
    client = plug_vm(fabric.lab, fabric.chassis["ch1"], "client", client_port)
    server = plug_vm(fabric.lab, fabric.chassis["ch2"], "server", server_port)
    plug_function(fabric.lab, fabric.chassis["ch2"], "fw", sf_in, sf_out, mode="unaware", add=1)
    for made, chassis in ((client_port, "ch1"), (server_port, "ch2"), (sf_in, "ch2"), (sf_out, "ch2")):
        fabric.wait_bound(made["id"], chassis)
        neutron.wait_status(made["id"], "ACTIVE")  # the agent's binding, reported back to Neutron
    fabric.lab.warm_underlay()
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    assert udp_transfer(client, server, PAYLOADS, port=7) == PAYLOADS  # no chain yet

    pair = neutron.create(schema.PORT_PAIR, ingress=sf_in["id"], egress=sf_out["id"])
    group = neutron.create(schema.PORT_PAIR_GROUP, port_pairs=[pair["id"]])
    fc = neutron.create(schema.FLOW_CLASSIFIER, protocol="udp", ethertype="IPv4",
                        destination_port_range_min=7, destination_port_range_max=7,
                        logical_source_port=client_port["id"])  # fmt: skip
    chain = neutron.create(schema.PORT_CHAIN, port_pair_groups=[group["id"]],
                           flow_classifiers=[fc["id"]])  # fmt: skip
    fabric.wait_applied()
    assert udp_transfer(client, server, PAYLOADS, port=7) == shifted(1)
    assert udp_transfer(client, server, PAYLOADS, port=8) == PAYLOADS  # not classified: untouched
    neutron.delete(schema.PORT_CHAIN, chain["id"])
    fabric.wait_applied()
    assert udp_transfer(client, server, PAYLOADS, port=7) == PAYLOADS
