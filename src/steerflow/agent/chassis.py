"""Chassis registration: the agent announces its hypervisor (name, tunnel endpoint, encapsulations)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from steerflow.model import schema
from steerflow.model.core import Chassis, ChassisName
from steerflow.nbdb.api import NorthboundStore, Operation, Put
from steerflow.nbdb.status import heartbeat
from steerflow.nbdb.txn import Plan, Snapshot, transact

LOG = logging.getLogger(__name__)


def register_chassis(
    store: NorthboundStore, name: str, encap_ip: str, encaps: Sequence[str] = ("geneve",)
) -> Chassis:
    """Create or update the NB `chassis` object `name`; writes nothing when it is already up to date.

    What others added to the object (extra attributes) is kept: only the
    identity, the underlay address and the encapsulations are ours to set here. The agent follows it
    with a heartbeat (`beat`): a chassis never heard from is down (`nbdb.status.liveness`).
    """
    if not name:
        raise ValueError("a chassis needs a name")
    if not encaps:
        raise ValueError("a chassis needs at least one encapsulation")
    underlay = ipaddress.ip_address(encap_ip)  # ValueError on a bad address, before anything is written

    def plan(snap: Snapshot) -> Plan[tuple[Chassis, bool]]:
        current = snap.find(schema.CHASSIS, name)
        base = Chassis.from_dict(current) if current is not None else Chassis(ChassisName(name), underlay)
        wanted = Chassis(
            name=ChassisName(name),
            underlay_ip=underlay,
            encapsulations=tuple(encaps),
            extra=base.extra,
        )
        ops: list[Operation] = []
        if current != wanted.to_dict():
            ops.append(Put(schema.CHASSIS, name, wanted.to_dict()))
        return ops, (wanted, bool(ops))

    chassis, changed = transact(store, plan)
    verb = "registered" if changed else "already registered"
    LOG.info("chassis %s %s: underlay %s, encapsulations %s", name, verb, underlay, ", ".join(encaps))
    return chassis


def beat(store: NorthboundStore, name: str, encap_ip: str) -> None:
    """One heartbeat of a running agent; registers the chassis again when an admin deleted it (a live
    agent comes back: `DELETE .../chassis/NAME` is for chassis whose agent is gone)."""
    if store.get(schema.CHASSIS, name) is None:
        LOG.warning("chassis %s was deleted from the NB while its agent runs: registering it again", name)
        register_chassis(store, name, encap_ip)
    heartbeat(store, name)
