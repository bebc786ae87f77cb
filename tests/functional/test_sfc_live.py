"""Live chain updates under steady traffic: nothing is lost, neither by flows the updates do not concern
nor by the flows they move (make-before-break across chassis, `compiler.rollout`).

A UDP stream from client to server runs while chain updates run (add a group, remove it, add a port
pair to a group and remove it, add a classifier and remove it, delete the chain); every one of its
datagrams must arrive (`tests.builders.live_stream`: functions add 1 to every byte, so the first byte
tells how many hops a datagram crossed)."""

import pytest

from steerflow.model import schema
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab
from tests.builders.live_stream import set_attrs, stream_through

pytestmark = [pytest.mark.root, requires_lab]


def test_unaffected_flows_lose_nothing_while_chains_change(fabric: Fabric) -> None:
    net, client, server = fabric.client_and_server()
    _f1, p1 = fabric.plug_function("ch2", "f1", net)
    _f2, p2 = fabric.plug_function("ch3", "f2", net)
    _f3, p3 = fabric.plug_function("ch2", "f3", net)
    fabric.lab.warm_underlay()
    g1 = fabric.create(schema.PORT_PAIR_GROUP, name="g1", port_pairs=[p1["id"]])["id"]
    g2 = fabric.create(schema.PORT_PAIR_GROUP, name="g2", port_pairs=[p2["id"]])["id"]
    fc7 = fabric.create(schema.FLOW_CLASSIFIER, name="u7", protocol="udp", destination_port_range_min=7,
                        destination_port_range_max=7, logical_source_port=client.iface_id)  # fmt: skip
    fc8 = fabric.create(schema.FLOW_CLASSIFIER, name="u8", protocol="udp", destination_port_range_min=8,
                        destination_port_range_max=8, logical_source_port=client.iface_id)  # fmt: skip
    chain = fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[g1], flow_classifiers=[fc7["id"]])
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    chains, groups = fabric.handlers[schema.PORT_CHAIN], fabric.handlers[schema.PORT_PAIR_GROUP]
    report = stream_through(fabric, client, server, 9, [
        ("chain groups g1 g2", set_attrs(chains, chain["id"], port_pair_groups=[g1, g2])),
        ("chain groups g2", set_attrs(chains, chain["id"], port_pair_groups=[g2])),
        ("chain classifiers u7 u8", set_attrs(chains, chain["id"], flow_classifiers=[fc7["id"], fc8["id"]])),
        ("group g2 pairs f2 f3", set_attrs(groups, g2, port_pairs=[p2["id"], p3["id"]])),
        ("group g2 pairs f2", set_attrs(groups, g2, port_pairs=[p2["id"]])),
        ("chain classifiers u8", set_attrs(chains, chain["id"], flow_classifiers=[fc8["id"]])),
        ("chain deleted", lambda: fabric.delete(schema.PORT_CHAIN, chain["id"])),
    ])  # fmt: skip
    assert report.startswith("hops: 0x900"), report  # never steered


@pytest.mark.parametrize("correlation", [None, "mpls"], ids=["unaware", "mpls"])
def test_classified_flows_switch_over_without_loss(fabric: Fabric, correlation: str | None) -> None:
    """The stream the chain classifies moves between instances and paths on other chassis (a hop
    inserted, an instance added elsewhere, its old one removed, a hop removed, the groups swapped, the
    chain deleted): every chassis switches only once the next one can deliver, and what it stops
    using lingers, so no datagram is lost."""
    net, client, server = fabric.client_and_server()
    _f1, p1 = fabric.plug_function("ch2", "f1", net, correlation=correlation)
    _f2, p2 = fabric.plug_function("ch3", "f2", net, correlation=correlation)
    _f3, p3 = fabric.plug_function("ch1", "f3", net, correlation=correlation)
    fabric.lab.warm_underlay()
    g1 = fabric.create(schema.PORT_PAIR_GROUP, name="g1", port_pairs=[p1["id"]])["id"]
    g2 = fabric.create(schema.PORT_PAIR_GROUP, name="g2", port_pairs=[p2["id"]])["id"]
    fc = fabric.create(schema.FLOW_CLASSIFIER, name="u7", protocol="udp", destination_port_range_min=7,
                       destination_port_range_max=7, logical_source_port=client.iface_id)  # fmt: skip
    params = {"correlation": correlation or "mpls"}
    chain = fabric.create(schema.PORT_CHAIN, name="c", port_pair_groups=[g1], flow_classifiers=[fc["id"]],
                          chain_parameters=params)  # fmt: skip
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    chains, groups = fabric.handlers[schema.PORT_CHAIN], fabric.handlers[schema.PORT_PAIR_GROUP]
    report = stream_through(fabric, client, server, 7, [
        ("hop g2 (ch3) inserted", set_attrs(chains, chain["id"], port_pair_groups=[g1, g2])),
        ("f3 (ch1) joins g2", set_attrs(groups, g2, port_pairs=[p2["id"], p3["id"]])),
        ("f2 (ch3) leaves g2", set_attrs(groups, g2, port_pairs=[p3["id"]])),
        ("f2 (ch3) replaces f3", set_attrs(groups, g2, port_pairs=[p2["id"]])),
        ("hop g1 removed", set_attrs(chains, chain["id"], port_pair_groups=[g2])),
        ("g1 replaces g2", set_attrs(chains, chain["id"], port_pair_groups=[g1])),
        ("chain deleted", lambda: fabric.delete(schema.PORT_CHAIN, chain["id"])),
    ])  # fmt: skip
    seen = {int(part.split("x")[0]) for part in report.splitlines()[0].split()[1:]}
    assert seen == {0, 1, 2}, report  # unclassified at the end, one hop, two hops
