"""The api layer's seams for mirrors: create with the id the source allocated, and dry-run checks."""

from __future__ import annotations

import pytest

from steerflow.api.context import Context
from steerflow.api.core_errors import NetworkNotFound
from steerflow.api.core_network import NetworkResource
from steerflow.api.core_port import PortResource
from steerflow.api.sfc_chains import PortChains
from steerflow.api.sfc_errors import PortChainChainIdInConflict
from steerflow.api.sfc_pairs import PortPairGroups
from steerflow.model import schema
from steerflow.nbdb import open_store

ADMIN = Context.admin()
NET = "5d8e3a52-0000-4000-8000-000000000001"
ABSENT = "5d8e3a52-0000-4000-8000-0000000000ff"


def test_create_keeps_the_given_id_and_allocates_the_rest() -> None:
    store = open_store("memory://")
    net = NetworkResource(store).create(ADMIN, {"name": "n"}, id=NET)
    assert net["id"] == NET and net[schema.SEGMENTATION_ID] == 1
    stored = store.get(schema.NETWORK, NET)
    assert stored is not None and stored.value["name"] == "n"


def test_checks_validate_as_the_write_would_and_write_nothing() -> None:
    store = open_store("memory://")
    NetworkResource(store).create(ADMIN, {"name": "n"}, id=NET)
    ports = PortResource(store)
    revision = store.revision()
    answer = ports.check_create(ADMIN, {"network_id": NET, "name": "p"}, "port-1")
    assert answer["id"] == "port-1" and answer["network_id"] == NET
    with pytest.raises(NetworkNotFound):
        ports.check_create(ADMIN, {"network_id": ABSENT}, "port-2")
    assert NetworkResource(store).check_update(ADMIN, NET, {"name": "m"})["name"] == "m"
    assert store.revision() == revision and store.get(schema.PORT, "port-1") is None
    assert store.get(schema.NETWORK, NET).value["name"] == "n"  # type: ignore[union-attr]


def test_a_chain_id_taken_is_refused_by_the_check_too() -> None:
    store = open_store("memory://")
    g1, g2 = (PortPairGroups(store).create(ADMIN, {"port_pairs": []})["id"] for _ in range(2))
    chains = PortChains(store)
    chains.create(ADMIN, {"port_pair_groups": [g1], "chain_id": 7}, id="chain-1")
    with pytest.raises(PortChainChainIdInConflict):
        chains.check_create(ADMIN, {"port_pair_groups": [g2], "chain_id": 7}, "chain-2")
    assert chains.check_create(ADMIN, {"port_pair_groups": [g2], "chain_id": 8}, "chain-2")["chain_id"] == 8
