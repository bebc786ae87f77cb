"""register_chassis: the agent's NB chassis object, written idempotently."""

from __future__ import annotations

import pytest

from steerflow.agent.chassis import register_chassis
from steerflow.api.context import Context
from steerflow.api.core import ChassisResource
from steerflow.model import schema
from steerflow.nbdb.api import Put
from steerflow.nbdb.memory import MemoryStore


def test_registering_writes_the_chassis_the_api_shows() -> None:
    store = MemoryStore()
    chassis = register_chassis(store, "hv1", "192.0.2.11")
    shown = ChassisResource(store).get(Context.admin(), "hv1")
    assert shown == {
        "id": "hv1",
        "name": "hv1",
        "underlay_ip": "192.0.2.11",
        "encapsulations": ["geneve"],
        "applied_revision": 0,  # its agent has not reported yet (`chassis_status`)
        "installed_revision": 0,
        "alive": False,  # nor sent a heartbeat: never heard from
        "last_seen": None,
        "heartbeat_age": None,
    }
    assert shown == {
        **chassis.to_dict(),
        "applied_revision": 0,
        "installed_revision": 0,
        "alive": False,
        "last_seen": None,
        "heartbeat_age": None,
    }


def test_registering_again_writes_nothing() -> None:
    store = MemoryStore()
    register_chassis(store, "hv1", "192.0.2.11")
    revision = store.revision()
    register_chassis(store, "hv1", "192.0.2.11")
    assert store.revision() == revision


def test_a_new_underlay_address_updates_the_chassis_and_keeps_what_others_wrote() -> None:
    store = MemoryStore()
    register_chassis(store, "hv1", "192.0.2.11")
    rec = store.get(schema.CHASSIS, "hv1")
    assert rec is not None
    store.commit([Put(schema.CHASSIS, "hv1", {**rec.value, "agent_version": "0.1"})])
    register_chassis(store, "hv1", "2001:db8::11", encaps=("geneve", "vxlan"))
    value = store.get(schema.CHASSIS, "hv1").value  # type: ignore[union-attr]
    assert value["underlay_ip"] == "2001:db8::11"
    assert value["encapsulations"] == ["geneve", "vxlan"]
    assert value["agent_version"] == "0.1"


@pytest.mark.parametrize(
    ("name", "ip", "encaps"),
    [("hv1", "not-an-ip", ("geneve",)), ("", "192.0.2.1", ("geneve",)), ("hv1", "192.0.2.1", ())],
)
def test_bad_registrations_are_refused_and_write_nothing(name: str, ip: str, encaps: tuple[str, ...]) -> None:
    store = MemoryStore()
    with pytest.raises(ValueError):
        register_chassis(store, name, ip, encaps)
    assert store.revision() == 0
