"""Snapshot indexes of the port chains, so that a chain write does not read every chain: the chains'
classifiers by destination port (who holds a classifier, whose classifiers may overlap one: rules 28
and 29), the chains by ordered group list (rule 26), and the classifiers themselves by destination
port (rule 13).

Two classifiers can only overlap if their destination port ranges do, so each chain is filed under
the 256-port blocks its classifiers' destination ranges cover; a classifier with no destination range
(or one spanning more than `WIDE_BLOCKS` blocks) is filed as wide and is a candidate for every query.
The candidates are then checked exactly (`sfc_conflicts.basic_conflict`). The index is a `Derived`
value of the snapshot: built once, then updated per changed chain or classifier. A new classifier's
candidates are narrowed further by its IP prefixes and logical ports (`CLASSIFIER_FIELDS`), so that
classifiers told apart by those alone are not compared pairwise.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from steerflow.model import schema
from steerflow.model.sfc import FlowClassifier
from steerflow.nbdb.txn import Change, Derived, Snapshot, register

BLOCK = 256
WIDE_BLOCKS = 16
WIDE = -1  # the block of classifiers that may overlap anything


@dataclass(frozen=True)
class ChainClassifiers:
    classifiers: Mapping[str, tuple[FlowClassifier, ...]]  # chain id -> its classifiers
    holder: Mapping[str, str]  # classifier id -> the chain holding it
    blocks: Mapping[int, frozenset[str]]  # destination block (or WIDE) -> chain ids

    def candidates(self, mine: Iterable[FlowClassifier]) -> set[str]:
        """The chains that hold a classifier possibly overlapping one of `mine` (a superset)."""
        found: set[str] = set()
        for fc in mine:
            blocks = _blocks(fc)
            if blocks == (WIDE,):
                return set(self.classifiers)
            for block in (*blocks, WIDE):
                found |= self.blocks.get(block, frozenset())
        return found


def _blocks(fc: FlowClassifier) -> tuple[int, ...]:
    low, high = fc.destination_port_range_min, fc.destination_port_range_max
    if low is None or high is None or high // BLOCK - low // BLOCK >= WIDE_BLOCKS:
        return (WIDE,)
    return tuple(range(low // BLOCK, high // BLOCK + 1))


def _chain_classifiers(snap: Snapshot, chain_id: str) -> tuple[FlowClassifier, ...]:
    chain = snap.find(schema.PORT_CHAIN, chain_id)
    if chain is None:
        return ()
    found = (snap.find(schema.FLOW_CLASSIFIER, fc_id) for fc_id in chain["flow_classifiers"])
    return tuple(FlowClassifier.from_dict(fc) for fc in found if fc is not None)


def _build(snap: Snapshot) -> ChainClassifiers:
    empty = ChainClassifiers({}, {}, {})
    return _update(
        empty, snap, snap, {(schema.PORT_CHAIN, chain_id) for chain_id in snap.of(schema.PORT_CHAIN)}
    )


def _update(
    index: ChainClassifiers, before: Snapshot, after: Snapshot, changed: set[Change]
) -> ChainClassifiers:
    chains = {id for kind, id in changed if kind == schema.PORT_CHAIN}
    chains |= {
        index.holder[id] for kind, id in changed if kind == schema.FLOW_CLASSIFIER and id in index.holder
    }
    classifiers, holder = dict(index.classifiers), dict(index.holder)
    blocks = {block: set(ids) for block, ids in _touched_blocks(index, chains).items()}
    for chain_id in chains:  # every old entry first: a classifier may move from one chain to another
        old = before.find(schema.PORT_CHAIN, chain_id) if before is not after else None
        for fc_id in old["flow_classifiers"] if old is not None else ():
            if holder.get(fc_id) == chain_id:
                del holder[fc_id]
        for fc in classifiers.pop(chain_id, ()):
            for block in _blocks(fc):
                blocks[block].discard(chain_id)
    for chain_id in chains:
        doc = after.find(schema.PORT_CHAIN, chain_id)
        if doc is None:
            continue
        for fc_id in doc["flow_classifiers"]:
            holder[fc_id] = chain_id
        mine = classifiers[chain_id] = _chain_classifiers(after, chain_id)
        for fc in mine:
            for block in _blocks(fc):
                blocks.setdefault(block, set(index.blocks.get(block, frozenset()))).add(chain_id)
    merged = {**index.blocks, **{block: frozenset(ids) for block, ids in blocks.items()}}
    return ChainClassifiers(classifiers, holder, {block: ids for block, ids in merged.items() if ids})


def _touched_blocks(index: ChainClassifiers, chains: set[str]) -> dict[int, frozenset[str]]:
    """The blocks the old classifiers of `chains` are filed under."""
    return {
        block: index.blocks.get(block, frozenset())
        for chain_id in chains
        for fc in index.classifiers.get(chain_id, ())
        for block in _blocks(fc)
    }


CHAIN_CLASSIFIERS = register(
    Derived("chain_classifiers", frozenset({schema.PORT_CHAIN, schema.FLOW_CLASSIFIER}), _build, _update)
)


GroupLists = Mapping[tuple[str, ...], frozenset[str]]  # a chain's ordered group list -> chain ids


def _chain_group_list(snap: Snapshot, chain_id: str) -> tuple[str, ...] | None:
    doc = snap.find(schema.PORT_CHAIN, chain_id)
    return None if doc is None else tuple(doc["port_pair_groups"])


def _build_lists(snap: Snapshot) -> GroupLists:
    found: dict[tuple[str, ...], set[str]] = {}
    for chain_id, doc in snap.of(schema.PORT_CHAIN).items():
        found.setdefault(tuple(doc["port_pair_groups"]), set()).add(chain_id)
    return {groups: frozenset(ids) for groups, ids in found.items()}


def _update_lists(lists: GroupLists, before: Snapshot, after: Snapshot, changed: set[Change]) -> GroupLists:
    out = dict(lists)
    for chain_id in {id for kind, id in changed if kind == schema.PORT_CHAIN}:
        old, new = _chain_group_list(before, chain_id), _chain_group_list(after, chain_id)
        if old is not None:
            remaining = out.get(old, frozenset()) - {chain_id}
            out[old] = remaining
            if not remaining:
                del out[old]
        if new is not None:
            out[new] = out.get(new, frozenset()) | {chain_id}
    return out


CHAIN_GROUP_LISTS = register(
    Derived("chain_group_lists", frozenset({schema.PORT_CHAIN}), _build_lists, _update_lists)
)


Blocks = Mapping[int, frozenset[str]]  # destination block (or WIDE) -> classifier ids


def classifier_candidates(blocks: Blocks, mine: FlowClassifier, every: Iterable[str]) -> set[str]:
    """The classifiers whose destination range may overlap `mine`'s (a superset; `every`: all ids)."""
    wanted = _blocks(mine)
    if wanted == (WIDE,):
        return set(every)
    return {fc_id for block in (*wanted, WIDE) for fc_id in blocks.get(block, frozenset())}


def _build_blocks(snap: Snapshot) -> Blocks:
    found: dict[int, set[str]] = {}
    for fc_id, doc in snap.of(schema.FLOW_CLASSIFIER).items():
        for block in _blocks(FlowClassifier.from_dict(doc)):
            found.setdefault(block, set()).add(fc_id)
    return {block: frozenset(ids) for block, ids in found.items()}


def _update_blocks(blocks: Blocks, before: Snapshot, after: Snapshot, changed: set[Change]) -> Blocks:
    out = dict(blocks)
    for fc_id in {id for kind, id in changed if kind == schema.FLOW_CLASSIFIER}:
        old, new = before.find(schema.FLOW_CLASSIFIER, fc_id), after.find(schema.FLOW_CLASSIFIER, fc_id)
        for block in _blocks(FlowClassifier.from_dict(old)) if old is not None else ():
            out[block] = out.get(block, frozenset()) - {fc_id}
            if not out[block]:
                del out[block]
        for block in _blocks(FlowClassifier.from_dict(new)) if new is not None else ():
            out[block] = out.get(block, frozenset()) | {fc_id}
    return out


CLASSIFIER_BLOCKS = register(
    Derived("classifier_blocks", frozenset({schema.FLOW_CLASSIFIER}), _build_blocks, _update_blocks)
)


Prefix = tuple[int, int, int]  # (IP version, first address, prefix length)
ANY_PREFIX_FIELDS = ("source_ip_prefix", "destination_ip_prefix")
ANY_PORT_FIELDS = ("logical_source_port", "logical_destination_port")


def _prefix(text: str) -> Prefix:
    net = ipaddress.ip_network(text, strict=False)
    return net.version, int(net.network_address), net.prefixlen


@dataclass(frozen=True)
class PrefixIndex:
    """The classifiers by one IP prefix field. Prefixes nest or are disjoint, so those sharing an
    address with prefix P either start inside P (a range of the sorted starts) or hold P (one of P's
    truncations); those without the field match anything."""

    ids: Mapping[Prefix | None, frozenset[str]]
    starts: tuple[Prefix, ...]  # every prefix filed, sorted

    def overlapping(self, text: str) -> set[str]:
        version, low, length = _prefix(text)
        bits = 32 if version == 4 else 128
        high = low | ((1 << (bits - length)) - 1)
        keys: list[Prefix | None] = [None]
        keys += [(version, low >> (bits - n) << (bits - n), n) for n in range(length + 1)]
        first = bisect.bisect_left(self.starts, (version, low, 0))
        last = bisect.bisect_right(self.starts, (version, high, bits))
        keys += self.starts[first:last]
        return {fc_id for key in keys for fc_id in self.ids.get(key, frozenset())}

    def filed(self, fc_id: str, text: str | None, add: bool) -> PrefixIndex:
        key = None if text is None else _prefix(text)
        before = self.ids.get(key, frozenset())
        after = before | {fc_id} if add else before - {fc_id}
        ids = {**self.ids, key: after}
        starts = self.starts
        if key is not None and bool(before) != bool(after):
            listed = list(starts)
            if after:
                bisect.insort(listed, key)
            else:
                listed.remove(key)
            starts = tuple(listed)
        if not after:
            del ids[key]
        return PrefixIndex(ids, starts)


@dataclass(frozen=True)
class ValueIndex:
    """The classifiers by one logical port field; those without it match any port."""

    ids: Mapping[str | None, frozenset[str]]

    def matching(self, value: str) -> set[str]:
        return set(self.ids.get(value, frozenset()) | self.ids.get(None, frozenset()))

    def filed(self, fc_id: str, value: str | None, add: bool) -> ValueIndex:
        before = self.ids.get(value, frozenset())
        after = before | {fc_id} if add else before - {fc_id}
        ids = {**self.ids, value: after}
        if not after:
            del ids[value]
        return ValueIndex(ids)


@dataclass(frozen=True)
class ClassifierFields:
    """The classifiers by source and destination IP prefix and logical port."""

    prefixes: Mapping[str, PrefixIndex]  # field -> its index
    ports: Mapping[str, ValueIndex]

    def narrowed(self, doc: Mapping[str, Any], candidates: set[str]) -> set[str]:
        """The `candidates` whose prefixes and logical ports may overlap `doc`'s (a superset)."""
        for field, prefixes in self.prefixes.items():
            if doc.get(field) is not None:
                candidates &= prefixes.overlapping(doc[field])
        for field, ports in self.ports.items():
            if doc.get(field) is not None:
                candidates &= ports.matching(doc[field])
        return candidates

    def filed(self, fc_id: str, doc: Mapping[str, Any], add: bool) -> ClassifierFields:
        prefixes = {f: index.filed(fc_id, doc.get(f), add) for f, index in self.prefixes.items()}
        ports = {f: index.filed(fc_id, doc.get(f), add) for f, index in self.ports.items()}
        return replace(self, prefixes=prefixes, ports=ports)


def _build_fields(snap: Snapshot) -> ClassifierFields:
    empty = ClassifierFields(
        {f: PrefixIndex({}, ()) for f in ANY_PREFIX_FIELDS}, {f: ValueIndex({}) for f in ANY_PORT_FIELDS}
    )
    every = {(schema.FLOW_CLASSIFIER, fc_id) for fc_id in snap.of(schema.FLOW_CLASSIFIER)}
    return _update_fields(empty, snap, snap, every)


def _update_fields(
    fields: ClassifierFields, before: Snapshot, after: Snapshot, changed: set[Change]
) -> ClassifierFields:
    for fc_id in {id for kind, id in changed if kind == schema.FLOW_CLASSIFIER}:
        old = before.find(schema.FLOW_CLASSIFIER, fc_id) if before is not after else None
        new = after.find(schema.FLOW_CLASSIFIER, fc_id)
        if old is not None:
            fields = fields.filed(fc_id, old, add=False)
        if new is not None:
            fields = fields.filed(fc_id, new, add=True)
    return fields


CLASSIFIER_FIELDS = register(
    Derived("classifier_fields", frozenset({schema.FLOW_CLASSIFIER}), _build_fields, _update_fields)
)
