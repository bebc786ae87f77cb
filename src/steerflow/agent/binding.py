"""Port binding: which chassis hosts each logical port and on which OpenFlow port (NB kind `port_binding`).

An OVS interface on br-int with `external_ids:iface-id=<NB port id>` *is* that logical port on this chassis
(OVN's port binding). The agent records where it found it as a separate NB object, `port_binding`
{port_id, chassis, ofport, interface, mac, claimed_at}, instead of writing the API port's
`binding:host_id`: that attribute stays what the user (or Nova) set, the REST API and the agents never
fight over one object, and a VM move is just a new claim on the binding. The agent only flips the port's
read-only `status` (ACTIVE while bound, DOWN otherwise), as Neutron does.

Claim rules (pure, in `compute_bindings`; see docs/binding.md):
- a ready local interface (it has an ofport) for a known NB port and no binding: claim it;
- the binding is ours: follow the interface (ofport, name, MAC), release it when the interface goes
  away or stops being ready, or when the NB port is deleted;
- the binding is another chassis': take it only if the port's `binding:host_id` names this chassis, or,
  when `binding:host_id` is empty, if this chassis first saw its interface *after* the other claimed it
  (`LocalClaim.seen_at > PortBinding.claimed_at`): the newest claim wins, the old chassis never steals it
  back, and a restarted agent (which counts the interfaces it finds at start as old) never steals;
- never when `binding:host_id` names another chassis (it is the requested chassis, like OVN's
  requested-chassis).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final, Protocol

from steerflow.model import schema
from steerflow.nbdb.api import Delete, JsonDict, NorthboundStore, Operation, Put, StoreError
from steerflow.nbdb.txn import Plan, Snapshot, transact
from steerflow.southbound.ovsdb import LocalPort, PortsChanged

LOG = logging.getLogger(__name__)

HOST_ID: Final = "binding:host_id"
_BINDING_KINDS: Final = frozenset({schema.PORT, schema.PORT_BINDING})  # what can change a binding


@dataclass(frozen=True)
class PortBinding:
    """Where a logical port lives: the chassis, its OpenFlow port there, and when that claim was made.

    `claimed_at` is the NB revision the claiming agent had seen when it claimed; it orders claims on
    the same port (a later interface wins) and is kept when the owner only follows an ofport change.
    """

    port_id: str
    chassis: str
    ofport: int
    interface: str = ""
    mac: str = ""
    claimed_at: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PortBinding:
        return cls(
            port_id=str(d.get("port_id") or d["id"]),
            chassis=str(d[schema.CHASSIS]),
            ofport=int(d["ofport"]),
            interface=str(d.get("interface", "")),
            mac=str(d.get("mac", "")),
            claimed_at=int(d.get("claimed_at", 0)),
        )

    def to_dict(self) -> JsonDict:
        return {
            "id": self.port_id,
            "port_id": self.port_id,
            schema.CHASSIS: self.chassis,
            "ofport": self.ofport,
            "interface": self.interface,
            "mac": self.mac,
            "claimed_at": self.claimed_at,
        }


@dataclass(frozen=True)
class LocalClaim:
    """A ready local interface and the NB revision this agent knew when it first saw it ready.

    `seen_at` is 0 for interfaces that were already there when the agent started: they are never
    newer than anybody's claim.
    """

    port: LocalPort
    seen_at: int = 0


class Action(StrEnum):
    BIND = "bind"  # a new binding, or one taken over from another chassis
    UPDATE = "update"  # our binding follows the interface (new ofport, name or MAC)
    UNBIND = "unbind"  # our binding goes (interface gone or not ready, NB port deleted)


@dataclass(frozen=True)
class BindingChange:
    """One NB change the binder decided, with the reason (for logs and tests)."""

    action: Action
    port_id: str
    binding: PortBinding | None  # the new value; None for an unbind
    previous: PortBinding | None
    reason: str

    def __str__(self) -> str:
        where = f" on ofport {self.binding.ofport} ({self.binding.interface})" if self.binding else ""
        return f"{self.action} port {self.port_id}{where}: {self.reason}"


@dataclass(frozen=True)
class BindingPlan:
    """What `compute_bindings` decided: the changes, and the local interfaces it left alone and why."""

    changes: tuple[BindingChange, ...] = ()
    unknown: tuple[LocalPort, ...] = ()  # iface-id names no NB port (yet): reported, never bound
    skipped: tuple[tuple[str, str], ...] = ()  # (port id, why another chassis keeps it)
    duplicates: tuple[LocalPort, ...] = ()  # interfaces ignored: another one carries the same iface-id

    def bound(self) -> dict[str, PortBinding]:
        """Bindings this plan creates or updates, by port id."""
        return {c.port_id: c.binding for c in self.changes if c.binding is not None}


def compute_bindings(
    chassis_name: str,
    local_ports: Sequence[LocalClaim],
    nb_ports: Mapping[str, JsonDict],
    bindings: Mapping[str, PortBinding],
    revision: int,
) -> BindingPlan:
    """The binding changes this chassis must make (pure).

    `local_ports` are the ready interfaces on br-int, `nb_ports` the NB `port` objects by id,
    `bindings` every NB `port_binding` by port id, `revision` the NB revision all of these were read at
    (it stamps new claims).
    """
    chosen, duplicates = _one_per_port(local_ports, bindings, chassis_name)
    changes: list[BindingChange] = []
    unknown: list[LocalPort] = []
    skipped: list[tuple[str, str]] = []
    for port_id, claim in sorted(chosen.items()):
        nb_port = nb_ports.get(port_id)
        if nb_port is None:
            unknown.append(claim.port)
            continue
        decision = _claim(chassis_name, claim, nb_port, bindings.get(port_id), revision)
        if isinstance(decision, str):
            skipped.append((port_id, decision))
        elif decision is not None:
            changes.append(decision)
    changes += _releases(chassis_name, chosen, nb_ports, bindings)
    return BindingPlan(tuple(changes), tuple(unknown), tuple(skipped), tuple(duplicates))


def _one_per_port(
    claims: Sequence[LocalClaim], bindings: Mapping[str, PortBinding], chassis: str
) -> tuple[dict[str, LocalClaim], list[LocalPort]]:
    """One ready interface per logical port: the one already bound here, else the oldest (then by name)."""

    def rank(c: LocalClaim) -> tuple[bool, int, str]:
        current = bindings.get(c.port.iface_id)
        ours = current is not None and current.chassis == chassis and current.interface == c.port.name
        return (not ours, c.seen_at, c.port.name)

    chosen: dict[str, LocalClaim] = {}
    duplicates: list[LocalPort] = []
    for claim in sorted((c for c in claims if c.port.ready), key=rank):
        if claim.port.iface_id in chosen:
            duplicates.append(claim.port)
        else:
            chosen[claim.port.iface_id] = claim
    return chosen, duplicates


def _claim(
    chassis: str, claim: LocalClaim, nb_port: JsonDict, current: PortBinding | None, revision: int
) -> BindingChange | str | None:
    """Our decision for one local port: a change, a reason to leave it to another chassis, or nothing."""
    port = claim.port
    assert port.ofport is not None  # _one_per_port keeps ready interfaces only
    wanted = PortBinding(port.iface_id, chassis, port.ofport, port.name, port.mac, claimed_at=revision)
    requested = str(nb_port.get(HOST_ID) or "")
    if current is not None and current.chassis == chassis:
        followed = replace(wanted, claimed_at=current.claimed_at)
        if followed == current:
            return None
        return BindingChange(Action.UPDATE, port.iface_id, followed, current, _what_moved(current, followed))
    if requested and requested != chassis:
        return f"{HOST_ID} requests chassis {requested}"
    if current is None:
        return BindingChange(Action.BIND, port.iface_id, wanted, None, "interface plugged here")
    if requested == chassis:
        reason = f"taken from {current.chassis}: {HOST_ID} requests this chassis"
        return BindingChange(Action.BIND, port.iface_id, wanted, current, reason)
    if claim.seen_at > current.claimed_at:
        reason = f"taken from {current.chassis}: interface plugged here after its claim"
        return BindingChange(Action.BIND, port.iface_id, wanted, current, reason)
    return f"bound on chassis {current.chassis} by a newer claim"


def _what_moved(old: PortBinding, new: PortBinding) -> str:
    fields = ("ofport", "interface", "mac")
    moved = [
        f"{f} {getattr(old, f)!r} -> {getattr(new, f)!r}"
        for f in fields
        if getattr(old, f) != getattr(new, f)
    ]
    return ", ".join(moved)


def _releases(
    chassis: str,
    chosen: Mapping[str, LocalClaim],
    nb_ports: Mapping[str, JsonDict],
    bindings: Mapping[str, PortBinding],
) -> list[BindingChange]:
    """Our bindings whose interface is gone (or not ready) or whose NB port was deleted."""
    out = []
    for port_id, current in sorted(bindings.items()):
        if current.chassis != chassis:
            continue
        if port_id not in nb_ports:
            out.append(BindingChange(Action.UNBIND, port_id, None, current, "NB port deleted"))
        elif port_id not in chosen:
            reason = f"interface {current.interface or '?'} gone or not ready"
            out.append(BindingChange(Action.UNBIND, port_id, None, current, reason))
    return out


def binding_ops(plan: BindingPlan, nb_ports: Mapping[str, JsonDict]) -> list[Operation]:
    """The NB writes of a plan: the `port_binding` objects, and the ports' `status` (ACTIVE while bound)."""
    ops: list[Operation] = []
    for change in plan.changes:
        if change.binding is not None:
            ops.append(Put(schema.PORT_BINDING, change.port_id, change.binding.to_dict()))
        else:
            ops.append(Delete(schema.PORT_BINDING, change.port_id))
        status = "DOWN" if change.action is Action.UNBIND else "ACTIVE"
        nb_port = nb_ports.get(change.port_id)
        if nb_port is not None and nb_port.get("status") != status:
            ops.append(Put(schema.PORT, change.port_id, {**nb_port, "status": status}))
    return ops


def read_bindings(snap: Snapshot) -> dict[str, PortBinding]:
    """Every NB `port_binding`, by port id."""
    return {id: PortBinding.from_dict(value) for id, value in snap.of(schema.PORT_BINDING).items()}


class PortBinder:
    """Applies `compute_bindings` for one chassis: remembers when it first saw each interface, and commits
    each plan in one optimistic NB transaction (re-planned on a race with another writer)."""

    def __init__(self, store: NorthboundStore, chassis: str) -> None:
        self.store = store
        self.chassis = chassis
        self._seen: dict[str, int] | None = None  # interface uuid -> seen_at; None until the first sync
        self._reported: set[tuple[str, str]] = set()

    def claims(self, ports: Iterable[LocalPort], revision: int) -> list[LocalClaim]:
        """The ready interfaces with their `seen_at` (0 for those already there at the first call)."""
        ready = [p for p in ports if p.ready]
        known = self._seen
        seen = {_key(p): (0 if known is None else known.get(_key(p), revision)) for p in ready}
        self._seen = seen
        return [LocalClaim(p, seen[_key(p)]) for p in ready]

    def sync(self, ports: Iterable[LocalPort]) -> BindingPlan:
        """Bring this chassis' bindings in line with `ports` (the interfaces on br-int now) and the NB."""
        claims = self.claims(ports, self.store.revision())

        def plan(snap: Snapshot) -> Plan[BindingPlan]:
            nb_ports = snap.of(schema.PORT)
            result = compute_bindings(self.chassis, claims, nb_ports, read_bindings(snap), snap.revision)
            return binding_ops(result, nb_ports), result

        result = transact(self.store, plan)
        self._log(result)
        return result

    def _log(self, plan: BindingPlan) -> None:
        for change in plan.changes:
            LOG.info("chassis %s: %s", self.chassis, change)
        notes = [(p.name, f"iface-id {p.iface_id} names no NB port") for p in plan.unknown]
        notes += [(port_id, f"not bound here: {why}") for port_id, why in plan.skipped]
        notes += [
            (p.name, f"ignored: another interface carries iface-id {p.iface_id}") for p in plan.duplicates
        ]
        current = set(notes)
        for subject, note in sorted(current - self._reported):  # each situation once, not on every sync
            LOG.warning("chassis %s: %s: %s", self.chassis, subject, note)
        self._reported = current


def _key(port: LocalPort) -> str:
    return port.uuid or port.name


class PortSource(Protocol):
    """Where the local ports come from: `OvsdbClient` (or a test double with the same feed)."""

    def subscribe(self, callback: Callable[[PortsChanged], None]) -> Callable[[], None]: ...


class BindingLoop:
    """Keeps this chassis' bindings right, in two threads: re-sync whenever the local ports change (OVSDB
    feed) or the NB ports or bindings change (NB watch); retry after a failed NB write.

    `watch=False`: no NB watch of its own; the owner hands it what its own watch saw (`nb_changed`):
    the agent's NB cache, so one watch per agent reads each commit, not two."""

    def __init__(
        self,
        store: NorthboundStore,
        ports: PortSource,
        chassis: str,
        *,
        retry_interval: float = 0.5,
        watch: bool = True,
    ) -> None:
        self.binder = PortBinder(store, chassis)
        self.store = store
        self._source = ports
        self._retry = retry_interval
        self._watch = watch
        self._ports: tuple[LocalPort, ...] | None = None
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unsubscribe: Callable[[], None] | None = None
        self.last_plan: BindingPlan | None = None
        self.syncs = 0  # completed syncs (tests and status pages read it)

    def start(self) -> BindingLoop:
        self._threads = [
            threading.Thread(target=self._work, name=f"binding-{self.binder.chassis}", daemon=True)
        ]
        if self._watch:
            since = self.store.revision()
            watching = threading.Thread(
                target=self._watch_nb, args=(since,), name="binding-nb-watch", daemon=True
            )
            self._threads.append(watching)
        for thread in self._threads:
            thread.start()
        self._unsubscribe = self._source.subscribe(self._on_ports)
        return self

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._stopping.set()
        self._dirty.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> BindingLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_ports(self, batch: PortsChanged) -> None:
        self._ports = batch.ports
        self._dirty.set()

    def _watch_nb(self, since: int) -> None:
        while not self._stopping.is_set():
            try:
                batch = self.store.watch(since, timeout=0.5)
            except StoreError as exc:
                LOG.warning("NB watch failed (%s); retrying", exc)
                self._stopping.wait(self._retry)
                continue
            since = batch.revision
            self.nb_changed(None if batch.resync else {(e.kind, e.id) for e in batch.events})

    def nb_changed(self, changed: Collection[tuple[str, str]] | None) -> None:
        """The NB documents written since the last call ((kind, id)s; None: unknown, a resync): a sync
        is due when one of them can change what this chassis binds. Any thread may call it."""
        concerned = self._concerned()
        if changed is None or any(kind in _BINDING_KINDS and id in concerned for kind, id in changed):
            self._dirty.set()

    def _concerned(self) -> set[str]:
        """The port ids whose NB port or binding can change what this chassis binds: those of its local
        interfaces (one it holds without an interface is released by the sync the unplug started).
        Another chassis' claims and its ports' status flips are none of them: re-syncing on each made a
        bulk bind on C chassis cost every agent C full syncs."""
        return {p.iface_id for p in self._ports or ()}

    def _work(self) -> None:
        while True:
            self._dirty.wait()
            if self._stopping.is_set():
                return
            self._dirty.clear()
            ports = self._ports
            if ports is None:  # no OVSDB view yet: binding now would release everything we hold
                continue
            try:
                self.last_plan = self.binder.sync(ports)
                self.syncs += 1
            except StoreError as exc:
                LOG.warning("chassis %s: binding sync failed (%s); retrying", self.binder.chassis, exc)
                self._stopping.wait(self._retry)
                self._dirty.set()
