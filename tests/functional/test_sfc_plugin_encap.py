"""A chain through a third party's encapsulation driver on real OVS across chassis: the `vlan` driver of
tests/plugins/steerflow_vlan_encap (its own distribution, installed by run.sh; the hop rides in an
802.1Q tag), with SFC-unaware functions (the forwarder pops the tag) and VLAN-aware ones (the emulator
gets the tag and returns it). Proven by payload: every function adds N to each payload byte. The
mpls/nsh scenarios of test_sfc_matrix and test_sfc_shared run through it too (cases `vlan`).

The driver is a test fixture installed on purpose: these tests fail without it (a skip would hide a
broken install)."""

from typing import Any

import pytest

from steerflow.lab.traffic import udp_transfer
from steerflow.model import schema
from steerflow.model.correlations import installed_correlations
from tests.builders.chain_lab import PAYLOADS, chain_world, make_chain, shifted
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]


@pytest.fixture
def vlan_driver() -> None:
    assert "vlan" in installed_correlations(), (
        "the test driver steerflow-vlan-encap is not installed: "
        "pip install -e tests/plugins/steerflow_vlan_encap (./run.sh install does)"
    )


@pytest.mark.parametrize("correlation", [None, "vlan"], ids=["unaware", "vlan-aware"])
def test_one_function_on_another_chassis(fabric: Fabric, vlan_driver: None, correlation: str | None) -> None:
    net, client, server = chain_world(fabric)
    fn, pair = fabric.plug_function("ch2", "fw", net, correlation=correlation)
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    chain = make_chain(fabric, client, [[pair["id"]]], correlation="vlan")
    assert udp_transfer(client, server, PAYLOADS, port=7) == shifted(1)
    assert udp_transfer(client, server, PAYLOADS, port=8) == PAYLOADS  # not classified: untouched
    # what the function saw: the hop's label as the VID (aware), or untagged frames (unaware)
    label = _hop_labels(fabric, chain["id"])[0]
    tags = fn.wait_counters(lambda c: c.forwarded >= len(PAYLOADS)).metadata
    assert tags == ({f"vlan vid={label}": len(PAYLOADS)} if correlation else {})
    fabric.assert_switches_hold_compiled_state()


def test_three_groups_aware_and_unaware_across_three_chassis(fabric: Fabric, vlan_driver: None) -> None:
    net, client, server = chain_world(fabric)
    placed: list[tuple[str, str | None]] = [("ch2", None), ("ch1", "vlan"), ("ch3", "vlan")]
    pairs: list[dict[str, Any]] = [
        fabric.plug_function(chassis, f"f{i}", net, correlation=corr)[1]
        for i, (chassis, corr) in enumerate(placed)
    ]
    fabric.wait_applied()
    chain = make_chain(fabric, client, [[p["id"]] for p in pairs], correlation="vlan")
    assert udp_transfer(client, server, PAYLOADS, port=7) == shifted(3)
    assert max(_hop_labels(fabric, chain["id"])) <= 4094  # within the driver's max_label (a VID)
    fabric.assert_switches_hold_compiled_state()


def _hop_labels(fabric: Fabric, chain_id: str) -> list[int]:
    stored = fabric.store.get(schema.PORT_CHAIN, chain_id)
    assert stored is not None
    return [int(label) for label in stored.value[schema.HOP_LABELS].values()]
