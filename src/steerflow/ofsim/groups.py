"""Which buckets of a group a packet takes: all, indirect, fast-failover liveness, select by stable hash.

A select group picks by weighted rendezvous hashing over the group's `selection_fields`: each live bucket
scores `-ln(u) / weight` with `u` a hash of (fields, bucket id) in (0, 1), and the lowest score wins. So
the same fields always pick the same bucket (stickiness), buckets win in proportion to their weights,
and adding or removing a bucket only moves the flows that bucket wins or loses. OVS's own hash differs
(its choice cannot be reproduced bit for bit), but it has the same three properties.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable

from steerflow.flows.types import Bucket, Group
from steerflow.ofsim import fields as fd
from steerflow.ofsim.packet import Packet

# OVS's default selection (no fields given) hashes the symmetric L4 tuple: both directions of a
# connection pick the same bucket.
_SYMMETRIC_PAIRS = (("eth_src", "eth_dst"), ("ipv4_src", "ipv4_dst"), ("ipv6_src", "ipv6_dst"))
_SYMMETRIC_PORTS = (("tcp_src", "tcp_dst"), ("udp_src", "udp_dst"), ("sctp_src", "sctp_dst"))
_SYMMETRIC_SINGLE = ("eth_type", "vlan_vid", "ip_proto")


def bucket_id(group: Group, index: int) -> int:
    """A bucket's id: its explicit `bucket_id`, else its position (as OVS numbers them)."""
    explicit = group.buckets[index].bucket_id
    return index if explicit is None else explicit


def is_live(bucket: Bucket, down_ports: Collection[int]) -> bool:
    return bucket.watch_port is None or bucket.watch_port not in down_ports


def chosen_buckets(group: Group, packet: Packet, down_ports: Collection[int]) -> list[int]:
    """Indexes of the buckets this packet runs through (empty: dropped by the group)."""
    if group.type == "all":
        return list(range(len(group.buckets)))
    if group.type == "indirect":
        return [0]
    if group.type == "ff":
        live = (i for i, b in enumerate(group.buckets) if is_live(b, down_ports))
        return [index] if (index := next(live, None)) is not None else []
    choice = select(group, packet, down_ports)
    return [] if choice is None else [choice]


def select(group: Group, packet: Packet, down_ports: Collection[int] = ()) -> int | None:
    """The bucket index a select group picks for `packet` (None: no live bucket of positive weight)."""
    key = selection_key(group.selection_fields, packet)
    best: tuple[float, int] | None = None
    for index, bucket in enumerate(group.buckets):
        if bucket.weight <= 0 or not is_live(bucket, down_ports):
            continue
        score = _score(key, bucket_id(group, index), bucket.weight)
        if best is None or score < best[0]:
            best = (score, index)
    return None if best is None else best[1]


def _score(key: bytes, bid: int, weight: int) -> float:
    digest = hashlib.blake2b(key + bid.to_bytes(4, "big"), digest_size=8).digest()
    unit = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)  # in (0, 1), never 0 or 1
    return -math.log(unit) / weight


def selection_key(selection_fields: Iterable[str], packet: Packet) -> bytes:
    """The bytes hashed: each field ("name" or "name=mask") whose prerequisites the packet meets."""
    names = tuple(selection_fields)
    if not names:
        return _symmetric_key(packet)
    parts = []
    for entry in names:
        name, _, mask_text = entry.partition("=")
        spec = fd.spec(name)
        if not packet.satisfies(spec):
            continue
        mask = fd.mask_to_int(spec, mask_text) if mask_text else spec.full_mask
        parts.append(f"{spec.name}={packet.raw(spec) & mask:x}")
    return ";".join(parts).encode()


def _symmetric_key(packet: Packet) -> bytes:
    parts = [f"{n}={_visible(packet, n):x}" for n in _SYMMETRIC_SINGLE]
    for a, b in _SYMMETRIC_PAIRS + _SYMMETRIC_PORTS:
        low, high = sorted((_visible(packet, a), _visible(packet, b)))
        parts.append(f"{a}|{b}={low:x},{high:x}")
    return ";".join(parts).encode()


def _visible(packet: Packet, name: str) -> int:
    spec = fd.SPECS[name]
    return packet.raw(spec) if packet.satisfies(spec) else 0
