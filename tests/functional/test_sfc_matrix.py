"""Correlation x group shapes on real OVS across three chassis: every flow crosses each group exactly
once (payload + number of groups), whichever instances the balancer picks, wherever they live; and
`steerflow trace` says so too (one instance of each group, in order, then the server)."""

import pytest

from steerflow.lab.traffic import udp_flows
from steerflow.model import schema
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab
from tests.builders.trace_cli import trace_json

pytestmark = [pytest.mark.root, requires_lab]

PAYLOAD = b"\x00\x7f\xfe"
CASES = [
    ("mpls", None, (1,)),
    ("mpls", None, (3,)),
    ("mpls", None, (1, 1, 1)),
    ("mpls", None, (2, 1, 3)),
    ("mpls", "mpls", (1, 1, 1)),
    ("mpls", "mpls", (2, 1, 3)),
    ("nsh", "nsh", (1, 1, 1)),
    ("nsh", "nsh", (2, 1, 3)),
    ("nsh-md2", "nsh", (2, 1, 3)),  # chain_parameters.nsh_md_type 2
    ("vlan", None, (2, 1, 3)),  # a third party's driver: tests/plugins/steerflow_vlan_encap
    ("vlan", "vlan", (2, 1, 3)),
]


@pytest.mark.parametrize(
    ("encap", "correlation", "shape"),
    CASES,
    ids=[f"{e}-{c or 'unaware'}-{'.'.join(map(str, s))}" for e, c, s in CASES],
)
def test_every_flow_crosses_each_group_once(
    fabric: Fabric, encap: str, correlation: str | None, shape: tuple[int, ...]
) -> None:
    net, client, server = fabric.client_and_server()
    groups, group_of, n = [], {}, 0
    for g, size in enumerate(shape):
        pairs = []
        for _ in range(size):
            n += 1  # instances round-robin over the chassis, so hops keep crossing between them
            pairs.append(
                fabric.plug_function(f"ch{1 + n % 3}", f"f{n}", net, correlation=correlation)[1]["id"]
            )
        groups.append(fabric.create(schema.PORT_PAIR_GROUP, name=f"g{g}", port_pairs=pairs)["id"])
        group_of |= dict.fromkeys(pairs, groups[-1])
    fabric.lab.warm_underlay()
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp", protocol="udp", logical_source_port=client.iface_id
    )
    header, _, md = encap.partition("-md")  # "nsh-md2": NSH with MD type 2
    params: dict[str, object] = {"correlation": header, **({"nsh_md_type": int(md)} if md else {})}
    fabric.create(
        schema.PORT_CHAIN,
        name="c",
        port_pair_groups=groups,
        flow_classifiers=[fc["id"]],
        chain_parameters=params,
    )
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    received = udp_flows(client, server, PAYLOAD, flows=20, port=7)
    expected = bytes((b + len(shape)) % 256 for b in PAYLOAD)
    assert len(received) == 20 and set(received.values()) == {expected}
    path = trace_json(fabric.nb_url, "--from", client.iface_id, "--to", server.ipv4, "--dport", "7")
    assert [group_of[f] for f in path["functions"]] == groups
    assert [d["to_port"] for d in path["deliveries"]] == [server.iface_id]
