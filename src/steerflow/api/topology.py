"""The service topology as the web view (/ui) draws it: chassis, VMs, instances, chains, one snapshot.

Read-only and project-scoped like every list: a member sees the objects of their project only, and no
chassis (chassis are admin-only in the API, so a member's nodes carry no chassis and cross no tunnel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from steerflow.api.base import visible_objects
from steerflow.api.context import Context
from steerflow.api.traffic import TrafficRates, rounded, totals
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore, Record
from steerflow.nbdb.counters import summed, with_older
from steerflow.nbdb.health import check_settings, is_healthy
from steerflow.nbdb.status import Liveness, chassis_liveness, down_after_seconds, liveness_of
from steerflow.nbdb.txn import Snapshot

NSH_SI_START = 255  # NSH: SI = 255 - hop index (compiler.encap.nsh)
# kinds whose change changes the picture (not the status kinds: counters move every second)
DRAWN_KINDS = (
    schema.PORT, schema.PORT_PAIR, schema.PORT_PAIR_GROUP, schema.PORT_CHAIN, schema.FLOW_CLASSIFIER,
    schema.SERVICE_GRAPH, schema.CHASSIS, schema.PORT_BINDING, schema.FUNCTION_HEALTH,
)  # fmt: skip


def read_snapshot(store: NorthboundStore) -> tuple[Snapshot, list[Record]]:
    """Every NB document, as one consistent snapshot, and its records."""
    revision, records = store.snapshot()
    objects: dict[str, dict[str, JsonDict]] = {}
    for record in records:
        objects.setdefault(record.kind, {})[record.id] = record.value
    return Snapshot(revision, objects), records


def fingerprint(records: Sequence[Record]) -> str:
    """Changes whenever a drawn object is written or deleted, not when only counters or heartbeats move."""
    drawn = [r for r in records if r.kind in DRAWN_KINDS]
    return f"{max((r.mod_revision for r in drawn), default=0)}-{len(drawn)}"


def topology(store: NorthboundStore, ctx: Context) -> JsonDict:
    """The picture's objects as `ctx` may see them (GET /v2.0/steerflow/topology)."""
    snap, records = read_snapshot(store)
    lives = chassis_liveness(store) if ctx.is_admin else {}
    return {
        "topology": {
            "fingerprint": fingerprint(records),
            schema.CHASSIS: [_chassis(name, snap, life) for name, life in sorted(lives.items())],
            **_sfc_objects(ctx, snap),
        }
    }


def _sfc_objects(ctx: Context, snap: Snapshot) -> JsonDict:
    pairs = visible_objects(ctx, snap, schema.PORT_PAIR)
    groups = visible_objects(ctx, snap, schema.PORT_PAIR_GROUP)
    health = snap.of(schema.FUNCTION_HEALTH)
    bindings = snap.of(schema.PORT_BINDING) if ctx.is_admin else {}
    function_ports = {p.get(end) for p in pairs.values() for end in ("ingress", "egress")}
    ports = visible_objects(ctx, snap, schema.PORT)
    return {
        "ports": [_port(p, bindings, p["id"] in function_ports) for p in ports.values()],
        "port_pairs": [_pair(p, bindings, health) for p in pairs.values()],
        "port_pair_groups": [_group(g, pairs, health) for g in groups.values()],
        "flow_classifiers": [
            _classifier(c) for c in visible_objects(ctx, snap, schema.FLOW_CLASSIFIER).values()
        ],
        "port_chains": [_chain(c, groups) for c in visible_objects(ctx, snap, schema.PORT_CHAIN).values()],
        "service_graphs": [
            {"id": g["id"], "name": g.get("name", ""), "port_chains": g.get("port_chains", {})}
            for g in visible_objects(ctx, snap, schema.SERVICE_GRAPH).values()
        ],
    }


def _chassis(name: str, snap: Snapshot, life: Liveness) -> JsonDict:
    doc = snap.of(schema.CHASSIS).get(name, {})
    return {
        "name": name,
        "alive": life.alive,
        "heartbeat_age": life.age,
        "underlay_ip": doc.get("underlay_ip"),
    }


def _port(port: Mapping[str, Any], bindings: Docs, is_function: bool) -> JsonDict:
    ips = [str(ip.get("ip_address")) for ip in port.get("fixed_ips", ())]
    return {
        "id": port["id"],
        "name": port.get("name", ""),
        "network_id": port.get("network_id"),
        "ips": ips,
        "role": "function" if is_function else "vm",
        schema.CHASSIS: bindings.get(port["id"], {}).get(schema.CHASSIS),
    }


Docs = Mapping[str, JsonDict]


def _pair(pair: Mapping[str, Any], bindings: Docs, health: Docs) -> JsonDict:
    params = pair.get("service_function_parameters") or {}
    return {
        "id": pair["id"],
        "name": pair.get("name", ""),
        "ingress": pair.get("ingress"),
        "egress": pair.get("egress"),
        "weight": params.get("weight", 1),
        "correlation": params.get("correlation"),
        schema.CHASSIS: bindings.get(str(pair.get("ingress")), {}).get(schema.CHASSIS),
        "healthy": is_healthy(health.get(pair["id"])),
    }


def _group(group: Mapping[str, Any], pairs: Docs, health: Docs) -> JsonDict:
    params = group.get("port_pair_group_parameters") or {}
    members = [p for p in group.get("port_pairs", ()) if p in pairs]
    checked = check_settings(group) is not None
    all_failed = checked and bool(members) and not any(is_healthy(health.get(p)) for p in members)
    fail_mode = str(params.get("fail_mode") or "open")
    return {
        "id": group["id"],
        "name": group.get("name", ""),
        "port_pairs": members,
        "tap": bool(group.get("tap_enabled")),
        "health_check": checked,
        "fail_mode": fail_mode,
        # every instance failed its check: the hop is skipped (open) or drops (closed)
        "bypassed": all_failed and fail_mode == "open",
        "dropping": all_failed and fail_mode == "closed",
    }


def _classifier(fc: Mapping[str, Any]) -> JsonDict:
    keys = (
        "protocol", "ethertype", "source_ip_prefix", "destination_ip_prefix", "source_port_range_min",
        "source_port_range_max", "destination_port_range_min", "destination_port_range_max",
        "logical_source_port", "logical_destination_port",
    )  # fmt: skip
    return {"id": fc["id"], "name": fc.get("name", ""), **{k: fc.get(k) for k in keys}}


def _chain(chain: Mapping[str, Any], groups: Mapping[str, JsonDict]) -> JsonDict:
    params = chain.get("chain_parameters") or {}
    correlation = params.get("correlation") or "mpls"
    hops = [g for g in chain.get("port_pair_groups", ()) if g in groups]
    return {
        "id": chain["id"],
        "name": chain.get("name", ""),
        "chain_id": chain.get("chain_id"),
        "correlation": correlation,
        "symmetric": bool(params.get("symmetric")),
        "port_pair_groups": hops,
        "flow_classifiers": list(chain.get("flow_classifiers", ())),
        "headers": _headers(chain, correlation, hops),
    }


def _headers(chain: Mapping[str, Any], correlation: str, hops: Sequence[str]) -> list[str]:
    """The service header each hop's packets carry: an MPLS label, or NSH SPI/SI."""
    if correlation == "nsh":
        return [f"SPI {chain.get('chain_id')} SI {NSH_SI_START - index}" for index in range(len(hops))]
    labels = chain.get(schema.HOP_LABELS) or {}
    return [f"label {labels[g]}" if g in labels else correlation for g in hops]


def live_state(store: NorthboundStore, traffic: TrafficRates, now: float) -> JsonDict:
    """What changes every second, for every caller (`visible_live` filters it): the drawn objects'
    fingerprint, chassis liveness, instance health, traffic rates and chain counters."""
    snap, records = read_snapshot(store)
    # beats are no NB object (no revision, no event): read at every tick, a silent chassis shows down
    lives = liveness_of(
        snap.of(schema.CHASSIS), snap.of(schema.CHASSIS_STATUS), store.beats(), now, down_after_seconds()
    )
    alive = {name: life.alive for name, life in lives.items()}
    # counters are no NB object either (`nbdb.counters`): an older agent's document still counts
    reports = with_older(store.side(schema.CHASSIS_COUNTERS), snap.of(schema.CHASSIS_COUNTERS))
    rates = traffic.update(reports, [n for n, up in alive.items() if up], now)
    counted = summed(r for r in reports if alive.get(str(r.get(schema.CHASSIS))))
    return {
        "at": now,
        "fingerprint": fingerprint(records),
        schema.CHASSIS: alive,
        "health": {pid: is_healthy(doc) for pid, doc in snap.of(schema.FUNCTION_HEALTH).items()},
        "rates": rounded(rates),
        "totals": totals(counted),
    }


def visible_ids(body: Mapping[str, Any]) -> set[str]:
    """The ids of a topology body (what a caller may hear about in the live state)."""
    picture = body["topology"]
    kinds = ("ports", "port_pairs", "port_pair_groups", "flow_classifiers", "port_chains")
    return {str(obj["id"]) for kind in kinds for obj in picture[kind]}


def visible_live(state: Mapping[str, Any], ids: set[str] | None) -> JsonDict:
    """`state` restricted to `ids` (None: an admin, who sees it all; others see no chassis)."""
    if ids is None:
        return dict(state)

    def only(by_id: Mapping[str, Any]) -> JsonDict:
        return {k: v for k, v in by_id.items() if k in ids}

    return {
        **state,
        schema.CHASSIS: {},
        "health": only(state["health"]),
        "rates": {role: only(by_id) for role, by_id in state["rates"].items()},
        "totals": {role: only(by_id) for role, by_id in state["totals"].items()},
    }
