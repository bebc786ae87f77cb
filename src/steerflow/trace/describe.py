"""A walk in the model's terms: per pass the NB objects whose flows matched, the load balancing
choices, the headers the packet carried out, the tunnels and deliveries; as JSON-able dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.flows.types import Group, Multipath
from steerflow.model import schema
from steerflow.ofsim import Packet
from steerflow.ofsim.groups import selection_key
from steerflow.ofsim.multipath import choose_link, flow_hash
from steerflow.ofsim.trace import Trace
from steerflow.pipeline.cookies import Owner, owners
from steerflow.pipeline.tables import BY_ID
from steerflow.trace.fabric import Docs, Fabric, Leg, Step, Walk

JsonDict = dict[str, Any]
ASSUMPTION = "functions are assumed to forward what they get (an aware one with its header, as it came)"


def describe(walk: Walk, fabric: Fabric) -> JsonDict:
    """The whole walk as a tree: {"assumption", "truncated", "path": step, "functions", "deliveries"}."""
    context = _Context(fabric.docs, {c: s.groups for c, s in fabric.switches.items()}, {})
    cookies = {c for s in walk.steps() for c in s.trace.cookies}
    context.names.update(owners(fabric.docs, cookies))
    return {
        "assumption": ASSUMPTION,
        "truncated": walk.truncated,
        "path": _step(walk.first, context),
        "functions": list(walk.functions()),
        "taps": [leg.target for s in walk.steps() for leg in s.legs if leg.kind == "tap"],
        "deliveries": [
            {"on": chassis, "to_port": leg.target, "ofport": leg.port} for chassis, leg in walk.deliveries()
        ],
    }


def object_ref(docs: Docs, kind: str, oid: str) -> JsonDict:
    """{"kind", "id", "name"} of an NB object (name "" when it has none)."""
    doc = docs.get(kind, {}).get(oid, {})
    return {"kind": kind, "id": oid, "name": str(doc.get("name") or "")}


@dataclass(frozen=True)
class _Context:
    docs: Docs
    groups: Mapping[str, Mapping[int, Group]]  # chassis -> its switch's groups
    names: dict[int, Owner | None]  # cookie -> its NB object


def _step(step: Step, ctx: _Context) -> JsonDict:
    return {
        "on": step.chassis,
        "came_from": step.came_from,
        "packet": str(step.packet),
        "matched": _matched(step.trace, ctx),
        "choices": _choices(step, ctx.groups.get(step.chassis, {})),
        "warnings": list(step.trace.warnings),
        "outputs": [_leg(leg, ctx) for leg in step.legs],
    }


def _matched(trace: Trace, ctx: _Context) -> list[JsonDict]:
    """The NB objects of the flows that matched, in lookup order, one entry per run of the same object."""
    found: list[JsonDict] = []
    for hop in trace.hops:
        if hop.flow is None:
            continue
        owner = ctx.names.get(hop.flow.cookie)
        table = BY_ID.get(hop.table)
        entry: JsonDict = {
            "table": table.name if table else str(hop.table),
            "cookie": f"{hop.flow.cookie:#x}",
            "role": owner.cookie_kind.name.lower() if owner else "infra",
            "object": object_ref(ctx.docs, owner.kind, owner.id) if owner else None,
        }
        if found and found[-1]["object"] == entry["object"] and found[-1]["role"] == entry["role"]:
            if found[-1]["tables"][-1] != entry["table"]:  # a resubmit back into the same table
                found[-1]["tables"].append(entry["table"])
            continue
        entry["tables"] = [entry.pop("table")]
        found.append(entry)
    return [e for e in found if e["object"] is not None]


def _choices(step: Step, switch_groups: Mapping[int, Group]) -> list[JsonDict]:
    """Each balancing pick, multipath or select group: the fields hashed, the hash and the slot or
    bucket it chose (the instance shows in what follows)."""
    return [*_multipaths(step.trace), *_selects(step, switch_groups)]


def _multipaths(trace: Trace) -> list[JsonDict]:
    found = []
    for hop in trace.hops:
        actions = hop.flow.actions if hop.flow is not None else ()
        for action in actions:
            if not isinstance(action, Multipath):
                continue
            hashed = flow_hash(action.fields, action.basis, hop.packet)
            slot = choose_link(hashed, action.algorithm, action.n_links, action.arg)
            found.append({
                "action": str(action), "fields": [action.fields], "hash": f"{hashed:#010x}",
                "chosen": slot, "of": action.n_links, "algorithm": action.algorithm,
            })  # fmt: skip
    return found


def _selects(step: Step, switch_groups: Mapping[int, Group]) -> list[JsonDict]:
    choices = []
    for choice in step.trace.choices:
        group = switch_groups.get(choice.group_id)
        if group is None or group.type != "select":
            continue
        packet = _packet_at_group(step.trace, choice.group_id)
        key = selection_key(group.selection_fields, packet).decode()
        choices.append({
            "action": f"group:{choice.group_id}",
            "fields": list(group.selection_fields) or ["symmetric L4 tuple (OVS's default)"],
            "hash": key,
            "chosen": choice.bucket,
            "of": len(group.buckets),
            "algorithm": "select group (bucket)",
        })  # fmt: skip
    return choices


def _packet_at_group(trace: Trace, group_id: int) -> Packet:
    """The packet as the action `group:N` ran on it: the last lookup's packet before the group."""
    for hop in trace.hops:
        if hop.flow is not None and any(f"group:{group_id}" == str(a) for a in hop.flow.actions):
            return hop.packet
    return trace.packet


def _leg(leg: Leg, ctx: _Context) -> JsonDict:
    docs = ctx.docs
    out: JsonDict = {"kind": leg.kind, "ofport": leg.port, "header": header(leg.packet)}
    if leg.kind == "tunnel":
        out["to"] = leg.target
        out["vni"] = leg.packet.get("tunnel_id")
    elif leg.kind in ("function", "tap"):
        out["function"] = object_ref(docs, schema.PORT_PAIR, leg.target)
        out["entered_by"] = leg.side
    elif leg.kind == "delivery":
        out["to_port"] = object_ref(docs, schema.PORT, leg.target)
        out["packet"] = str(leg.packet)
    if leg.next is not None:
        out["next"] = _step(leg.next, ctx)
    return out


def header(packet: Packet) -> JsonDict | None:
    """The service header a packet carries: MPLS labels, or NSH SPI/SI and metadata; None if plain."""
    if packet.mpls:
        return {"mpls": [lse.label for lse in packet.mpls]}
    nsh = packet.nsh
    if nsh is None:
        return None
    found: JsonDict = {"nsh": {"spi": nsh.spi, "si": nsh.si, "md_type": nsh.md_type}}
    if nsh.md_type == 1:
        found["nsh"]["context"] = [nsh.c1, nsh.c2, nsh.c3, nsh.c4]
    else:
        found["nsh"]["tlvs"] = [str(t) for t in nsh.tlvs]
    return found
