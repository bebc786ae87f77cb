"""Flow cookies: the kind of feature and the NB object a flow was compiled for.

The top byte names the kind, the low 56 bits come from the NB object's id, so `steerflow trace` and
per-hop counters can say which port, network or chain a flow serves just from its cookie.
"""

from __future__ import annotations

import enum
import functools
import uuid

_OBJECT_BITS = 56
_OBJECT_MASK = (1 << _OBJECT_BITS) - 1


class CookieKind(enum.IntEnum):
    INFRA = 0x01  # table defaults and misses
    PORT = 0x02  # a logical port's own flows (binding, port security)
    NETWORK = 0x03  # a network's forwarding (lookup, flooding)
    TUNNEL = 0x04  # reaching other chassis
    ARP = 0x05  # the ARP / ND responder
    CLASSIFIER = 0x10
    CHAIN = 0x11
    HOP = 0x12


@functools.lru_cache(maxsize=65536)  # one id yields many flows: parse it once
def object_bits(object_id: str) -> int:
    """56 bits identifying an NB object: from its UUID, or a stable hash for non-UUID ids."""
    try:
        return uuid.UUID(object_id).int & _OBJECT_MASK
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_OID, object_id).int & _OBJECT_MASK


def cookie(kind: CookieKind, object_id: str = "") -> int:
    return (int(kind) << _OBJECT_BITS) | (object_bits(object_id) if object_id else 0)


def cookie_kind(value: int) -> CookieKind | None:
    try:
        return CookieKind(value >> _OBJECT_BITS)
    except ValueError:
        return None
