"""Numbers the stored documents of one kind hold (chain ids, MPLS labels), as a snapshot index: who
holds a number, and the lowest free one, without reading every document on every write.

The value is kept sorted, so the lowest free number at or above `start` is a binary search for the
first gap: O(log n) when the numbers in use are (as allocation keeps them) mostly contiguous.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.nbdb.txn import Change, Derived, Snapshot, register

Numbers = Callable[[Mapping[str, Any]], Iterable[int]]


@dataclass(frozen=True)
class NumbersInUse:
    owners: Mapping[int, str]  # number -> id of the document holding it
    ordered: list[int]  # the same numbers, sorted (never changed: updates build a new list)

    def lowest_free(self, start: int, last: int | None, also_taken: Container[int] = ()) -> int | None:
        """The smallest number in [start, last] nobody holds and not in `also_taken`."""
        candidate = self._first_gap(start)
        while candidate in also_taken:
            candidate = self._first_gap(candidate + 1)
        return candidate if last is None or candidate <= last else None

    def _first_gap(self, start: int) -> int:
        ordered = self.ordered
        first = bisect.bisect_left(ordered, start)
        low, high = 0, len(ordered) - first
        while low < high:  # ordered[first + k] - (start + k) only grows: find where it leaves 0
            middle = (low + high) // 2
            if ordered[first + middle] == start + middle:
                low = middle + 1
            else:
                high = middle
        return start + low


def numbers_index(name: str, kind: str, numbers: Numbers) -> Derived[NumbersInUse]:
    """A registered snapshot index of the `numbers` each document of `kind` holds."""

    def build(snap: Snapshot) -> NumbersInUse:
        owners = {n: id for id, doc in snap.of(kind).items() for n in numbers(doc)}
        return NumbersInUse(owners, sorted(owners))

    def update(index: NumbersInUse, before: Snapshot, after: Snapshot, changed: set[Change]) -> NumbersInUse:
        owners, ordered = dict(index.owners), list(index.ordered)
        ids = {id for k, id in changed if k == kind}
        for id in ids:
            old = before.find(kind, id)
            for n in numbers(old) if old is not None else ():
                if owners.get(n) == id:
                    del owners[n]
                    del ordered[bisect.bisect_left(ordered, n)]
        for id in ids:
            new = after.find(kind, id)
            for n in numbers(new) if new is not None else ():
                if n not in owners:
                    bisect.insort(ordered, n)
                owners[n] = id
        return NumbersInUse(owners, ordered)

    return register(Derived(name, frozenset({kind}), build, update))
