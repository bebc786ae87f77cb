"""Load balancing over a group's instances on real OVS: weights honoured, a flow never moves.

The two instances add different amounts (1 and 2) to every payload byte, so each received datagram
says which instance served its flow."""

import pytest

from steerflow.lab.traffic import udp_flows
from steerflow.model import schema
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

FLOWS = 1000
PAYLOAD = b"\x10\x20\x30"


def test_a_group_weighted_1_to_3_spreads_1000_flows_and_keeps_each_on_its_instance(fabric: Fabric) -> None:
    net, client, server = fabric.client_and_server()
    _light, light = fabric.plug_function("ch2", "light", net, add=1)
    _heavy, heavy = fabric.plug_function("ch3", "heavy", net, add=2, weight=3)
    fabric.lab.warm_underlay()
    group = fabric.create(schema.PORT_PAIR_GROUP, name="g", port_pairs=[light["id"], heavy["id"]])
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp", protocol="udp", logical_source_port=client.iface_id
    )
    fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[group["id"]], flow_classifiers=[fc["id"]])
    fabric.wait_applied()
    client.wait_ping(server.ipv4)

    first = _served_by(udp_flows(client, server, PAYLOAD, flows=FLOWS, port=7))
    assert len(first) >= FLOWS * 0.98, f"only {len(first)} of {FLOWS} flows arrived"
    share = sum(1 for shift in first.values() if shift == 1) / len(first)
    assert abs(share - 0.25) <= 0.05, f"weight-1 instance served {share:.1%} of flows, expected 25%"
    again = _served_by(udp_flows(client, server, PAYLOAD, flows=FLOWS, port=7))
    moved = [p for p in first.keys() & again.keys() if first[p] != again[p]]
    assert not moved, f"{len(moved)} flows changed instance while the group did not change"


def _served_by(received: dict[int, bytes]) -> dict[int, int]:
    """Source port -> how much its payload was shifted (1: light instance, 2: heavy instance)."""
    return {port: (data[0] - PAYLOAD[0]) % 256 for port, data in received.items()}
