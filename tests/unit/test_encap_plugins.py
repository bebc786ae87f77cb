"""Encapsulation drivers are plugins: the correlations are whatever `steerflow.encap` entry points are
installed, and a driver from another distribution (tests/plugins/steerflow_vlan_encap, which run.sh
installs into the test virtualenv) works through the API and the compiler like steerflow's own.

The VLAN driver is a test fixture installed on purpose: a test that needs it fails when it is missing
(a skip would hide a broken install).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from steerflow.api import sfc_errors as err
from steerflow.api.errors import HTTPBadRequest, InvalidInput
from steerflow.compiler.compile import ChassisCompiler, compile_nb
from steerflow.compiler.encap import EncapDriver, driver
from steerflow.model import correlations, schema
from tests.builders.chain_docs import (
    CLIENT,
    SERVER,
    TUNNEL,
    chain_nb,
    chain_switch,
    single_output,
    udp_packet,
)
from tests.builders.sfc_world import ALICE, World, rejects

PLUGIN = "steerflow-vlan-encap"
PLUGIN_DIR = "tests/plugins/steerflow_vlan_encap"
VLAN = {"correlation": "vlan"}
TAGGED = 0x1000  # OFPVID_PRESENT


@pytest.fixture
def vlan() -> EncapDriver:
    """The VLAN test driver, which must come from its own distribution."""
    found = [ep for ep in entry_points(group=correlations.ENTRY_POINT_GROUP) if ep.name == "vlan"]
    assert found, f"{PLUGIN} is not installed: pip install -e {PLUGIN_DIR} (run.sh install does)"
    assert found[0].dist is not None and found[0].dist.name == PLUGIN  # not steerflow's own
    return driver("vlan")


@pytest.fixture
def w() -> World:
    return World()


def stored_labels(w: World, chain_id: str) -> list[int]:
    rec = w.store.get(schema.PORT_CHAIN, chain_id)
    assert rec is not None
    return [*rec.value[schema.HOP_LABELS].values(), rec.value[schema.EXIT_LABEL]]


# ---- the registry ------------------------------------------------------------------------------------


def test_the_installed_drivers_are_the_correlations(vlan: EncapDriver) -> None:
    assert correlations.installed_correlations() == ("mpls", "nsh", "vlan")
    assert (vlan.name, vlan.max_label) == ("vlan", 4094)
    assert driver("vlan") is vlan  # loaded once
    assert correlations.label_limit("vlan") == 4094 and correlations.label_limit("mpls") == (1 << 20) - 1
    with pytest.raises(correlations.UnknownCorrelation, match="installed: mpls, nsh, vlan"):
        driver("vxlan")


@pytest.fixture
def toy_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A distribution installed while the process runs, metadata only: `toy` is steerflow's MPLS driver
    under another name, `broken` names a module that does not exist."""
    info = tmp_path / "toy_encap-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-encap\nVersion: 1.0\n")
    toy = "toy = steerflow.compiler.encap.mpls:MplsDriver"
    broken = "broken = steerflow_no_such_module:Driver"  # installed, but its code is missing
    (info / "entry_points.txt").write_text(f"[steerflow.encap]\n{toy}\n{broken}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    correlations.refresh()
    yield
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    correlations.refresh()


def test_a_driver_installed_later_is_accepted_once_the_registry_is_refreshed(
    w: World, vlan: EncapDriver, toy_distribution: None
) -> None:
    assert correlations.installed_correlations() == ("broken", "mpls", "nsh", "toy", "vlan")
    pp = w.pair(sfp={"correlation": "toy"})
    group = w.ppg.create(ALICE, {"port_pairs": [pp["id"]]})
    chain = w.chain(groups=[group["id"]], chain_parameters={"correlation": "toy"})
    assert chain["chain_parameters"] == {"correlation": "toy", "symmetric": False}


# ---- the API -------------------------------------------------------------------------------------------


def test_port_pairs_accept_an_installed_driver_and_list_the_valid_values_otherwise(
    w: World, vlan: EncapDriver
) -> None:
    assert w.pair(sfp=VLAN)["service_function_parameters"] == VLAN
    port = w.port("vm")
    body = {"ingress": port, "egress": port, "service_function_parameters": {"correlation": "vxlan"}}
    e = rejects(w, HTTPBadRequest, 400, w.pp.create, ALICE, body)
    assert e.message == (
        "Invalid input for service_function_parameters. Reason: vxlan is not in valid_values: "
        "correlation must be one of mpls, nsh, vlan or null."
    )


def test_chains_accept_an_installed_driver_and_list_the_valid_values_otherwise(
    w: World, vlan: EncapDriver
) -> None:
    group = w.ppg.create(ALICE, {"port_pairs": [w.pair(sfp=VLAN)["id"]]})
    chain = w.chain(groups=[group["id"]], chain_parameters=VLAN)
    assert chain["chain_parameters"] == {"correlation": "vlan", "symmetric": False}
    body = {"port_pair_groups": [w.group()["id"]], "chain_parameters": {"correlation": None}}
    e = rejects(w, HTTPBadRequest, 400, w.pc.create, ALICE, body)
    reason = "Reason: None is not in valid_values: correlation must be one of mpls, nsh, vlan."
    assert e.message.endswith(reason)
    mixed = {"port_pair_groups": [w.group()["id"]], "chain_parameters": VLAN}  # an mpls-aware pair
    rejects(w, err.PortChainInconsistentCorrelations, 400, w.pc.create, ALICE, mixed)


def test_vlan_chains_get_labels_their_tag_can_carry_and_a_409_when_none_is_left(
    w: World, vlan: EncapDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vlan, "max_label", 20)  # 16..20: five labels a VLAN chain may use
    mpls_chain = w.chain(groups=[w.group()["id"] for _ in range(2)])
    assert stored_labels(w, mpls_chain["id"]) == [16, 17, 18]
    vlan_groups = [w.ppg.create(ALICE, {"port_pairs": [w.pair(sfp=VLAN)["id"]]})["id"] for _ in range(3)]
    body = {"port_pair_groups": vlan_groups, "chain_parameters": VLAN}
    e = rejects(w, err.PortChainUnavailableLabel, 409, w.pc.create, ALICE, body)
    assert "needs 4 new labels and only 2 of 16-20 are free" in e.message
    fits = w.chain(groups=vlan_groups[:1], chain_parameters=VLAN)
    assert stored_labels(w, fits["id"]) == [19, 20]
    assert stored_labels(w, w.chain()["id"]) == [21, 22]  # other encapsulations go on above it
    w.pc.delete(ALICE, fits["id"])  # 19 and 20 free: too few for a symmetric chain's four labels
    both_ways = {"port_pair_groups": vlan_groups[1:2], "chain_parameters": {**VLAN, "symmetric": True}}
    rejects(w, err.PortChainUnavailableLabel, 409, w.pc.create, ALICE, both_ways)
    w.pc.delete(ALICE, mpls_chain["id"])
    symmetric = w.pc.create(ALICE, both_ways)
    rec = w.store.get(schema.PORT_CHAIN, symmetric["id"])
    assert rec is not None  # both directions' labels fit the tag
    assert sorted([*stored_labels(w, symmetric["id"]), *rec.value[schema.REVERSE_HOP_LABELS].values(),
                   rec.value[schema.REVERSE_EXIT_LABEL]]) == [16, 17, 18, 19]  # fmt: skip


def test_a_driver_that_cannot_be_loaded_refuses_the_chain_with_a_400(
    w: World, toy_distribution: None
) -> None:
    group = w.ppg.create(ALICE, {"port_pairs": [w.pair(sfp={"correlation": "broken"})["id"]]})
    body = {"port_pair_groups": [group["id"]], "chain_parameters": {"correlation": "broken"}}
    e = rejects(w, InvalidInput, 400, w.pc.create, ALICE, body)
    assert "the broken encapsulation driver cannot be loaded here" in e.message


# ---- the compiler (ofsim) -------------------------------------------------------------------------------


def _vlan_nb(correlation: str | None, sf_chassis: str, label: int = 100) -> dict[str, Any]:
    nb = chain_nb(correlation, sf_chassis)
    chain = nb[schema.PORT_CHAIN]["pc1"]
    chain["chain_parameters"] = VLAN
    chain[schema.HOP_LABELS] = {"ppg1": label}
    return nb


def test_a_vlan_aware_function_gets_the_hop_in_the_tag_and_returns_it(vlan: EncapDriver) -> None:
    nb = _vlan_nb("vlan", sf_chassis="ch1")
    ch1 = chain_switch(nb, "ch1")
    port, to_sf = single_output(ch1.run(udp_packet()))
    assert port == 3 and to_sf["vlan_vid"] == TAGGED | 100 and to_sf["eth_type"] == 0x0800
    assert (to_sf["eth_dst"], to_sf["udp_dst"]) == (SERVER, 7)
    port, onward = single_output(ch1.run(to_sf.set(in_port=4)))
    assert port == TUNNEL and onward["tunnel_id"] == 7 and "vlan_vid" not in onward  # popped, plain L2
    assert single_output(chain_switch(nb, "ch2").run(onward.set(in_port=TUNNEL)))[0] == 2
    foreign = to_sf.set(in_port=4, vlan_vid=TAGGED | 101)  # a tag naming no hop of this function
    assert ch1.run(foreign).dropped


def test_an_unaware_function_on_another_chassis_gets_the_packet_untagged(vlan: EncapDriver) -> None:
    nb = _vlan_nb(None, sf_chassis="ch2")
    port, tunnelled = single_output(chain_switch(nb, "ch1").run(udp_packet()))
    assert port == TUNNEL and tunnelled["tunnel_id"] == (1 << 23) + 5
    assert tunnelled["vlan_vid"] == TAGGED | 100  # the tag rides in Geneve
    ch2 = chain_switch(nb, "ch2")
    port, delivered = single_output(ch2.run(tunnelled.set(in_port=TUNNEL)))
    assert port == 3 and "vlan_vid" not in delivered  # the proxy popped it
    assert (delivered["eth_src"], delivered["eth_dst"]) == (CLIENT, SERVER)
    port, at_server = single_output(ch2.run(delivered.set(in_port=4)))
    assert port == 2 and "vlan_vid" not in at_server


@pytest.mark.parametrize(
    ("correlation", "label"),
    [("vlan", 4095), ("vlan", 100_000), ("vxlan", 100)],  # a label the tag cannot carry; no such driver
)
def test_a_chain_the_driver_cannot_carry_stays_inert(
    vlan: EncapDriver, correlation: str, label: int, caplog: pytest.LogCaptureFixture
) -> None:
    nb = _vlan_nb("vlan", sf_chassis="ch1", label=label)
    nb[schema.PORT_CHAIN]["pc1"]["chain_parameters"] = {"correlation": correlation}
    without = {**nb, schema.PORT_CHAIN: {}}
    assert compile_nb(nb, "ch1", TUNNEL).flows == compile_nb(without, "ch1", TUNNEL).flows
    port, packet = single_output(chain_switch(nb, "ch1").run(udp_packet()))
    assert port == TUNNEL and packet["tunnel_id"] == 7 and "vlan_vid" not in packet  # plain L2, unsteered
    assert "chain pc1 cannot be compiled on ch1" in caplog.text


def test_a_driver_that_fails_to_load_leaves_its_chain_inert_not_the_chassis(vlan: EncapDriver) -> None:
    def broken(name: str) -> EncapDriver:
        if name == "vlan":
            raise ImportError("steerflow_vlan_encap is half installed")
        return driver(name)

    nb = _vlan_nb("vlan", sf_chassis="ch1")
    compiler = ChassisCompiler("ch1", TUNNEL, driver_for=broken)
    compiler.compile(nb)
    without = {**nb, schema.PORT_CHAIN: {}}
    assert compiler.state.flows == compile_nb(without, "ch1", TUNNEL).flows
