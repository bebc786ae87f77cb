"""A client, a server and chains between them on the lab fabric: what the chain tests on real OVS share."""

from typing import Any

from steerflow.lab import VmHandle
from steerflow.model import schema
from tests.builders.fabric import Fabric

CIDR = "203.0.113.0/24"
PAYLOADS = [bytes([i, i + 1, 200, 255]) for i in range(5)]


def shifted(n: int) -> list[bytes]:
    """PAYLOADS as they arrive after crossing `n` functions that each add 1 to every byte."""
    return [bytes((b + n) % 256 for b in p) for p in PAYLOADS]


def chain_world(fabric: Fabric) -> tuple[dict[str, Any], VmHandle, VmHandle]:
    """A network with a client and a server VM, the underlay warmed."""
    net, client, server = fabric.client_and_server(CIDR)
    fabric.lab.warm_underlay()
    return net, client, server


def make_chain(
    fabric: Fabric, client: VmHandle, groups: list[list[str]], *, correlation: str = "mpls"
) -> dict[str, Any]:
    """A chain through `groups` (port pair ids per group) for the client's UDP to port 7, applied."""
    ppgs = [
        fabric.create(schema.PORT_PAIR_GROUP, name=f"g{i}", port_pairs=pairs)["id"]
        for i, pairs in enumerate(groups)
    ]
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp-7", protocol="udp", destination_port_range_min=7,
        destination_port_range_max=7, logical_source_port=client.iface_id,
    )  # fmt: skip
    chain = fabric.create(
        schema.PORT_CHAIN, name="c", port_pair_groups=ppgs, flow_classifiers=[fc["id"]],
        chain_parameters={"correlation": correlation},
    )  # fmt: skip
    fabric.wait_applied()
    return chain
