"""The NB's schema version: what daemons accept, and the versioned steps that bring an older NB to the
current format (`steerflow nb migrate`).

A step reads a snapshot and returns the writes that bring it to its version, together with the version
document, in one transaction: a step interrupted half-way left nothing, and a step run again finds
nothing to do (idempotent). A step may only add or fill in what the previous release ignores, never
remove what it reads: during a rolling upgrade the agents not yet upgraded read the migrated NB.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore, Operation, Put
from steerflow.nbdb.txn import Snapshot, transact

LEGACY_VERSION: Final = 1  # a store without the version document: the format before versions


class NewerSchema(Exception):
    """The NB was written by a newer steerflow: this one must not read or write it."""


@dataclass(frozen=True)
class Step:
    """Brings an NB at `version - 1` to `version`: `writes(snapshot)` are the documents to put."""

    version: int
    title: str
    writes: Callable[[Snapshot], list[Put]]


# the full port pair group parameters the API writes (api.sfc_attributes.DEFAULT_PPG_PARAMETERS): the
# store cannot import the API, and a step stays what it was when it shipped
_PPG_PARAMETERS_V2: Final = "port_pair_group_parameters"
_PPG_DEFAULTS_V2: Final[dict[str, Any]] = {
    "lb_fields": [],
    "ppg_n_tuple_mapping": {"ingress_n_tuple": {}, "egress_n_tuple": {}},
}


def _complete_group_parameters(snap: Snapshot) -> list[Put]:
    """Version 2: every port pair group carries the complete parameters (null or missing keys filled)."""
    puts = []
    for group_id, doc in sorted(snap.of(schema.PORT_PAIR_GROUP).items()):
        params = doc.get(_PPG_PARAMETERS_V2)
        filled = {**copy.deepcopy(_PPG_DEFAULTS_V2), **(params if isinstance(params, dict) else {})}
        if params != filled:
            puts.append(Put(schema.PORT_PAIR_GROUP, group_id, {**doc, _PPG_PARAMETERS_V2: filled}))
    return puts


STEPS: Final = (Step(2, "port pair groups carry their complete parameters", _complete_group_parameters),)
CURRENT_VERSION: Final = STEPS[-1].version


def version_of(snap: Snapshot) -> int:
    """The schema version the documents of `snap` are in."""
    meta = snap.find(schema.NB_META, schema.NB_META_ID)
    return int(meta[schema.SCHEMA_VERSION]) if meta else LEGACY_VERSION


def stored_version(store: NorthboundStore) -> int:
    record = store.get(schema.NB_META, schema.NB_META_ID)
    return int(record.value[schema.SCHEMA_VERSION]) if record is not None else LEGACY_VERSION


def refuse_newer(store: NorthboundStore, who: str) -> int:
    """The store's version, or NewerSchema (one line) when it is newer than this release reads."""
    version = stored_version(store)
    if version > CURRENT_VERSION:
        raise NewerSchema(
            f"the NB store is in schema version {version}, newer than this {who} reads ({CURRENT_VERSION}): "
            "upgrade this host's steerflow (a store is never migrated down)"
        )
    return version


def _meta(version: int) -> Put:
    doc: JsonDict = {"id": schema.NB_META_ID, schema.SCHEMA_VERSION: version}
    return Put(schema.NB_META, schema.NB_META_ID, doc)


def stamp_if_fresh(store: NorthboundStore) -> bool:
    """Record the current version in a store nothing was ever written to (the API does at start), so a
    new NB is never taken for a legacy one; whether it did."""

    def plan(snap: Snapshot) -> tuple[list[Operation], bool]:
        return ([_meta(CURRENT_VERSION)], True) if snap.revision == 0 else ([], False)

    return transact(store, plan)


@dataclass(frozen=True)
class StepResult:
    version: int
    title: str
    documents: int  # documents the step rewrote (or would, on a dry run)
    revision: int | None  # the commit's revision; None on a dry run or when nothing was written


def pending(version: int, steps: Sequence[Step] = STEPS) -> list[Step]:
    return [step for step in steps if step.version > version]


def run_step(store: NorthboundStore, step: Step, *, dry_run: bool = False) -> StepResult:
    """Apply one step in one transaction (re-planned on a race); a step already applied writes nothing."""

    def plan(snap: Snapshot) -> tuple[list[Operation], StepResult]:
        if version_of(snap) >= step.version:
            return [], StepResult(step.version, step.title, 0, None)
        writes = step.writes(snap)
        ops: list[Operation] = [] if dry_run else [*writes, _meta(step.version)]
        return ops, StepResult(step.version, step.title, len(writes), None if dry_run else snap.revision + 1)

    return transact(store, plan)


def migrate(
    store: NorthboundStore,
    *,
    dry_run: bool = False,
    steps: Sequence[Step] = STEPS,
    progress: Callable[[StepResult], None] = lambda _: None,
) -> list[StepResult]:
    """Bring the store to the last of `steps`, one step (one transaction) at a time, calling `progress`
    after each; NewerSchema when the store is newer than all of them."""
    current = steps[-1].version
    version = stored_version(store)
    if version > current:
        raise NewerSchema(
            f"the NB store is in schema version {version}, newer than this steerflow ({current})"
        )
    results = []
    for step in pending(version, steps):
        result = run_step(store, step, dry_run=dry_run)
        progress(result)
        results.append(result)
    return results
