"""Classifier: one table's flows, found by hashing, the way OVS's classifier does it.

Flows are grouped into subtables by the shape of their match (which fields, which masks); a subtable is
a dict from masked field values to its flows. A lookup hashes the packet once per subtable, visiting
subtables from the highest priority they hold down, and stops once no subtable can beat what was found.
So a lookup costs per distinct match shape, not per flow: thousands of classifier flows stay fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from steerflow.flows.types import Flow
from steerflow.ofsim.fields import FieldSpec
from steerflow.ofsim.match import CompiledMatch
from steerflow.ofsim.packet import Packet

Shape = tuple[bool, tuple[tuple[str, int], ...]]


@dataclass(frozen=True)
class Entry:
    flow: Flow
    match: CompiledMatch


@dataclass
class _Subtable:
    specs: tuple[FieldSpec, ...]
    masks: tuple[int, ...]
    implied_ethernet: bool
    buckets: dict[tuple[int, ...], list[Entry]] = field(default_factory=dict)
    max_priority: int = -1

    def add(self, entry: Entry) -> None:
        key = tuple(t.value for t in entry.match.terms)
        self.buckets.setdefault(key, []).append(entry)
        self.max_priority = max(self.max_priority, entry.flow.priority)

    def find(self, packet: Packet) -> list[Entry]:
        """The flows of this subtable matching `packet`, highest priority first."""
        if self.implied_ethernet and not packet.frame.ethernet:
            return []
        key = []
        for spec, mask in zip(self.specs, self.masks, strict=True):
            if not packet.satisfies(spec):
                return []
            key.append(packet.raw(spec) & mask)
        return self.buckets.get(tuple(key), [])


class Classifier:
    """`find(packet)`: the matching flows of the highest priority (more than one: an ambiguity)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        subtables: dict[Shape, _Subtable] = {}
        for entry in entries:
            terms = entry.match.terms
            shape: Shape = (entry.match.implied_ethernet, tuple((t.spec.name, t.mask) for t in terms))
            sub = subtables.get(shape)
            if sub is None:
                specs, masks = tuple(t.spec for t in terms), tuple(t.mask for t in terms)
                sub = subtables[shape] = _Subtable(specs, masks, entry.match.implied_ethernet)
            sub.add(entry)
        for sub in subtables.values():
            for bucket in sub.buckets.values():
                bucket.sort(key=lambda e: -e.flow.priority)
        self._subtables = sorted(subtables.values(), key=lambda s: -s.max_priority)

    def find(self, packet: Packet) -> list[Entry]:
        best: list[Entry] = []
        for sub in self._subtables:
            if best and sub.max_priority < best[0].flow.priority:
                break
            found = sub.find(packet)
            if not found:
                continue
            top = [e for e in found if e.flow.priority == found[0].flow.priority]
            if not best or top[0].flow.priority > best[0].flow.priority:
                best = top
            elif top[0].flow.priority == best[0].flow.priority:
                best = best + top
        return best
