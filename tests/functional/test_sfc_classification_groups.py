"""A chain whose flow classifier uses a classification group, on real OVS, proven by payload: the
function adds 1 to each payload byte, so what reaches the server says whether the packet was steered."""

import pytest

from steerflow.lab.traffic import udp_transfer
from steerflow.model import schema
from tests.builders.chain_lab import PAYLOADS, chain_world, shifted
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]


def test_a_group_or_of_two_udp_ports_steers_both_and_nothing_else(fabric: Fabric) -> None:
    net, client, server = chain_world(fabric)
    _fn, pair = fabric.plug_function("ch2", "fw", net)
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    ports = [
        fabric.create(schema.CLASSIFICATION, type="udp", definition={"dst_port_min": p, "dst_port_max": p})[
            "id"
        ]
        for p in (7, 9)
    ]
    either = fabric.create(schema.CLASSIFICATION_GROUP, operator="OR", classifications=ports)
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp-7-or-9", logical_source_port=client.iface_id,
        classification_group_id=either["id"],
    )  # fmt: skip
    ppg = fabric.create(schema.PORT_PAIR_GROUP, name="g", port_pairs=[pair["id"]])
    fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[ppg["id"]], flow_classifiers=[fc["id"]])
    fabric.wait_applied()
    fabric.assert_switches_hold_compiled_state()
    assert udp_transfer(client, server, PAYLOADS, port=7) == shifted(1)
    assert udp_transfer(client, server, PAYLOADS, port=9) == shifted(1)
    assert udp_transfer(client, server, PAYLOADS, port=8) == PAYLOADS  # not in the group: untouched
