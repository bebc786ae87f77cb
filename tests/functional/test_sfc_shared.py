"""One SFC-unaware function shared by two chains on real OVS: conntrack sends each flow back onto its own
chain (payload proof: the shared function adds 1, chain A's next function 10, chain B's 20)."""

from typing import Any

import pytest

from steerflow.lab import VmHandle
from steerflow.lab.traffic import udp_transfer
from steerflow.model import schema
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

PAYLOADS = [bytes([i, i + 1, 200, 255]) for i in range(5)]


def _shifted(n: int) -> list[bytes]:
    return [bytes((b + n) % 256 for b in p) for p in PAYLOADS]


def _chain(fabric: Fabric, client: VmHandle, name: str, port: int, ppgs: list[str], encap: str) -> None:
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name=f"{name}-udp-{port}", protocol="udp", destination_port_range_min=port,
        destination_port_range_max=port, logical_source_port=client.iface_id,
    )  # fmt: skip
    fabric.create(
        schema.PORT_CHAIN, name=name, port_pair_groups=ppgs, flow_classifiers=[fc["id"]],
        chain_parameters={"correlation": encap},
    )  # fmt: skip


def _group(fabric: Fabric, name: str, pair: dict[str, Any]) -> str:
    return str(fabric.create(schema.PORT_PAIR_GROUP, name=name, port_pairs=[pair["id"]])["id"])


@pytest.mark.parametrize("encap", ["mpls", "nsh", "vlan"])  # vlan: tests/plugins/steerflow_vlan_encap
def test_one_unaware_function_shared_by_two_chains(fabric: Fabric, encap: str) -> None:
    net, client, server = fabric.client_and_server()
    fabric.lab.warm_underlay()
    # the shared group is reached through a tunnel (the header is stripped on ch2), fA is local to it
    shared = _group(fabric, "shared", fabric.plug_function("ch2", "shared", net, add=1)[1])
    fa = _group(fabric, "fa", fabric.plug_function("ch2", "fa", net, add=10)[1])
    fb = _group(fabric, "fb", fabric.plug_function("ch3", "fb", net, add=20)[1])
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    _chain(fabric, client, "a", 7, [shared, fa], encap)
    _chain(fabric, client, "b", 8, [shared, fb], encap)
    fabric.wait_applied()
    assert udp_transfer(client, server, PAYLOADS, port=7) == _shifted(11)
    assert udp_transfer(client, server, PAYLOADS, port=8) == _shifted(21)
    assert udp_transfer(client, server, PAYLOADS, port=7) == _shifted(11)  # still its own chain
    fabric.assert_switches_hold_compiled_state()
