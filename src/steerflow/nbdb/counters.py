"""Per-hop counters: each agent's report of its switch's packets and bytes per chain object, summed.

Everything about the `chassis_counters` reports lives here. An agent (`agent.counters`) reads its flows'
statistics by cookie and writes one report per chassis, only when a counter moved and at most once per
poll interval, into the store's side map `chassis_counters` (`NorthboundStore.put_side`): no revision, no
watch event, so no agent decodes another's report (~1 MB on a classifying chassis of 10,000 chains);
only the API reads them, on request. Older agents committed their report as a `chassis_counters`
document (a status kind, `nbdb.status.STATUS_KINDS`): still read for a chassis with no side entry yet.
A report holds, per role, NB id -> [packets, bytes]:

- `classifiers`: packets a flow classifier took into its chain (both directions of a symmetric chain);
- `hops`: packets dispatched to a hop (a port pair group), counted on the chassis that dispatched them;
- `instances`: packets delivered to a function instance (a port pair), on the chassis that hosts it;
- `chains`: packets that left a chain after its last hop;
- `drops`: packets a hop dropped because it failed closed (none until a hop can fail closed).

A packet tunnelled between chassis is counted once per hop and once per delivery, whichever chassis
did what. Counters are the switch's: they restart when an agent's flows are reinstalled.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import Delete, JsonDict, NorthboundStore

ROLES = ("classifiers", "hops", "instances", "chains", "drops")
Tally = dict[str, dict[str, list[int]]]  # role -> NB id -> [packets, bytes]


def report_counters(store: NorthboundStore, chassis: str, tally: Tally) -> None:
    """Write `chassis`' counters (only its own agent writes its report: no transaction needed)."""
    doc: JsonDict = {"id": chassis, schema.CHASSIS: chassis, "reported_at": time.time()}
    doc.update({role: {k: list(v) for k, v in tally.get(role, {}).items()} for role in ROLES})
    store.put_side(schema.CHASSIS_COUNTERS, chassis, doc)


def drop_older_document(store: NorthboundStore, chassis: str) -> None:
    """Delete the counters document `chassis`' agent committed before side maps, if any: once that
    chassis reports anew nobody reads it, and it would weigh on every snapshot (~1 MB)."""
    if store.get(schema.CHASSIS_COUNTERS, chassis) is not None:
        store.commit([Delete(schema.CHASSIS_COUNTERS, chassis)])


def summed(reports: Iterable[Mapping[str, Any]], chassis: Iterable[str] | None = None) -> Tally:
    """The counters of `reports` (chassis_counters reports) added up; `chassis`: only those chassis'
    reports (None: all)."""
    wanted = None if chassis is None else set(chassis)
    total: Tally = {role: {} for role in ROLES}
    for report in reports:
        if wanted is not None and report.get(schema.CHASSIS) not in wanted:
            continue
        for role in ROLES:
            for oid, (packets, nbytes) in report.get(role, {}).items():
                held = total[role].setdefault(oid, [0, 0])
                held[0] += int(packets)
                held[1] += int(nbytes)
    return total


def all_reports(store: NorthboundStore) -> list[JsonDict]:
    older = {r.id: r.value for r in store.list(schema.CHASSIS_COUNTERS)}
    return with_older(store.side(schema.CHASSIS_COUNTERS), older)


def with_older(reports: Mapping[str, JsonDict], older: Mapping[str, JsonDict]) -> list[JsonDict]:
    """The side map's `reports`, and the `older` documents (an older agent's) of the chassis it lacks."""
    return [*reports.values(), *(doc for chassis, doc in older.items() if chassis not in reports)]


def forget_counters(store: NorthboundStore, chassis: str) -> None:
    """Drop `chassis`' report (its document, if an older agent wrote one, goes in the delete's commit)."""
    store.put_side(schema.CHASSIS_COUNTERS, chassis, None)
