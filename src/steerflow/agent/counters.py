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
kind is wanted), so its cost grows with the chains' flows, not the whole pipeline; it sums each reply
message as it arrives, and `poll_interval` spaces the polls out as the counted flows grow.
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
from steerflow.southbound.ofcodec import FlowEntry, flow_counts
from steerflow.southbound.openflow import OpenFlowChannel

_KIND_SHIFT = 56
_KIND_MASK = 0xFF << _KIND_SHIFT
_INSTRUCTION = struct.Struct("!HH")
_OFPIT_WRITE_ACTIONS, _OFPIT_APPLY_ACTIONS = 3, 4
_EMPTY_ACTIONS_LEN = 8  # an actions instruction's own header and padding


# Counted flows read per second at most, on average: a chassis counting more than this many flows per
# `--stats-interval` polls less often, so the switch and the agent spend about the same on statistics
# however many chains classify there (each flow costs the switch a few us to dump and us one to sum).
FLOWS_PER_SECOND = 10_000
# A request dumps at most about this many flows: the switch answers a connection's messages in order, so
# a flow-mod sent during a dump waits for it (a dump of ~170,000 flows held a chain's install ~220 ms).
# A bigger poll is cut into slices by the cookie's object bits, each its own request.
FLOWS_PER_REQUEST = 10_000
_SLICE_SHIFT = 52  # the top bits of a cookie's object bits: random in a UUID4 id, so slices are even
_MAX_SLICE_BITS = 4


@dataclass(frozen=True)
class Reading:
    """What one poll read: (role, cookie) -> [packets, bytes], and how many flows it read."""

    counts: Mapping[tuple[str, int], tuple[int, int]]
    flows: int = 0


_ROLES = {"classifiers": 0, "hops": 1, "drops": 2, "chains": 3, "instances": 4}
_PACKED = struct.Struct("!BQQQ")  # role, cookie, packets, bytes


def packed(reading: Reading) -> bytes:
    """The counts as bytes, equal exactly when the counts are: what to keep to tell whether the next
    poll moved (~25 bytes per counter where the dict costs ~180)."""
    pack, roles = _PACKED.pack, _ROLES
    return b"".join(pack(roles[role], ck, p, b) for (role, ck), (p, b) in sorted(reading.counts.items()))


def poll_interval(configured: float, flows: int) -> float:
    """Seconds until the next poll after one that read `flows` flows: `configured`, or longer when so
    many flows are counted that reading them every `configured` seconds would keep the switch busy."""
    return max(configured, flows / FLOWS_PER_SECOND)


def slice_bits(flows: int) -> int:
    """How many of the cookie's object bits cut a poll into requests, for a poll expected to read
    `flows` flows (the last one's): 2**bits requests per table of about FLOWS_PER_REQUEST flows."""
    bits = 0
    while bits < _MAX_SLICE_BITS and flows > FLOWS_PER_REQUEST << bits:
        bits += 1
    return bits


async def poll(channel: OpenFlowChannel, bits: int = 0) -> Reading:
    """The counted flows' statistics, grouped by role and cookie, summed as each reply message arrives
    (the dump of a table is never held: a poll costs the memory of its sums); each table in 2**`bits`
    requests (`slice_bits`), so a flow-mod waits for one slice, not a whole dump."""
    counting = Counting()
    for sink, table, kind in (
        (counting.arrivals, INGRESS_PORT, CookieKind.INSTANCE),  # hosted instances before deliveries
        (counting.classify, CLASSIFY, CookieKind.CLASSIFIER),
        (counting.dispatch, SFC_DISPATCH, None),
        (counting.deliver, SFC_DELIVER, CookieKind.INSTANCE),
    ):
        for part in range(1 << bits):
            await channel.stream_flow_stats(sink, table, **slice_selector(kind, part, bits))
    return counting.reading()


def slice_selector(kind: CookieKind | None, part: int, bits: int) -> dict[str, int]:
    """The cookie and mask of slice `part` of 2**`bits` of the flows of `kind` (None: any kind)."""
    cookie = part << (_SLICE_SHIFT + _MAX_SLICE_BITS - bits) if bits else 0
    mask = ((1 << bits) - 1) << (_SLICE_SHIFT + _MAX_SLICE_BITS - bits)
    if kind is not None:
        cookie, mask = cookie | int(kind) << _KIND_SHIFT, mask | _KIND_MASK
    return {"cookie": cookie, "cookie_mask": mask}


class Counting:
    """One poll's sums, fed flow by flow (`classified`, ...) or one reply body at a time (`classify`,
    ...). The instances hosted here (their arrival flows) must be fed before their deliveries."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], tuple[int, int]] = {}
        self.hosted: set[int] = set()  # the instance cookies of local instances
        self.flows = 0

    def reading(self) -> Reading:
        return Reading(self.counts, self.flows)

    def add(self, role: str, ck: int, packets: int, nbytes: int) -> None:
        held = self.counts.get((role, ck))
        self.counts[(role, ck)] = (packets, nbytes) if held is None else (held[0] + packets, held[1] + nbytes)

    def classified(self, ck: int, packets: int, nbytes: int) -> None:
        self.flows += 1
        if ck >> _KIND_SHIFT == CookieKind.CLASSIFIER:
            self.add("classifiers", ck, packets, nbytes)

    def dispatched(self, ck: int, packets: int, nbytes: int, instructions: bytes | memoryview) -> None:
        self.flows += 1
        kind = ck >> _KIND_SHIFT
        if kind == CookieKind.HOP:
            self.add("drops" if drops(instructions) else "hops", ck, packets, nbytes)
        elif kind == CookieKind.CHAIN:
            self.add("chains", ck, packets, nbytes)

    def delivered(self, ck: int, packets: int, nbytes: int) -> None:
        self.flows += 1
        if ck in self.hosted:
            self.add("instances", ck, packets, nbytes)

    def arrivals(self, body: memoryview) -> None:
        for ck, *_ in flow_counts(body):
            self.flows += 1
            self.hosted.add(ck)

    def classify(self, body: memoryview) -> None:
        for ck, packets, nbytes, _, _ in flow_counts(body):
            self.classified(ck, packets, nbytes)

    def dispatch(self, body: memoryview) -> None:
        for ck, packets, nbytes, start, end in flow_counts(body):
            self.dispatched(ck, packets, nbytes, body[start:end])

    def deliver(self, body: memoryview) -> None:
        for ck, packets, nbytes, _, _ in flow_counts(body):
            self.delivered(ck, packets, nbytes)


def tally(
    classify: Iterable[FlowEntry],
    dispatch: Iterable[FlowEntry],
    deliver: Iterable[FlowEntry],
    hosted: set[int],
) -> Reading:
    """Group flow statistics by (role, cookie); `hosted`: the instance cookies of local instances."""
    counting = Counting()
    counting.hosted |= hosted
    for entry in classify:
        counting.classified(entry.cookie, entry.packet_count, entry.byte_count)
    for entry in dispatch:
        counting.dispatched(entry.cookie, entry.packet_count, entry.byte_count, entry.instructions)
    for entry in deliver:
        counting.delivered(entry.cookie, entry.packet_count, entry.byte_count)
    return counting.reading()


def drops(instructions: bytes | memoryview) -> bool:
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
