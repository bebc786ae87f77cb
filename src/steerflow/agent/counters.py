"""Per-hop counters from the switch's own flow statistics, by cookie: no extra flow on the fast path.

Which flows count what (each packet passes exactly one counted flow per role, whichever chassis it is
on, so summing every chassis gives the datagrams sent through each object):

- a classifier: its CLASSIFY flows (CLASSIFIER cookie; one per source port and header, a packet meets
  one), on the chassis where the packet entered the chain;
- a hop: its SFC_DISPATCH flows (HOP cookie; one per ethertype for a tap), on the chassis that
  dispatches it: where it was classified or where the previous hop's function returned it. The
  SFC_BALANCE, SFC_ENCAP and SFC_RETURN flows the hop also owns are not counted (a packet meets
  several of them, or meets them on another chassis);
- an instance: its SFC_DELIVER flows (INSTANCE cookie) on the chassis hosting it, the one holding its
  tunnel arrival flow in INGRESS_PORT; elsewhere its SFC_DELIVER flow only tunnels packets to it;
- a chain: its exit flows in SFC_DISPATCH (CHAIN cookie): packets that went through every hop;
- fail-closed drops: a hop's SFC_DISPATCH flows (HOP cookie) that drop (no action, no goto). Until a
  hop can fail closed no such flow exists and the counter stays empty.

Symmetric chains count both directions together. `poll` reads four tables (cookie-masked where one
kind is wanted), so its cost grows with the chains' flows, not the whole pipeline.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.compiler.tables import CLASSIFY, INGRESS_PORT, SFC_DELIVER, SFC_DISPATCH
from steerflow.model import schema
from steerflow.nbdb.counters import Tally
from steerflow.pipeline.cookies import CookieKind, owners
from steerflow.southbound.ofcodec import FlowEntry
from steerflow.southbound.openflow import OpenFlowChannel

_KIND_SHIFT = 56
_KIND_MASK = 0xFF << _KIND_SHIFT
_INSTRUCTION = struct.Struct("!HH")
_OFPIT_WRITE_ACTIONS, _OFPIT_APPLY_ACTIONS = 3, 4
_EMPTY_ACTIONS_LEN = 8  # an actions instruction's own header and padding


@dataclass(frozen=True)
class Reading:
    """What one poll read: (role, cookie) -> [packets, bytes]."""

    counts: Mapping[tuple[str, int], tuple[int, int]]


async def poll(channel: OpenFlowChannel) -> Reading:
    """The counted flows' statistics, grouped by role and cookie."""
    classify = await channel.dump_flow_entries(CLASSIFY, **_kind(CookieKind.CLASSIFIER))
    dispatch = await channel.dump_flow_entries(SFC_DISPATCH)
    deliver = await channel.dump_flow_entries(SFC_DELIVER, **_kind(CookieKind.INSTANCE))
    arrivals = await channel.dump_flow_entries(INGRESS_PORT, **_kind(CookieKind.INSTANCE))
    return tally(classify, dispatch, deliver, {e.cookie for e in arrivals})


def _kind(kind: CookieKind) -> dict[str, int]:
    return {"cookie": int(kind) << _KIND_SHIFT, "cookie_mask": _KIND_MASK}


def tally(
    classify: Iterable[FlowEntry],
    dispatch: Iterable[FlowEntry],
    deliver: Iterable[FlowEntry],
    hosted: set[int],
) -> Reading:
    """Group flow statistics by (role, cookie); `hosted`: the instance cookies of local instances."""
    counts: dict[tuple[str, int], tuple[int, int]] = {}

    def add(role: str, entry: FlowEntry) -> None:
        packets, nbytes = counts.get((role, entry.cookie), (0, 0))
        counts[(role, entry.cookie)] = (packets + entry.packet_count, nbytes + entry.byte_count)

    for entry in classify:
        if entry.cookie >> _KIND_SHIFT == CookieKind.CLASSIFIER:
            add("classifiers", entry)
    for entry in dispatch:
        kind = entry.cookie >> _KIND_SHIFT
        if kind == CookieKind.HOP:
            add("drops" if drops(entry.instructions) else "hops", entry)
        elif kind == CookieKind.CHAIN:
            add("chains", entry)
    for entry in deliver:
        if entry.cookie in hosted:
            add("instances", entry)
    return Reading(counts)


def drops(instructions: bytes) -> bool:
    """Whether a flow's instructions do nothing (OpenFlow's drop): no action and no goto."""
    offset = 0
    while offset + _INSTRUCTION.size <= len(instructions):
        kind, length = _INSTRUCTION.unpack_from(instructions, offset)
        if kind not in (_OFPIT_APPLY_ACTIONS, _OFPIT_WRITE_ACTIONS) or length > _EMPTY_ACTIONS_LEN:
            return False
        offset += max(length, _INSTRUCTION.size)
    return True


@dataclass(frozen=True)
class Labelled:
    """One counter with the NB objects it belongs to (ids; "" where none applies)."""

    role: str
    object_id: str
    chain: str
    hop: str
    packets: int
    bytes: int


def by_object(reading: Reading, objects: Mapping[str, Mapping[str, Any]]) -> Tally:
    """The reading keyed by NB id (what `nbdb.counters` stores); cookies of objects gone are left out."""
    found = owners(objects, {ck for _, ck in reading.counts})
    out: Tally = {}
    for (role, ck), (packets, nbytes) in sorted(reading.counts.items()):
        own = found.get(ck)
        if own is not None:
            held = out.setdefault(role, {}).setdefault(own.id, [0, 0])
            held[0] += packets
            held[1] += nbytes
    return out


def labelled(tally_: Tally, objects: Mapping[str, Mapping[str, Any]]) -> list[Labelled]:
    """Each counter with its chain and hop (from the chains' documents), for metric labels."""
    chain_of, hop_of = _parents(objects)
    out = []
    for role, counters in sorted(tally_.items()):
        for oid, (packets, nbytes) in sorted(counters.items()):
            hop = hop_of.get(oid, "") if role == "instances" else oid if role in ("hops", "drops") else ""
            chain = oid if role == "chains" else chain_of.get(hop or oid, "")
            out.append(Labelled(role, oid, chain, hop, packets, nbytes))
    return out


def _parents(objects: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """(group or classifier id -> its chain's id, pair id -> its group's id)."""
    chain_of: dict[str, str] = {}
    for cid, chain in objects.get(schema.PORT_CHAIN, {}).items():
        for member in (*chain.get("port_pair_groups", ()), *chain.get("flow_classifiers", ())):
            chain_of[member] = cid
    hop_of = {
        pid: gid
        for gid, group in objects.get(schema.PORT_PAIR_GROUP, {}).items()
        for pid in group.get("port_pairs", ())
    }
    return chain_of, hop_of
