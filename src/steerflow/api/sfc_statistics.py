"""A port chain's statistics: its classifiers', hops' and instances' packets and bytes, over all chassis.

The agents' `chassis_counters` reports (`nbdb.counters`: what each counts and where) are summed over
the live chassis (`nbdb.status.chassis_liveness`): a chassis whose agent stopped drops out of the sums
once it is down, as it drops out of waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore
from steerflow.nbdb.counters import Tally, all_reports, summed
from steerflow.nbdb.status import chassis_liveness

RESOURCE = "port_chain_statistics"


def chain_statistics(store: NorthboundStore, chain: Mapping[str, Any]) -> JsonDict:
    """The statistics body of `chain` (a port chain as the API shows it)."""
    alive = {name for name, life in chassis_liveness(store).items() if life.alive}
    reports = [r for r in all_reports(store) if r.get(schema.CHASSIS) in alive]
    total = summed(reports)
    hops = [
        _hop(store, total, position, group_id)
        for position, group_id in enumerate(chain.get("port_pair_groups", ()), start=1)
    ]
    body: JsonDict = {
        "port_chain_id": chain["id"],
        schema.CHASSIS: sorted(str(r.get(schema.CHASSIS)) for r in reports),
        "flow_classifiers": _counted(total, "classifiers", chain.get("flow_classifiers", ()), "id"),
        "port_pair_groups": hops,
        "exited": _pair(total, "chains", str(chain["id"])),
    }
    return {RESOURCE: body}


def _hop(store: NorthboundStore, total: Tally, position: int, group_id: str) -> JsonDict:
    group = store.get(schema.PORT_PAIR_GROUP, group_id)
    pairs: Sequence[str] = group.value.get("port_pairs", ()) if group is not None else ()
    return {
        "id": group_id,
        "position": position,
        **_pair(total, "hops", group_id),
        "dropped": _pair(total, "drops", group_id),
        "port_pairs": _counted(total, "instances", pairs, "id"),
    }


def _counted(total: Tally, role: str, ids: Sequence[str], key: str) -> list[JsonDict]:
    return [{key: oid, **_pair(total, role, oid)} for oid in ids]


def _pair(total: Tally, role: str, oid: str) -> JsonDict:
    packets, nbytes = total.get(role, {}).get(oid, [0, 0])
    return {"packets": packets, "bytes": nbytes}
