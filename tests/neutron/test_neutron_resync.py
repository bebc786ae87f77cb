"""`steerflow-neutron resync` after outages: the NB ends equal to Neutron, reporting what it changed."""

from __future__ import annotations

import pytest
from steerflow_neutron.cli import main as steerflow_neutron
from steerflow_neutron.mirror import MIRRORED_KINDS, Mirror
from steerflow_neutron.resync import read_neutron

from steerflow.api.context import Context
from steerflow.api.core_network import NetworkResource
from steerflow.model import schema
from steerflow.nbdb.api import NorthboundStore, Put
from tests.builders.neutron_server import Neutron, NeutronServer, neutron_chain
from tests.builders.servers import RedisServer

# a real neutron-server and redis-server; one worker runs them all, so Neutron's schema (a session
# fixture, slow to make) is made once
pytestmark = [pytest.mark.server, pytest.mark.xdist_group("neutron")]


def resync(capsys: pytest.CaptureFixture[str], server: NeutronServer, *extra: str) -> tuple[int, list[str]]:
    code = steerflow_neutron(["resync", "--neutron", server.url, "--nb", server.nb_url, *extra])
    return code, capsys.readouterr().out.splitlines()


def assert_nb_equals_neutron(nb: NorthboundStore, server: NeutronServer) -> None:
    """Same ids per kind, and no attribute of Neutron's that steerflow keeps differs."""
    mirror, neutron = Mirror(nb), read_neutron(server.url)
    for kind in MIRRORED_KINDS:
        stored = {rec.id: rec.value for rec in nb.list(kind)}
        assert set(stored) == set(neutron[kind]), kind
        for id, theirs in neutron[kind].items():
            assert not mirror.difference(kind, theirs, stored[id]), (kind, id)


def test_writes_while_the_nb_is_down_are_mirrored_by_resync(
    neutron: Neutron,
    neutron_server: NeutronServer,
    redis_nb: RedisServer,
    nb: NorthboundStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = neutron_chain(neutron)
    redis_nb.kill()
    # Neutron stays writable while the NB is away (the drivers log and leave it to resync)
    late = neutron.create(schema.PORT, network_id=world["net"]["id"], name="late")
    neutron.update(schema.PORT, world["server"]["id"], name="renamed")
    neutron.delete(schema.PORT_CHAIN, world["chain"]["id"])
    redis_nb.start()
    assert nb.get(schema.PORT, late["id"]) is None
    assert nb.get(schema.PORT_CHAIN, world["chain"]["id"]) is not None

    code, out = resync(capsys, neutron_server, "--dry-run")
    assert code == 0 and nb.get(schema.PORT, late["id"]) is None  # a dry run changes nothing
    code, out = resync(capsys, neutron_server)
    assert code == 0, out
    assert f"delete port_chain {world['chain']['id']} (not in Neutron)" in out
    assert f"create port {late['id']}" in out
    assert f"update port {world['server']['id']} (name)" in out
    assert out[-1] == "1 created, 1 updated, 1 deleted"
    assert nb.get(schema.PORT, late["id"]) is not None
    assert_nb_equals_neutron(nb, neutron_server)
    assert resync(capsys, neutron_server)[1][-1] == "in sync"  # idempotent


def test_resync_deletes_extra_and_mends_stale_objects(
    neutron: Neutron, neutron_server: NeutronServer, nb: NorthboundStore, capsys: pytest.CaptureFixture[str]
) -> None:
    world = neutron_chain(neutron)
    # what Neutron never had (an NB restored from a newer backup, a write through steerflow's own API)
    extra = NetworkResource(nb).create(Context.admin(), {"name": "stray"})
    server = world["server"]["id"]
    port = nb.get(schema.PORT, server)
    assert port is not None
    stale = {**port.value, "device_id": "vm-gone", "mac_address": "fa:16:3e:00:00:99"}
    nb.commit([Put(schema.PORT, server, stale)])
    code, out = resync(capsys, neutron_server)
    assert code == 0, out
    assert f"delete network {extra['id']} (not in Neutron)" in out
    assert f"replace port {server} (mac_address)" in out
    assert_nb_equals_neutron(nb, neutron_server)
    assert resync(capsys, neutron_server)[1][-1] == "in sync"


def test_resync_says_when_neutron_is_unreachable(
    neutron_server: NeutronServer, capsys: pytest.CaptureFixture[str]
) -> None:
    neutron_server.kill()
    code = steerflow_neutron(["resync", "--neutron", neutron_server.url, "--nb", neutron_server.nb_url])
    assert code == 2
    assert "cannot read Neutron at" in capsys.readouterr().err
