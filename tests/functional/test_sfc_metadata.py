"""NSH metadata end to end on real OVS: every aware hop of a chain sees the source port's key and the
chain's project in its header (MD1 context or MD2 TLVs), also behind an unaware hop, whose forwarder
remembers them per connection. The functions live on a third chassis, away from client and server,
so the first hop's header crosses a tunnel (as MD1, which the far forwarder turns into MD2)."""

from typing import Any

import pytest

from steerflow.compiler.encap.nsh import md2_tlvs, project_digest
from steerflow.lab import FunctionHandle
from steerflow.lab.traffic import udp_transfer
from steerflow.model import schema
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

PAYLOADS = [bytes([i, 7, 200]) for i in range(5)]


def _expected_metadata(md_type: int, origin: int, network: int, project: str) -> str:
    """What sfemu reports (`NshHeader.metadata`) for the chain's packets from port key `origin`."""
    if md_type == 1:
        return f"md1 c1={origin:#x} c2={network:#x} c3={project_digest(project):#x} c4=0x0"
    return "md2" + "".join(f" {tlv}" for tlv in md2_tlvs(origin, project))


def _group(fabric: Fabric, name: str, pair: dict[str, Any]) -> str:
    return str(fabric.create(schema.PORT_PAIR_GROUP, name=name, port_pairs=[pair["id"]])["id"])


@pytest.mark.parametrize("md_type", [1, 2])
def test_aware_hops_see_origin_and_project_across_an_unaware_hop(fabric: Fabric, md_type: int) -> None:
    net, client, server = fabric.client_and_server()
    fabric.lab.warm_underlay()
    first, first_pair = fabric.plug_function("ch2", "first", net, correlation="nsh", add=1)
    _, middle_pair = fabric.plug_function("ch2", "middle", net, add=10)  # unaware
    last, last_pair = fabric.plug_function("ch2", "last", net, correlation="nsh", add=100)
    groups = [_group(fabric, n, p) for n, p in (("g1", first_pair), ("g2", middle_pair), ("g3", last_pair))]
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp", protocol="udp", logical_source_port=client.iface_id
    )
    params = {"correlation": "nsh", "nsh_md_type": md_type}
    chain = fabric.create(
        schema.PORT_CHAIN,
        name="c",
        port_pair_groups=groups,
        flow_classifiers=[fc["id"]],
        chain_parameters=params,
    )
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    received = udp_transfer(client, server, PAYLOADS, port=7)
    assert received == [bytes((b + 111) % 256 for b in p) for p in PAYLOADS]  # each hop crossed once
    origin = fabric.store.get(schema.PORT, client.iface_id).value[schema.TUNNEL_KEY]  # type: ignore[union-attr]
    network = fabric.store.get(schema.NETWORK, net["id"]).value[schema.SEGMENTATION_ID]  # type: ignore[union-attr]
    expected = _expected_metadata(md_type, origin, network, chain["project_id"])
    for fn in (first, last):
        assert _metadata_seen(fn, len(PAYLOADS)) == {expected: len(PAYLOADS)}, fn.log_text()[-2000:]
    fabric.assert_switches_hold_compiled_state()


def _metadata_seen(fn: FunctionHandle, frames: int) -> dict[str, int]:
    """The NSH metadata `fn` forwarded, once its status file counts `frames` forwarded frames."""
    return fn.wait_counters(lambda c: sum(c.metadata.values()) >= frames).metadata
