"""OvsdbClient and the binding loop on real ovsdb-server + userspace ovs-vswitchd, over an embedded NB store.

Each sandbox comes from tests.builders.ovs_fixtures; its own bridge is `br-sbx`, so br-int is ours to create.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from steerflow.agent.binding import BindingLoop, PortBinding
from steerflow.api.context import Context
from steerflow.api.core_network import NetworkResource
from steerflow.api.core_port import PortResource
from steerflow.model import schema
from steerflow.nbdb import NorthboundStore, open_store
from steerflow.southbound.ovsdb import TUNNEL_OFPORT, OvsdbClient, PortsChanged
from tests.builders.ovs_fixtures import OvsSandbox, accepts_connections, ovs_missing, ovs_sandbox, wait_until

pytestmark = pytest.mark.root
ADMIN = Context.admin()
MAC = "fa:16:3e:00:00:0a"


@pytest.fixture(scope="module", autouse=True)
def _needs_ovs() -> None:
    reason = ovs_missing()
    if reason:
        pytest.skip(f"OVS sandbox unavailable: {reason}")


class Chassis:
    """One emulated hypervisor: its switch, our OVSDB client on it and (once started) its binding loop."""

    def __init__(self, name: str, switch: OvsSandbox, client: OvsdbClient) -> None:
        self.name = name
        self.switch = switch
        self.client = client
        self.loop: BindingLoop | None = None

    def plug(self, iface: str, port_id: str, *extra: str) -> None:
        settings = [f"external_ids:iface-id={port_id}", f"external_ids:attached-mac={MAC}", *extra]
        if not any(s.startswith("type=") for s in extra):
            settings.append("type=internal")
        self.switch.vsctl("add-port", "br-int", iface, "--", "set", "interface", iface, *settings)

    def unplug(self, iface: str) -> None:
        self.switch.vsctl("del-port", "br-int", iface)

    def ofport(self, iface: str) -> int:
        return int(self.switch.vsctl("get", "interface", iface, "ofport"))


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def start_chassis(stack: ExitStack, name: str) -> Chassis:
    switch = stack.enter_context(ovs_sandbox(bridge="br-sbx", datapath_id=None))
    client = OvsdbClient(switch.db_target)
    stack.callback(client.close)
    return Chassis(name, switch, client)


def start_binding(stack: ExitStack, chassis: Chassis, store: NorthboundStore) -> Chassis:
    chassis.client.ensure_integration_bridge()
    chassis.loop = stack.enter_context(BindingLoop(store, chassis.client, chassis.name, retry_interval=0.05))
    return chassis


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NorthboundStore]:
    nb = open_store((tmp_path / "nb.db").as_uri())
    yield nb
    nb.close()


@pytest.fixture
def hv1(stack: ExitStack) -> Chassis:
    return start_chassis(stack, "hv1")


def new_port(store: NorthboundStore) -> str:
    net = NetworkResource(store).create(ADMIN, {"name": "net"})["id"]
    port_id: str = PortResource(store).create(ADMIN, {"network_id": net, "mac_address": MAC})["id"]
    return port_id


def binding(store: NorthboundStore, port_id: str) -> PortBinding | None:
    rec = store.get(schema.PORT_BINDING, port_id)
    return None if rec is None else PortBinding.from_dict(rec.value)


def bound_on(store: NorthboundStore, port_id: str) -> str | None:
    """The chassis the port's NB binding names (None: unbound)."""
    found = binding(store, port_id)
    return None if found is None else found.chassis


def status(store: NorthboundStore, port_id: str) -> str:
    rec = store.get(schema.PORT, port_id)
    assert rec is not None
    return str(rec.value["status"])


def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    wait_until(condition, timeout, what)


def settle(chassis: Chassis, store: NorthboundStore) -> None:
    """Return once the chassis' binding loop has synced on everything that happened before the call.

    A marker port plugged now can only be bound by a sync that also saw every earlier OVSDB and NB
    change (one worker, batches in order), so its binding proves that sync happened.
    """
    marker = new_port(store)
    chassis.plug(f"mk-{marker[:8]}", marker)
    until(lambda: bound_on(store, marker) == chassis.name, "the marker binding")


# -- the integration bridge -------------------------------------------------------------------------------


def test_br_int_is_created_secure_with_the_geneve_port_and_a_second_call_writes_nothing(hv1: Chassis) -> None:
    report = hv1.client.ensure_integration_bridge()
    assert report.created and report.changed
    get = hv1.switch.vsctl
    assert get("get", "bridge", "br-int", "fail_mode").strip() == "secure"
    assert get("get", "bridge", "br-int", "datapath_type").strip() == "netdev"
    assert get("get", "bridge", "br-int", "protocols").strip() == "[OpenFlow13, OpenFlow15]"
    assert get("get", "bridge", "br-int", "external_ids:steerflow-managed").strip() == '"true"'
    assert get("get", "interface", "geneve0", "type").strip() == "geneve"
    assert get("get", "interface", "geneve0", "options").strip() == "{key=flow, remote_ip=flow}"
    until(lambda: hv1.ofport("geneve0") == TUNNEL_OFPORT, "the tunnel port's ofport")
    mgmt = hv1.switch.rundir / "br-int.mgmt"
    until(lambda: accepts_connections(mgmt), "br-int's management socket")
    flows = hv1.switch.run("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", f"unix:{mgmt}")
    assert "actions=" not in flows  # secure: no NORMAL flow of a standalone bridge

    next_cfg = get("get", "open_vswitch", ".", "next_cfg")
    again = hv1.client.ensure_integration_bridge()
    assert not again.created and again.fixes == ()
    assert get("get", "open_vswitch", ".", "next_cfg") == next_cfg  # no transaction at all


def test_a_bridge_made_by_hand_is_adopted_and_repaired_in_place(hv1: Chassis) -> None:
    vsctl = hv1.switch.vsctl
    vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev", "protocols=OpenFlow10")
    vsctl(
        "add-port",
        "br-int",
        "geneve0",
        "--",
        "set",
        "interface",
        "geneve0",
        "type=geneve",
        "options:remote_ip=flow",
    )
    bridge_uuid = vsctl("get", "bridge", "br-int", "_uuid")
    report = hv1.client.ensure_integration_bridge()
    assert not report.created
    assert any("fail_mode" in f for f in report.fixes) and any("ofport_request" in f for f in report.fixes)
    assert vsctl("get", "bridge", "br-int", "_uuid") == bridge_uuid
    assert vsctl("get", "bridge", "br-int", "fail_mode").strip() == "secure"
    assert vsctl("get", "bridge", "br-int", "protocols").strip() == "[OpenFlow10, OpenFlow13, OpenFlow15]"
    assert vsctl("get", "interface", "geneve0", "options").strip() == "{key=flow, remote_ip=flow}"
    until(lambda: hv1.ofport("geneve0") == TUNNEL_OFPORT, "the tunnel port moved to its fixed ofport")
    vsctl("set", "bridge", "br-int", "fail_mode=standalone")  # someone breaks it: the next call repairs it
    assert hv1.client.ensure_integration_bridge().fixes == ("fail_mode 'standalone' -> 'secure'",)


# -- the local-ports feed ---------------------------------------------------------------------------------


def test_the_feed_reports_plug_ofport_change_and_unplug(hv1: Chassis) -> None:
    hv1.client.ensure_integration_bridge()
    batches: list[PortsChanged] = []
    unsubscribe = hv1.client.subscribe(batches.append)
    until(lambda: len(batches) == 1, "the first (full) batch")
    assert batches[0].ports == ()
    hv1.plug("vm1", "lp-1")
    until(lambda: any(p.ofport for b in batches for p in b.ports), "vm1 with an ofport")
    port = hv1.client.local_ports()[0]
    assert (port.name, port.iface_id, port.mac, port.ofport) == ("vm1", "lp-1", MAC, hv1.ofport("vm1"))
    hv1.switch.vsctl("set", "interface", "vm1", "ofport_request=42")
    until(lambda: batches[-1].changed and batches[-1].changed[0].ofport == 42, "the new ofport")
    hv1.unplug("vm1")
    until(lambda: bool(batches[-1].removed), "the unplug")
    assert batches[-1].ports == () and batches[-1].removed[0].name == "vm1"
    unsubscribe()


def test_the_feed_as_an_asyncio_queue(hv1: Chassis) -> None:
    hv1.client.ensure_integration_bridge()

    async def first_ready_port() -> str:
        queue, unsubscribe = hv1.client.subscribe_asyncio(asyncio.get_running_loop())
        try:
            assert (await asyncio.wait_for(queue.get(), 10)).ports == ()
            await asyncio.to_thread(hv1.plug, "vm1", "lp-1")
            while True:
                batch = await asyncio.wait_for(queue.get(), 10)
                if any(p.ready for p in batch.ports):
                    return batch.ports[0].iface_id
        finally:
            unsubscribe()

    assert asyncio.run(first_ready_port()) == "lp-1"


# -- binding ----------------------------------------------------------------------------------------------


def test_plug_renumber_unplug_bind_update_and_release_the_nb_binding(
    stack: ExitStack, hv1: Chassis, store: NorthboundStore
) -> None:
    start_binding(stack, hv1, store)
    port_id = new_port(store)
    hv1.plug("vm1", port_id)
    until(lambda: binding(store, port_id) is not None, "the binding")
    found = binding(store, port_id)
    assert found is not None and (found.chassis, found.interface, found.mac) == ("hv1", "vm1", MAC)
    assert found.ofport == hv1.ofport("vm1")
    assert status(store, port_id) == "ACTIVE"

    hv1.switch.vsctl("set", "interface", "vm1", "ofport_request=42")
    until(lambda: getattr(binding(store, port_id), "ofport", None) == 42, "the binding to follow ofport 42")

    hv1.unplug("vm1")
    until(lambda: binding(store, port_id) is None, "the release")
    assert status(store, port_id) == "DOWN"


def test_an_unknown_iface_id_is_reported_and_binding_goes_on(
    stack: ExitStack, hv1: Chassis, store: NorthboundStore
) -> None:
    start_binding(stack, hv1, store)
    loop = hv1.loop
    assert loop is not None
    stranger = str(uuid.uuid4())
    hv1.plug("stray", stranger)
    until(lambda: loop.last_plan is not None and [p.iface_id for p in loop.last_plan.unknown] == [stranger],
          "the unknown iface-id report")  # fmt: skip
    port_id = new_port(store)
    hv1.plug("vm1", port_id)
    until(lambda: binding(store, port_id) is not None, "the known port's binding")
    assert binding(store, stranger) is None


def test_an_interface_vswitchd_cannot_open_is_not_bound(
    stack: ExitStack, hv1: Chassis, store: NorthboundStore
) -> None:
    start_binding(stack, hv1, store)
    port_id = new_port(store)
    hv1.plug("nosuchdev", port_id, "type=system")  # no such device: vswitchd sets ofport -1
    until(lambda: hv1.ofport("nosuchdev") == -1, "vswitchd to give up on the device")
    settle(hv1, store)
    assert [p.ofport for p in hv1.client.local_ports() if p.name == "nosuchdev"] == [None]
    assert binding(store, port_id) is None
    assert status(store, port_id) == "DOWN"


def test_deleting_the_nb_port_releases_its_binding(
    stack: ExitStack, hv1: Chassis, store: NorthboundStore
) -> None:
    start_binding(stack, hv1, store)
    port_id = new_port(store)
    hv1.plug("vm1", port_id)
    until(lambda: binding(store, port_id) is not None, "the binding")
    PortResource(store).delete(ADMIN, port_id)
    until(lambda: binding(store, port_id) is None, "the release after the NB delete")


def test_a_vm_moving_between_two_chassis_is_rebound_and_never_stolen_back(
    stack: ExitStack, hv1: Chassis, store: NorthboundStore
) -> None:
    hv2 = start_chassis(stack, "hv2")
    start_binding(stack, hv1, store)
    start_binding(stack, hv2, store)
    port_id = new_port(store)
    hv1.plug("vm1", port_id)
    until(lambda: bound_on(store, port_id) == "hv1", "the binding on hv1")

    hv2.plug("vm1-dst", port_id, "ofport_request=77")  # live migration: both chassis have the VM
    until(lambda: bound_on(store, port_id) == "hv2", "the binding on hv2")
    moved = binding(store, port_id)
    assert moved is not None and (moved.ofport, moved.interface) == (77, "vm1-dst")

    settle(hv1, store)  # hv1 has seen the move
    hv1.switch.vsctl("set", "interface", "vm1", "ofport_request=55")  # a change at the source is no new claim
    until(lambda: hv1.ofport("vm1") == 55, "the source renumbered")
    settle(hv1, store)
    assert binding(store, port_id) == moved
    hv1.unplug("vm1")
    settle(hv1, store)
    assert binding(store, port_id) == moved
    assert status(store, port_id) == "ACTIVE"
