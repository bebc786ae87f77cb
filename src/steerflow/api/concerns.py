"""The chassis a write concerns: those whose compiled flows its operations can change (`nbdb.concerns`).

Precise for the chain path (port chains, flow classifiers, port pair groups, port pair updates): a chain
is compiled only where it classifies (its classifiers' logical source ports; for a symmetric chain its
destination ports too, the reverse direction's sources) and where one of its functions is plugged (the
ingress and egress ports of the pairs of its groups); elsewhere it compiles to nothing. A write
concerns the chassis of every chain it touches, before and after (a chain whose group moved concerns the
old and the new chassis). Where the answer reaches further, it is every chassis (None): a classifier
without source port (classified on every port of its network), a chain in a service graph, a graph, a
port pair created or deleted (its ports become or stop being service ports: every chassis answers ARP
for endpoints), and every other kind (networks, ports, subnets, ...). A classifier or group in no chain
concerns nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import Delete, JsonDict, Operation, Put
from steerflow.nbdb.concerns import Concern
from steerflow.nbdb.txn import Snapshot

NOBODYS_KINDS = frozenset({schema.CONCERNS})  # written with every write: concerns nobody by itself


class _Unknown(Exception):
    """The write reaches further than this module follows: every chassis."""


class _After:
    """`snap` as it reads once `ops` are committed, without copying a kind (only `find`)."""

    def __init__(self, snap: Snapshot, ops: Sequence[Operation]) -> None:
        self.snap = snap
        self.written: dict[tuple[str, str], JsonDict | None] = {
            (op.kind, op.id): (op.value if isinstance(op, Put) else None) for op in ops
        }

    def find(self, kind: str, id: str) -> JsonDict | None:
        key = (kind, id)
        return self.written[key] if key in self.written else self.snap.find(kind, id)


Reader = Snapshot | _After


def concerned_chassis(snap: Snapshot, ops: Sequence[Operation]) -> Concern:
    """The chassis whose flows committing `ops` on `snap` can change; None: every chassis."""
    after = _After(snap, ops)
    try:
        chains = _touched_chains(snap, after, ops)
        found: set[str] = set()
        for chain_id in chains:
            for docs in (snap, after):
                chain = docs.find(schema.PORT_CHAIN, chain_id)
                if chain is not None:
                    found |= _footprint(snap, docs, chain)
        for op in ops:
            if op.kind == schema.PORT_PAIR:
                for docs in (snap, after):
                    found |= _pair_chassis(docs, docs.find(schema.PORT_PAIR, op.id))
    except _Unknown:
        return None
    return frozenset(found)


def _touched_chains(snap: Snapshot, after: _After, ops: Sequence[Operation]) -> set[str]:
    chains: set[str] = set()
    classifiers: set[str] = set()
    groups: set[str] = set()
    pairs: set[str] = set()
    for op in ops:
        if op.kind in NOBODYS_KINDS:
            continue
        if op.kind == schema.PORT_CHAIN:
            chains.add(op.id)
        elif op.kind == schema.FLOW_CLASSIFIER:
            classifiers.add(op.id)
        elif op.kind == schema.PORT_PAIR_GROUP:
            groups.add(op.id)
        elif op.kind == schema.PORT_PAIR and _same_ports(snap.find(schema.PORT_PAIR, op.id), after, op):
            pairs.add(op.id)
        else:
            raise _Unknown
    if pairs:
        groups |= {
            g for g, doc in snap.of(schema.PORT_PAIR_GROUP).items() if pairs & set(doc.get("port_pairs", ()))
        }
    if classifiers or groups:  # one pass over the chains, however many a bulk write names
        chains |= {
            c
            for c, doc in snap.of(schema.PORT_CHAIN).items()
            if classifiers.intersection(doc.get("flow_classifiers", ()))
            or groups.intersection(doc.get("port_pair_groups", ()))
        }
    return chains


def _same_ports(before: JsonDict | None, after: _After, op: Operation) -> bool:
    """Whether a pair write keeps the pair and its ports (no port becomes or stops being a service port)."""
    now = after.find(schema.PORT_PAIR, op.id)
    if isinstance(op, Delete) or before is None or now is None:
        return False
    return all(before.get(side) == now.get(side) for side in ("ingress", "egress"))


def _footprint(snap: Snapshot, docs: Reader, chain: Mapping[str, Any]) -> set[str]:
    """The chassis where `chain` (as `docs` hold it) may compile to something."""
    chain_id = str(chain["id"])
    for graph in snap.of(schema.SERVICE_GRAPH).values():
        links: Mapping[str, Iterable[str]] = graph.get("port_chains") or {}
        if chain_id in links or any(chain_id in dsts for dsts in links.values()):
            raise _Unknown
    symmetric = bool((chain.get("chain_parameters") or {}).get("symmetric"))
    found: set[str] = set()
    for fc_id in chain.get("flow_classifiers", ()):
        fc = docs.find(schema.FLOW_CLASSIFIER, fc_id)
        if fc is None:
            continue
        sides = ("logical_source_port", "logical_destination_port") if symmetric else ("logical_source_port",)
        for side in sides:
            if not fc.get(side):
                raise _Unknown  # classified on every local port of its network, on any chassis
            found |= _port_chassis(docs, str(fc[side]))
    for group_id in chain.get("port_pair_groups", ()):
        group = docs.find(schema.PORT_PAIR_GROUP, group_id)
        for pair_id in (group or {}).get("port_pairs", ()):
            found |= _pair_chassis(docs, docs.find(schema.PORT_PAIR, pair_id))
    return found


def _pair_chassis(docs: Reader, pair: Mapping[str, Any] | None) -> set[str]:
    if pair is None:
        return set()
    return {
        c for side in ("ingress", "egress") if pair.get(side) for c in _port_chassis(docs, str(pair[side]))
    }


def _port_chassis(docs: Reader, port_id: str) -> set[str]:
    binding = docs.find(schema.PORT_BINDING, port_id)
    return {str(binding[schema.CHASSIS])} if binding and binding.get(schema.CHASSIS) else set()
