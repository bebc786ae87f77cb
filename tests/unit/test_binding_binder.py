"""PortBinder and BindingLoop over a real (in-memory) NB store: claims, VM moves, restarts, races."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.agent.binding import BindingLoop, PortBinder, PortBinding
from steerflow.api.context import Context
from steerflow.api.core_network import NetworkResource
from steerflow.api.core_port import PortResource
from steerflow.model import schema
from steerflow.nbdb.api import Put
from steerflow.nbdb.memory import MemoryStore
from steerflow.southbound.ovsdb import LocalPort, PortsChanged

ADMIN = Context.admin()


class Nb:
    """A memory NB with a network, and helpers to make ports and read bindings."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.ports = PortResource(self.store)
        self.net = NetworkResource(self.store).create(ADMIN, {"name": "net"})["id"]

    def port(self, **attrs: str) -> str:
        port_id: str = self.ports.create(ADMIN, {"network_id": self.net, **attrs})["id"]
        return port_id

    def binding(self, port_id: str) -> PortBinding | None:
        rec = self.store.get(schema.PORT_BINDING, port_id)
        return None if rec is None else PortBinding.from_dict(rec.value)

    def status(self, port_id: str) -> str:
        rec = self.store.get(schema.PORT, port_id)
        assert rec is not None
        return str(rec.value["status"])


@dataclass
class Hypervisor:
    """The interfaces on one chassis' br-int, as the OVSDB feed would list them."""

    name: str
    ifaces: dict[str, LocalPort] = field(default_factory=dict)
    serial: int = 0

    def plug(self, port_id: str, ofport: int | None = None) -> LocalPort:
        self.serial += 1
        name = f"tap-{port_id[:4]}-{self.serial}"
        iface = LocalPort(name, port_id, ofport or self.serial, uuid=f"{self.name}-{self.serial}")
        self.ifaces[port_id] = iface
        return iface

    def unplug(self, port_id: str) -> None:
        self.ifaces.pop(port_id, None)

    def renumber(self, port_id: str, ofport: int) -> None:
        old = self.ifaces[port_id]
        self.ifaces[port_id] = LocalPort(old.name, port_id, ofport, uuid=old.uuid)

    def ports(self) -> list[LocalPort]:
        return list(self.ifaces.values())


@pytest.fixture
def nb() -> Nb:
    return Nb()


def test_a_sync_binds_the_plugged_port_and_marks_it_active(nb: Nb) -> None:
    p1 = nb.port()
    hv1 = Hypervisor("hv1")
    iface = hv1.plug(p1, ofport=7)
    PortBinder(nb.store, "hv1").sync(hv1.ports())
    assert nb.binding(p1) == PortBinding(p1, "hv1", 7, iface.name, "", claimed_at=2)
    assert nb.status(p1) == "ACTIVE"


def test_a_second_sync_with_nothing_new_writes_nothing(nb: Nb) -> None:
    p1 = nb.port()
    hv1 = Hypervisor("hv1")
    hv1.plug(p1)
    binder = PortBinder(nb.store, "hv1")
    binder.sync(hv1.ports())
    revision = nb.store.revision()
    assert binder.sync(hv1.ports()).changes == ()
    assert nb.store.revision() == revision


def test_unplugging_releases_the_binding_and_the_port_goes_down(nb: Nb) -> None:
    p1 = nb.port()
    hv1 = Hypervisor("hv1")
    hv1.plug(p1)
    binder = PortBinder(nb.store, "hv1")
    binder.sync(hv1.ports())
    hv1.unplug(p1)
    binder.sync(hv1.ports())
    assert nb.binding(p1) is None
    assert nb.status(p1) == "DOWN"


def test_deleting_the_nb_port_releases_its_binding(nb: Nb) -> None:
    p1 = nb.port()
    hv1 = Hypervisor("hv1")
    hv1.plug(p1)
    binder = PortBinder(nb.store, "hv1")
    binder.sync(hv1.ports())
    nb.ports.delete(ADMIN, p1)
    plan = binder.sync(hv1.ports())
    assert nb.binding(p1) is None
    assert [p.iface_id for p in plan.unknown] == [p1]


def test_a_live_migration_moves_the_binding_and_the_source_never_steals_it_back(nb: Nb) -> None:
    p1 = nb.port()
    hv1, hv2 = Hypervisor("hv1"), Hypervisor("hv2")
    a, b = PortBinder(nb.store, "hv1"), PortBinder(nb.store, "hv2")
    b.sync(hv2.ports())  # hv2's agent is running before the VM arrives
    hv1.plug(p1)
    a.sync(hv1.ports())
    hv2.plug(p1, ofport=30)  # the destination plugs while the source still has the VM
    b.sync(hv2.ports())
    assert nb.binding(p1) is not None and nb.binding(p1).chassis == "hv2"  # type: ignore[union-attr]
    a.sync(hv1.ports())
    b.sync(hv2.ports())
    hv1.renumber(p1, 99)  # even a change on the source interface is no new claim
    a.sync(hv1.ports())
    hv1.unplug(p1)
    a.sync(hv1.ports())
    assert nb.binding(p1) == PortBinding(p1, "hv2", 30, hv2.ifaces[p1].name, "", claimed_at=3)
    assert nb.status(p1) == "ACTIVE"


def test_a_restarted_agent_does_not_steal_a_port_another_chassis_holds(nb: Nb) -> None:
    p1 = nb.port()
    hv1, hv2 = Hypervisor("hv1"), Hypervisor("hv2")
    hv1.plug(p1)
    PortBinder(nb.store, "hv1").sync(hv1.ports())
    hv2.plug(p1)
    PortBinder(nb.store, "hv2").sync(hv2.ports())  # a fresh agent: what it finds at start is old
    assert nb.binding(p1).chassis == "hv1"  # type: ignore[union-attr]


def test_a_vm_moving_back_is_claimed_again_by_its_first_chassis(nb: Nb) -> None:
    p1 = nb.port()
    hv1, hv2 = Hypervisor("hv1"), Hypervisor("hv2")
    a, b = PortBinder(nb.store, "hv1"), PortBinder(nb.store, "hv2")
    b.sync(hv2.ports())
    hv1.plug(p1)
    a.sync(hv1.ports())
    hv2.plug(p1)
    b.sync(hv2.ports())
    hv1.unplug(p1)
    a.sync(hv1.ports())
    hv1.plug(p1)  # a new interface on hv1, while hv2 still has the old one
    a.sync(hv1.ports())
    b.sync(hv2.ports())
    assert nb.binding(p1).chassis == "hv1"  # type: ignore[union-attr]


def test_the_host_id_decides_between_two_chassis_that_both_have_the_interface(nb: Nb) -> None:
    p1 = nb.port(**{"binding:host_id": "hv2"})
    hv1, hv2 = Hypervisor("hv1"), Hypervisor("hv2")
    hv1.plug(p1)
    hv2.plug(p1)
    PortBinder(nb.store, "hv1").sync(hv1.ports())
    assert nb.binding(p1) is None
    PortBinder(nb.store, "hv2").sync(hv2.ports())
    assert nb.binding(p1).chassis == "hv2"  # type: ignore[union-attr]


def test_two_chassis_racing_for_a_new_port_end_with_one_binding_that_stays(nb: Nb) -> None:
    p1 = nb.port()
    hvs = [Hypervisor(f"hv{i}") for i in range(4)]
    binders = [PortBinder(nb.store, hv.name) for hv in hvs]
    for binder, hv in zip(binders, hvs, strict=True):
        binder.sync(hv.ports())
        hv.plug(p1)
    threads = [
        threading.Thread(target=b.sync, args=(hv.ports(),)) for b, hv in zip(binders, hvs, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = nb.binding(p1)
    assert winner is not None
    revision = nb.store.revision()
    for binder, hv in zip(binders, hvs, strict=True):
        assert binder.sync(hv.ports()).changes == ()
    assert nb.store.revision() == revision and nb.binding(p1) == winner


STEPS = st.lists(
    st.tuples(st.sampled_from(["plug", "unplug", "renumber"]), st.integers(0, 1), st.integers(0, 1)),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(steps=STEPS, order=st.permutations([0, 1]))
def test_bindings_converge_to_a_chassis_that_has_the_port_and_then_stay_put(
    steps: list[tuple[str, int, int]], order: list[int]
) -> None:
    nb = Nb()
    port_ids = [nb.port(), nb.port()]
    hvs = [Hypervisor("hv0"), Hypervisor("hv1")]
    binders = [PortBinder(nb.store, hv.name) for hv in hvs]
    for step, hv_index, port_index in steps:
        hv, port_id = hvs[hv_index], port_ids[port_index]
        if step == "plug" and port_id not in hv.ifaces:
            hv.plug(port_id)
        elif step == "unplug":
            hv.unplug(port_id)
        elif step == "renumber" and port_id in hv.ifaces:
            hv.renumber(port_id, hv.ifaces[port_id].ofport + 100)  # type: ignore[operator]
        binders[hv_index].sync(hv.ports())
    for _round in range(2):
        for i in order:
            binders[i].sync(hvs[i].ports())
    for port_id in port_ids:
        binding = nb.binding(port_id)
        holders = [hv.name for hv in hvs if port_id in hv.ifaces]
        assert (binding is None) == (not holders)
        if binding is not None:
            assert binding.chassis in holders
            assert binding.ofport == hvs[int(binding.chassis[-1])].ifaces[port_id].ofport
    revision = nb.store.revision()
    for i in order:
        assert binders[i].sync(hvs[i].ports()).changes == ()
    assert nb.store.revision() == revision


class FakeFeed:
    """A PortSource: the test pushes batches as OvsdbClient's feed thread would."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[PortsChanged], None]] = []

    def subscribe(self, callback: Callable[[PortsChanged], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def push(self, ports: list[LocalPort]) -> None:
        for callback in list(self.callbacks):
            callback(PortsChanged(tuple(ports)))


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def loop_on(nb: Nb) -> Iterator[tuple[BindingLoop, FakeFeed]]:
    feed = FakeFeed()
    with BindingLoop(nb.store, feed, "hv1", retry_interval=0.05) as loop:
        yield loop, feed
    assert feed.callbacks == []


def test_the_loop_binds_what_the_feed_reports(nb: Nb, loop_on: tuple[BindingLoop, FakeFeed]) -> None:
    _, feed = loop_on
    p1 = nb.port()
    hv1 = Hypervisor("hv1")
    hv1.plug(p1, ofport=4)
    feed.push(hv1.ports())
    eventually(lambda: nb.binding(p1) is not None)
    hv1.renumber(p1, 40)
    feed.push(hv1.ports())
    eventually(lambda: nb.binding(p1).ofport == 40)  # type: ignore[union-attr]


def test_the_loop_binds_a_port_that_appears_in_the_nb_after_its_interface(
    nb: Nb, loop_on: tuple[BindingLoop, FakeFeed]
) -> None:
    loop, feed = loop_on
    p1 = nb.port()
    stored = nb.store.get(schema.PORT, p1)
    assert stored is not None
    nb.ports.delete(ADMIN, p1)
    hv1 = Hypervisor("hv1")
    hv1.plug(p1)
    feed.push(hv1.ports())
    eventually(lambda: loop.last_plan is not None and [p.iface_id for p in loop.last_plan.unknown] == [p1])
    assert nb.binding(p1) is None
    nb.store.commit([Put(schema.PORT, p1, stored.value)])  # the NB watch, not the feed, must notice
    eventually(lambda: nb.binding(p1) is not None)


def test_the_loop_releases_when_the_nb_port_is_deleted(nb: Nb, loop_on: tuple[BindingLoop, FakeFeed]) -> None:
    _, feed = loop_on
    p1 = nb.port()
    hv1 = Hypervisor("hv1")
    hv1.plug(p1)
    feed.push(hv1.ports())
    eventually(lambda: nb.binding(p1) is not None)
    nb.ports.delete(ADMIN, p1)  # the NB watch, not the feed, must notice
    eventually(lambda: nb.binding(p1) is None)


def test_the_loop_ignores_other_chassis_ports_and_claims(
    nb: Nb, loop_on: tuple[BindingLoop, FakeFeed]
) -> None:
    loop, feed = loop_on
    mine, theirs = nb.port(), nb.port()
    hv1 = Hypervisor("hv1")
    hv1.plug(mine)
    feed.push(hv1.ports())
    eventually(lambda: nb.binding(mine) is not None)
    eventually(lambda: loop.syncs >= 1)
    time.sleep(0.3)  # the sync's own writes (binding, status) have come back through the watch
    syncs = loop.syncs
    hv2 = Hypervisor("hv2")
    hv2.plug(theirs)
    PortBinder(nb.store, "hv2").sync(hv2.ports())
    nb.ports.update(ADMIN, theirs, {"name": "renamed"})
    assert nb.binding(theirs) is not None and nb.binding(theirs).chassis == "hv2"  # type: ignore[union-attr]
    time.sleep(0.3)
    assert loop.syncs == syncs  # neither hv2's claim nor a change of its port woke hv1
    nb.ports.update(ADMIN, mine, {"binding:host_id": "hv2"})  # a change of a local port does
    eventually(lambda: loop.syncs > syncs)


def test_a_loop_without_a_watch_syncs_when_told_of_its_ports_only(nb: Nb) -> None:
    """The agent's loop follows the agent's NB cache (`nb_changed`), not a watch of its own."""
    feed = FakeFeed()
    mine, theirs = nb.port(), nb.port()
    with BindingLoop(nb.store, feed, "hv1", retry_interval=0.05, watch=False) as loop:
        hv1 = Hypervisor("hv1")
        hv1.plug(mine)
        feed.push(hv1.ports())
        eventually(lambda: nb.binding(mine) is not None and loop.syncs >= 1)
        syncs = loop.syncs
        nb.ports.update(ADMIN, mine, {"binding:host_id": "hv2"})
        time.sleep(0.3)
        assert loop.syncs == syncs  # nobody told it
        loop.nb_changed({(schema.PORT, theirs), (schema.CHASSIS_STATUS, "hv2")})
        time.sleep(0.3)
        assert loop.syncs == syncs  # not about its ports
        loop.nb_changed({(schema.PORT, mine)})
        eventually(lambda: loop.syncs > syncs)
        syncs = loop.syncs
        loop.nb_changed(None)  # a resync: anything may have changed
        eventually(lambda: loop.syncs > syncs)
    assert feed.callbacks == []
