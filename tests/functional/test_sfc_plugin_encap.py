"""A chain through a third party's encapsulation driver on real OVS across chassis: the `vlan` driver of
tests/plugins/steerflow_vlan_encap (its own distribution, installed by run.sh; the hop rides in an
802.1Q tag), with SFC-unaware functions (the forwarder pops the tag) and VLAN-aware ones (the emulator
gets the tag and returns it). Proven by payload: every function adds N to each payload byte. Some
scenarios are the mpls/nsh ones of test_sfc_matrix and test_sfc_shared, run through the plugin.

The driver is a test fixture installed on purpose: these tests fail without it (a skip would hide a
broken install)."""

from typing import Any

import pytest

from steerflow.api.sfc_attributes import HOP_LABELS
from steerflow.lab.traffic import udp_transfer
from steerflow.model.correlations import installed_correlations
from tests.fabric import Fabric
from tests.functional import test_sfc_matrix as matrix
from tests.functional import test_sfc_shared as shared
from tests.functional.test_sfc_chain import PAYLOADS, _chain, _shifted, _world
from tests.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]


@pytest.fixture
def vlan_driver() -> None:
    assert "vlan" in installed_correlations(), (
        "the test driver steerflow-vlan-encap is not installed: "
        "pip install -e tests/plugins/steerflow_vlan_encap (./run.sh install does)"
    )


@pytest.mark.parametrize("correlation", [None, "vlan"], ids=["unaware", "vlan-aware"])
def test_one_function_on_another_chassis(fabric: Fabric, vlan_driver: None, correlation: str | None) -> None:
    net, client, server = _world(fabric)
    fn, pair = fabric.plug_function("ch2", "fw", net, correlation=correlation)
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    chain = _chain(fabric, client, [[pair["id"]]], correlation="vlan")
    assert udp_transfer(client, server, PAYLOADS, port=7) == _shifted(1)
    assert udp_transfer(client, server, PAYLOADS, port=8) == PAYLOADS  # not classified: untouched
    # what the function saw: the hop's label as the VID (aware), or untagged frames (unaware)
    label = _hop_labels(fabric, chain["id"])[0]
    tags = fn.wait_counters(lambda c: c.forwarded >= len(PAYLOADS)).metadata
    assert tags == ({f"vlan vid={label}": len(PAYLOADS)} if correlation else {})
    fabric.assert_switches_hold_compiled_state()


def test_three_groups_aware_and_unaware_across_three_chassis(fabric: Fabric, vlan_driver: None) -> None:
    net, client, server = _world(fabric)
    placed: list[tuple[str, str | None]] = [("ch2", None), ("ch1", "vlan"), ("ch3", "vlan")]
    pairs: list[dict[str, Any]] = [
        fabric.plug_function(chassis, f"f{i}", net, correlation=corr)[1]
        for i, (chassis, corr) in enumerate(placed)
    ]
    fabric.wait_applied()
    chain = _chain(fabric, client, [[p["id"]] for p in pairs], correlation="vlan")
    assert udp_transfer(client, server, PAYLOADS, port=7) == _shifted(3)
    assert max(_hop_labels(fabric, chain["id"])) <= 4094  # within the driver's max_label (a VID)
    fabric.assert_switches_hold_compiled_state()


@pytest.mark.parametrize("correlation", [None, "vlan"], ids=["unaware", "vlan-aware"])
def test_balanced_groups_every_flow_crosses_each_group_once(
    fabric: Fabric, vlan_driver: None, correlation: str | None
) -> None:
    matrix.test_every_flow_crosses_each_group_once(fabric, "vlan", correlation, (2, 1, 3))


def test_one_unaware_function_shared_by_two_vlan_chains(fabric: Fabric, vlan_driver: None) -> None:
    """Conntrack tells the chains apart; the tag of a packet tunnelled to the shared function names its
    hop there (the driver's `arrived`) before the proxy pops it."""
    shared.test_one_unaware_function_shared_by_two_chains(fabric, "vlan")


def _hop_labels(fabric: Fabric, chain_id: str) -> list[int]:
    stored = fabric.store.get("port_chain", chain_id)
    assert stored is not None
    return [int(label) for label in stored.value[HOP_LABELS].values()]
