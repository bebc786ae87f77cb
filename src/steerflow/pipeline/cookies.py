"""Flow cookies: what a flow does and the NB object it was compiled for.

The top byte names the kind, the low 56 bits come from the NB object's id (`object_bits`: the same
hash wherever a flow is compiled). Every kind points to exactly one NB kind (`OWNER_KINDS`), so
`owner` maps a flow's cookie back to the port, network, classifier, chain, port pair group, port
pair or service graph that owns it, given the NB objects: what a trace or per-hop counters need to
name a flow.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from steerflow.model import schema

_OBJECT_BITS = 56
_OBJECT_MASK = (1 << _OBJECT_BITS) - 1


class CookieKind(enum.IntEnum):
    INFRA = 0x01
    PORT = 0x02
    NETWORK = 0x03
    TUNNEL = 0x04
    ARP = 0x05
    CLASSIFIER = 0x10
    CHAIN = 0x11
    HOP = 0x12
    INSTANCE = 0x13
    GRAPH = 0x14


# The NB kind each cookie kind's id belongs to; INFRA has none.
OWNER_KINDS: Mapping[CookieKind, str] = {
    CookieKind.PORT: schema.PORT,
    CookieKind.NETWORK: schema.NETWORK,
    CookieKind.TUNNEL: schema.NETWORK,
    CookieKind.ARP: schema.PORT,
    CookieKind.CLASSIFIER: schema.FLOW_CLASSIFIER,
    CookieKind.CHAIN: schema.PORT_CHAIN,
    CookieKind.HOP: schema.PORT_PAIR_GROUP,
    CookieKind.INSTANCE: schema.PORT_PAIR,
    CookieKind.GRAPH: schema.SERVICE_GRAPH,
}

# What the flows of each kind do for their object.
PURPOSES: Mapping[CookieKind, str] = {
    CookieKind.INFRA: "table defaults and misses",
    CookieKind.PORT: "a logical port's binding, port security and egress; a function's return skipping "
    "port security",
    CookieKind.NETWORK: "a network's MAC lookup, flooding and duplicate address detection",
    CookieKind.TUNNEL: "a network's tunnel ingress (by its VNI)",
    CookieKind.ARP: "a port's ARP and ND responder",
    CookieKind.CLASSIFIER: "a flow classifier's classification (both directions of a symmetric chain)",
    CookieKind.CHAIN: "a port chain's exit and its NSH MD2 header pushes",
    CookieKind.HOP: "a hop (a port pair group in its chain): dispatch, balance, header push, returns",
    CookieKind.INSTANCE: "a function instance (a port pair): delivery to it, packets tunnelled to its VNI",
    CookieKind.GRAPH: "a service graph's branching: a source chain's traffic into the destination chain "
    "its classifiers match, or out of the graph",
}


class Owner(NamedTuple):
    """The NB object a flow was compiled for, and what the flow does for it."""

    kind: str  # the NB kind ("port", "port_chain", ...)
    id: str
    cookie_kind: CookieKind


@functools.lru_cache(maxsize=65536)  # one id yields many flows: parse it once
def object_bits(object_id: str) -> int:
    """56 bits identifying an NB object: from its UUID, or a stable hash for non-UUID ids."""
    try:
        return uuid.UUID(object_id).int & _OBJECT_MASK
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_OID, object_id).int & _OBJECT_MASK


def cookie(kind: CookieKind, object_id: str = "") -> int:
    """The cookie of a flow of `kind` for the NB object `object_id` (its document id; "" for none)."""
    return (int(kind) << _OBJECT_BITS) | (object_bits(object_id) if object_id else 0)


def cookie_kind(value: int) -> CookieKind | None:
    try:
        return CookieKind(value >> _OBJECT_BITS)
    except ValueError:
        return None


def owner(value: int, objects: Mapping[str, Mapping[str, Any]]) -> Owner | None:
    """The NB object of `objects` (kind -> id -> document, as a snapshot holds them) that owns the flow
    with cookie `value`; None for infrastructure flows, unknown kinds and objects not in `objects`."""
    kind = cookie_kind(value)
    nb_kind = OWNER_KINDS.get(kind) if kind is not None else None
    if kind is None or nb_kind is None:
        return None
    bits = value & _OBJECT_MASK
    found = next((oid for oid in objects.get(nb_kind, {}) if object_bits(oid) == bits), None)
    return None if found is None else Owner(nb_kind, found, kind)


def owners(objects: Mapping[str, Mapping[str, Any]], cookies: Iterable[int]) -> dict[int, Owner | None]:
    """`owner` of many cookies at once (one pass over each NB kind, not one per cookie)."""
    index: dict[int, Owner] = {}
    for kind, nb_kind in OWNER_KINDS.items():
        for oid in objects.get(nb_kind, {}):
            index[cookie(kind, oid)] = Owner(nb_kind, oid, kind)
    return {value: index.get(value) for value in cookies}
