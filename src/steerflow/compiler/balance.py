"""Load balancing a hop over its instances: hash fields from lb_fields, balance slots owned by weight.

A hop with several instances is dispatched in two steps. SFC_DISPATCH runs Nicira `multipath` on the
plain packet: ovs-vswitchd hashes the hop's field set (from the group's `lb_fields`) and picks one of
`SLOTS` slots by highest random weight into reg9; SFC_BALANCE maps the slot to the instance that owns
it (reg4). The number of slots never changes, so a flow's slot is a function of its headers alone, and
its instance changes only when its slot changes owner. Each instance owns slots in proportion to its
weight (never none), and ownership is decided per slot by rendezvous hashing over the instances, so a
membership or weight change hands over few slots (docs/balance.md has the numbers).

Function health (docs/health.md): the slots are owned over the whole membership, healthy or not, and
only a failed instance's slots are handed, by the same rendezvous ranks, to the healthy ones, so the
flows of healthy instances never move when another one fails or comes back. A hop with no healthy
instance is skipped (`fail_mode` open: straight to the next label) or drops (closed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from functools import lru_cache

from steerflow.compiler.chain_view import FAIL_CLOSED, Hop
from steerflow.compiler.tables import SFC_BALANCE, SFC_DISPATCH, SFC_ENCAP
from steerflow.flows.types import Flow, Match, Multipath, Resubmit, SetField
from steerflow.pipeline import registers as reg
from steerflow.pipeline.cookies import CookieKind, cookie

SLOTS = 64  # OVS computes hrw up to 64 links (iter_hash beyond, which reshuffles more)
SLOT_BITS = 16  # reg9[0..15]
DISPATCH_PRIORITY = 100
BALANCE_PRIORITY = 100

# multipath field sets, in order of preference: a hop hashes on the first one that covers its lb_fields
COVERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("eth_src", frozenset({"eth_src"})),
    ("nw_src", frozenset({"ip_src"})),
    ("nw_dst", frozenset({"ip_dst"})),
    ("symmetric_l3", frozenset({"ip_src", "ip_dst"})),
    ("symmetric_l3l4+udp", frozenset({"ip_src", "ip_dst", "tcp_src", "tcp_dst", "udp_src", "udp_dst"})),
    ("symmetric_l4", frozenset({"eth_src", "eth_dst", "ip_src", "ip_dst", "tcp_src", "tcp_dst"})),
)
DEFAULT_FIELDS = "symmetric_l3l4+udp"  # no lb_fields: the 5-tuple, both directions alike
SYMMETRIC_FIELDS = frozenset({"symmetric_l4", "symmetric_l3l4", "symmetric_l3l4+udp", "symmetric_l3"})


def hash_fields(lb_fields: Iterable[str], symmetric: bool = False) -> str:
    """The multipath field set for a group's lb_fields: the first in COVERS that hashes all of them
    (and, for a symmetric chain, gives both directions the same hash). No set hashes MAC addresses and
    UDP ports together: those get the default, which leaves the MACs out."""
    wanted = frozenset(lb_fields)
    if not wanted:
        return DEFAULT_FIELDS
    for name, covered in COVERS:
        if wanted <= covered and (not symmetric or name in SYMMETRIC_FIELDS):
            return name
    return DEFAULT_FIELDS


def unhashed(lb_fields: Iterable[str], fields: str) -> frozenset[str]:
    """The lb_fields that the multipath field set `fields` does not hash (empty but for MACs + UDP)."""
    return frozenset(lb_fields) - dict(COVERS).get(fields, frozenset())


def slot_count(instances: int) -> int:
    """SLOTS, or one per instance if there are more (every instance needs a slot)."""
    return max(SLOTS, instances)


def slot_quotas(weights: Sequence[int], slots: int = SLOTS) -> tuple[int, ...]:
    """How many of `slots` each weight gets: proportional (largest remainder), at least one each."""
    if not weights or any(w <= 0 for w in weights) or slots < len(weights):
        raise ValueError(f"cannot share {slots} slots among weights {list(weights)}")
    total = sum(weights)
    ideal = [Fraction(slots * w, total) for w in weights]
    quotas = [max(1, int(share)) for share in ideal]
    order = range(len(weights))
    while sum(quotas) < slots:  # the largest remainders first; the lower index wins a tie
        i = max(order, key=lambda k: (ideal[k] - quotas[k], -k))
        quotas[i] += 1
    while sum(quotas) > slots:  # only after minimum bumps: take from the most over-served
        i = min((k for k in order if quotas[k] > 1), key=lambda k: (ideal[k] - quotas[k], k))
        quotas[i] -= 1
    return tuple(quotas)


@lru_cache(maxsize=4096)
def slot_owners(ids: tuple[str, ...], weights: tuple[int, ...]) -> tuple[int, ...]:
    """Per slot, the index (into `ids`) of the instance that owns it.

    Every (slot, instance) pair has a rank from a hash of both; pairs are granted best rank first,
    while the slot is free and the instance under its quota. A slot's owner depends on the instances'
    ids, not their positions, so a changed membership leaves most slots where they were."""
    slots = slot_count(len(ids))
    left = list(slot_quotas(weights, slots))
    ranked = sorted(
        ((_rank(slot, pid), slot, i) for slot in range(slots) for i, pid in enumerate(ids)), reverse=True
    )
    owners: dict[int, int] = {}
    for _, slot, i in ranked:
        if slot not in owners and left[i] > 0:
            owners[slot] = i
            left[i] -= 1
    return tuple(owners[slot] for slot in range(slots))


def healthy_owners(
    ids: tuple[str, ...], weights: tuple[int, ...], healthy: tuple[bool, ...]
) -> tuple[int, ...]:
    """`slot_owners` with the slots of unhealthy instances handed to healthy ones (at least one).

    Slots of healthy instances keep their owner; the failed ones' slots are shared by the healthy
    instances' weights, granted best rendezvous rank first, so which instance takes over a slot does not
    depend on the order of the ids."""
    owners = list(slot_owners(ids, weights))
    alive = [i for i, ok in enumerate(healthy) if ok]
    if not alive:
        raise ValueError("no healthy instance to own the slots")
    orphans = [slot for slot, owner in enumerate(owners) if not healthy[owner]]
    if not orphans:
        return tuple(owners)
    if len(orphans) >= len(alive):
        left = dict(zip(alive, slot_quotas([weights[i] for i in alive], len(orphans)), strict=True))
    else:  # fewer orphans than heirs: at most one each
        left = dict.fromkeys(alive, 1)
    ranked = sorted(((_rank(slot, ids[i]), slot, i) for slot in orphans for i in alive), reverse=True)
    granted: set[int] = set()
    for _, slot, i in ranked:
        if slot not in granted and left[i] > 0:
            owners[slot] = i
            granted.add(slot)
            left[i] -= 1
    return tuple(owners)


def _rank(slot: int, instance_id: str) -> bytes:
    return hashlib.blake2b(f"{slot}/{instance_id}".encode(), digest_size=8).digest()


def dispatch_flows(hop: Hop, symmetric: bool = False, *, next_label: int | None = None) -> Iterator[Flow]:
    """SFC_DISPATCH's flow for `hop` (its label in reg2) and, with several instances, SFC_BALANCE's;
    with no healthy instance, the hop's fail mode: on to `next_label`, or a drop (the group's cookie, so
    its counters count the drops)."""
    ck = cookie(CookieKind.HOP, hop.group_id)
    heading = Match.of(**{reg.HOP: hop.label})
    healthy = tuple(i.healthy for i in hop.instances)
    if not any(healthy):
        if hop.fail_mode == FAIL_CLOSED:
            yield Flow(SFC_DISPATCH, DISPATCH_PRIORITY, heading, (), cookie=ck)
            return
        if next_label is None:
            raise ValueError(f"hop {hop.group_id} fails open: the next label is needed")
        onward = (SetField(reg.HOP, next_label), Resubmit(SFC_DISPATCH))
        yield Flow(SFC_DISPATCH, DISPATCH_PRIORITY, heading, onward, cookie=ck)
        return
    if len(hop.instances) == 1:  # nothing to choose: no hash, no per-flow megaflows
        pick = (SetField(reg.INSTANCE, hop.instances[0].key),)
        yield Flow(SFC_DISPATCH, DISPATCH_PRIORITY, heading, pick, goto=SFC_ENCAP, cookie=ck)
        return
    ids, weights = tuple(i.id for i in hop.instances), tuple(i.weight for i in hop.instances)
    owners = healthy_owners(ids, weights, healthy) if not all(healthy) else slot_owners(ids, weights)
    fields = hash_fields(hop.lb_fields, symmetric)
    spread = Multipath(fields, 0, "hrw", len(owners), 0, reg.SLOT, 0, SLOT_BITS)
    yield Flow(SFC_DISPATCH, DISPATCH_PRIORITY, heading, (spread,), goto=SFC_BALANCE, cookie=ck)
    for slot, owner in enumerate(owners):
        match = Match.of(**{reg.HOP: hop.label, reg.SLOT: slot})
        pick = (SetField(reg.INSTANCE, hop.instances[owner].key),)
        yield Flow(SFC_BALANCE, BALANCE_PRIORITY, match, pick, goto=SFC_ENCAP, cookie=ck)
