"""A port chain's MPLS labels: one per port pair group plus an exit label, unique across all chains.

The labels are allocated in the NB when the chain is written and stored (hidden) with it, so the
dataplane never derives them from list positions: a group keeps its label whatever its position, and
only groups that join the chain get new ones. A symmetric chain also holds reverse labels (one per group
and a reverse exit) for the reverse direction, under the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steerflow.api import sfc_errors as err
from steerflow.api.errors import InvalidInput
from steerflow.api.numbers import NumbersInUse, numbers_index
from steerflow.api.sfc_attributes import MAX_LABEL, MIN_LABEL
from steerflow.model import schema
from steerflow.model.correlations import UnknownCorrelation, label_limit
from steerflow.model.sfc import DEFAULT_CORRELATION
from steerflow.nbdb.api import JsonDict
from steerflow.nbdb.txn import Snapshot

DIRECTIONS = ((schema.HOP_LABELS, schema.EXIT_LABEL), (schema.REVERSE_HOP_LABELS, schema.REVERSE_EXIT_LABEL))


def labels_of(chain: Mapping[str, Any]) -> frozenset[int]:
    """Every label a stored chain holds, both directions (none for a chain stored before labels)."""
    labels: set[int] = set()
    for hops_attr, exit_attr in DIRECTIONS:
        hops: Mapping[str, Any] = chain.get(hops_attr) or {}
        labels |= {int(label) for label in hops.values()}
        if chain.get(exit_attr) is not None:
            labels.add(int(chain[exit_attr]))
    return frozenset(labels)


def assign_labels(snap: Snapshot, chain: JsonDict, previous: Mapping[str, Any] | None = None) -> None:
    """Set `chain`'s hop and exit labels (and reverse ones if symmetric); `previous` is the stored chain
    an update replaces.

    Groups `previous` labelled keep their label, the others get the lowest free ones (in chain order),
    the exit label is kept or else allocated last; then the same for the reverse direction of a
    symmetric chain. Raises `PortChainUnavailableLabel` when too few are free.
    """
    old = previous or {}
    # The chain's own old labels stay taken during its update: a label released by a removed group is
    # never handed to a group joining in the same write, so packets still carrying it cannot be
    # steered to the newcomer. Later writes may reuse it.
    # (every stored label is in the index: other chains' and this chain's old ones)
    stored, taken_now = snap.index(CHAIN_LABELS), set[int]()
    params = chain.get("chain_parameters") or {}
    symmetric = bool(params.get("symmetric"))
    last = _limit(str(params.get("correlation") or DEFAULT_CORRELATION))
    for hops_attr, exit_attr in DIRECTIONS if symmetric else DIRECTIONS[:1]:
        _assign_direction(chain, old, hops_attr, exit_attr, stored, taken_now, last)
    if not symmetric:
        chain.pop(schema.REVERSE_HOP_LABELS, None)
        chain.pop(schema.REVERSE_EXIT_LABEL, None)


def _limit(correlation: str) -> int:
    """The chain's largest label; a stored chain whose driver is gone (agents leave it inert) may still
    be renamed: any label then. A driver that is installed but cannot be loaded refuses the write."""
    try:
        return min(MAX_LABEL, label_limit(correlation))
    except UnknownCorrelation:
        return MAX_LABEL
    except Exception as exc:  # a third party's broken install: say so rather than answer 500
        raise InvalidInput(
            error_message=f"the {correlation} encapsulation driver cannot be loaded here ({exc!r})"
        ) from exc


def _assign_direction(
    chain: JsonDict,
    old: Mapping[str, Any],
    hops_attr: str,
    exit_attr: str,
    stored: NumbersInUse,
    taken_now: set[int],
    last: int,
) -> None:
    """One direction's labels (new ones at most `last`); what it takes is added to `taken_now`."""
    old_hops: Mapping[str, int] = old.get(hops_attr) or {}
    groups = list(chain["port_pair_groups"])
    joining = [g for g in groups if g not in old_hops]
    exit_label = old.get(exit_attr)
    fresh_labels = _take(stored, taken_now, len(joining) + (exit_label is None), chain["id"], last)
    taken_now.update(fresh_labels)
    fresh = iter(fresh_labels)
    chain[hops_attr] = {g: int(old_hops[g]) if g in old_hops else next(fresh) for g in groups}
    chain[exit_attr] = int(exit_label) if exit_label is not None else next(fresh)


def _take(stored: NumbersInUse, taken_now: set[int], count: int, chain_id: str, last: int) -> list[int]:
    """The `count` lowest labels in MIN_LABEL..`last` neither stored nor in `taken_now`."""
    taken: list[int] = []
    start = MIN_LABEL
    for _ in range(count):
        label = stored.lowest_free(start, last, taken_now)
        if label is None:
            raise err.PortChainUnavailableLabel(
                id=chain_id, needed=count, free=len(taken), first=MIN_LABEL, last=last
            )
        taken.append(label)
        start = label + 1
    return taken


CHAIN_LABELS = numbers_index("chain_labels", schema.PORT_CHAIN, labels_of)
