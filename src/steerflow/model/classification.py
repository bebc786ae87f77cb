"""Classifications and classification groups as match terms: boxes of OpenFlow fields, AND and OR.

Pure. A classification's `definition` (neutron-classifier's shape, per `type`) becomes one `Term`: the
OpenFlow fields it constrains, with the fields its layer implies (an ipv4 classification means
eth_type 0x0800, a tcp one ip_proto 6), so contradictions show up as two values for one field. A group
is a disjunction of terms: AND is the product of its members' disjunctions (contradictory combinations
dropped), OR their union. A flow classifier's own fields are one more term, ANDed with its group's.

Field values: exact integers (eth_type, ip_proto, ip_dscp, ip_ecn, vlan_vid with OFPVID_PRESENT), MAC
strings (eth_src, eth_dst), canonical prefixes (ipv4/ipv6 src/dst), inclusive (lo, hi) port ranges
(tcp/udp src/dst) and (value, mask) TCP flags. See docs/classifier.md.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

Value = int | str | tuple[int, int]
Term = tuple[tuple[str, Value], ...]  # sorted by field name: hashable, comparable
Disjunction = tuple[Term, ...]

ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
VLAN_PRESENT: Final = 0x1000  # OFPVID_PRESENT: a tagged frame's vlan_vid
PROTO_TCP: Final = 6
PROTO_UDP: Final = 17
MAX_TERMS: Final = 64  # a group's disjunction, and a classifier's product with its group
TCP_FLAGS_MASK: Final = 0xFFF
CLASSIFICATION_TYPES: Final = ("ethernet", "ipv4", "ipv6", "tcp", "udp")
OPERATORS: Final = ("AND", "OR")

_EXACT = frozenset({"eth_type", "ip_proto", "ip_dscp", "ip_ecn", "vlan_vid"})
_MAC = frozenset({"eth_src", "eth_dst"})
_PREFIX = frozenset({"ipv4_src", "ipv4_dst", "ipv6_src", "ipv6_dst"})
_RANGE = frozenset({"tcp_src", "tcp_dst", "udp_src", "udp_dst"})
_FLAGS = frozenset({"tcp_flags"})
RANGE_FIELDS: Final = _RANGE
FIELDS: Final = _EXACT | _MAC | _PREFIX | _RANGE | _FLAGS
# The reverse direction of a symmetric chain: sources and destinations swapped.
_SWAPPED: Final = {
    **{f"{p}_src": f"{p}_dst" for p in ("eth", "ipv4", "ipv6", "tcp", "udp")},
    **{f"{p}_dst": f"{p}_src" for p in ("eth", "ipv4", "ipv6", "tcp", "udp")},
}
_MAC_RE: Final = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


class DefinitionError(ValueError):
    """A definition or a combination that cannot be compiled to OpenFlow exactly; the text says why."""


# --- terms --------------------------------------------------------------------------------------------


def term(fields: Mapping[str, Value]) -> Term:
    return tuple(sorted(fields.items()))


def merge(first: Term, second: Term) -> Term | None:
    """The conjunction of two terms, None when no packet matches both."""
    out = dict(first)
    for name, value in second:
        if name not in out:
            out[name] = value
            continue
        both = _intersect(name, out[name], value)
        if both is None:
            return None
        out[name] = both
    return term(out)


def _intersect(name: str, mine: Value, theirs: Value) -> Value | None:
    if name in _PREFIX:
        return _narrower_prefix(str(mine), str(theirs))
    if name in _RANGE:
        assert isinstance(mine, tuple) and isinstance(theirs, tuple)
        lo, hi = max(mine[0], theirs[0]), min(mine[1], theirs[1])
        return (lo, hi) if lo <= hi else None
    if name in _FLAGS:
        assert isinstance(mine, tuple) and isinstance(theirs, tuple)
        common = mine[1] & theirs[1]
        if (mine[0] ^ theirs[0]) & common:
            return None
        return ((mine[0] & mine[1]) | (theirs[0] & theirs[1]), mine[1] | theirs[1])
    return mine if mine == theirs else None


def _narrower_prefix(mine: str, theirs: str) -> str | None:
    a, b = ipaddress.ip_network(mine), ipaddress.ip_network(theirs)
    if a.version != b.version:
        return None
    if a.prefixlen >= b.prefixlen:
        return mine if a.subnet_of(b) else None  # type: ignore[arg-type]
    return theirs if b.subnet_of(a) else None  # type: ignore[arg-type]


def contradicting_field(first: Term, second: Term) -> str | None:
    """The first field two terms give values no packet has at once, if any."""
    theirs = dict(second)
    return next((k for k, v in first if k in theirs and _intersect(k, v, theirs[k]) is None), None)


def conjunction(parts: Sequence[Disjunction]) -> Disjunction:
    """AND of disjunctions: every combination's merge, contradictions dropped, duplicates once."""
    result: list[Term] = [()]
    for part in parts:
        result = _unique(m for a in result for b in part if (m := merge(a, b)) is not None)
        _check_size(len(result))
    return tuple(result)


def disjunction(parts: Sequence[Disjunction]) -> Disjunction:
    result = _unique(t for part in parts for t in part)
    _check_size(len(result))
    return tuple(result)


def _unique(terms: Iterable[Term]) -> list[Term]:
    return list(dict.fromkeys(terms))


def _check_size(size: int) -> None:
    if size > MAX_TERMS:
        raise DefinitionError(f"it expands to more than {MAX_TERMS} alternatives (at least {size})")


def overlaps(first: Disjunction, second: Disjunction) -> bool:
    """Some packet matches a term of each."""
    return any(merge(a, b) is not None for a, b in itertools.product(first, second))


def swapped(terms: Disjunction) -> Disjunction:
    """The terms with source and destination fields exchanged (a symmetric chain's reverse)."""
    return tuple(term({_SWAPPED.get(k, k): v for k, v in t}) for t in terms)


# --- JSON form (the NB stores terms as lists of objects) ----------------------------------------------


def to_json(terms: Disjunction) -> list[dict[str, Any]]:
    return [{k: list(v) if isinstance(v, tuple) else v for k, v in t} for t in terms]


def from_json(raw: Iterable[Mapping[str, Any]]) -> Disjunction:
    return tuple(term({k: tuple(v) if isinstance(v, list) else v for k, v in t.items()}) for t in raw)


# --- definitions ----------------------------------------------------------------------------------------

Reader = Callable[[str, Any], dict[str, Value]]


def definition_term(c_type: str, definition: Any) -> Term:
    """One classification's term; DefinitionError names the first thing that cannot be compiled."""
    if c_type not in _READERS:
        raise DefinitionError(f"type {c_type!r} is not one of {', '.join(CLASSIFICATION_TYPES)}")
    if not isinstance(definition, dict):
        raise DefinitionError(f"definition {definition!r} is not an object")
    fields, readers, implied = _READERS[c_type]
    unknown = sorted(str(k) for k in definition if k not in fields)
    if unknown:
        raise DefinitionError(
            f"{c_type} definition keys {', '.join(unknown)} are not supported: OpenFlow cannot match "
            f"them, or they are unknown (supported: {', '.join(fields)}; see docs/classifier.md)"
        )
    out: dict[str, Value] = dict(implied)
    given = {k: v for k, v in definition.items() if v is not None}
    for reader in readers:
        for name, value in reader(c_type, given).items():
            both = _intersect(name, out[name], value) if name in out else value
            if both is None:
                raise DefinitionError(f"{c_type} definition sets {name} to two different values")
            out[name] = both
    return term(out)


def _int(c_type: str, given: Mapping[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = given.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DefinitionError(f"{c_type} {key} {value!r} is not an integer in {lo}-{hi}")
    return value


def _mac_fields(c_type: str, given: Mapping[str, Any]) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for key, name in (("src_addr", "eth_src"), ("dst_addr", "eth_dst")):
        value = given.get(key)
        if value is None:
            continue
        text = value.replace("-", ":").lower() if isinstance(value, str) else ""
        if not _MAC_RE.match(text):
            raise DefinitionError(f"{c_type} {key} {value!r} is not a MAC address")
        out[name] = text
    return out


def _ethernet_fields(c_type: str, given: Mapping[str, Any]) -> dict[str, Value]:
    out = _mac_fields(c_type, given)
    ethertype = _int(c_type, given, "ethertype", 0x0600, 0xFFFF)
    if ethertype is not None:
        out["eth_type"] = ethertype
    vlan = _int(c_type, given, "vlan_id", 0, 4095)
    if vlan is not None:
        out["vlan_vid"] = VLAN_PRESENT | vlan
    return out


def _prefix_fields(version: int) -> Reader:
    ip = f"ipv{version}"

    def read(c_type: str, given: Mapping[str, Any]) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for key, side in (("src_addr", "src"), ("dst_addr", "dst")):
            value = given.get(key)
            if value is None:
                continue
            try:
                network = ipaddress.ip_network(value, strict=False) if isinstance(value, str) else None
            except ValueError:
                network = None
            if network is None or network.version != version:
                raise DefinitionError(f"{c_type} {key} {value!r} is not an IPv{version} address or prefix")
            if network.prefixlen:
                out[f"{ip}_{side}"] = str(network)
        return out

    return read


def _protocol_field(key: str) -> Reader:
    def read(c_type: str, given: Mapping[str, Any]) -> dict[str, Value]:
        proto = _int(c_type, given, key, 0, 255)
        return {} if proto is None else {"ip_proto": proto}

    return read


def _dscp_ecn(c_type: str, given: Mapping[str, Any]) -> dict[str, Value]:
    """neutron-classifier's dscp (with dscp_mask) and ecn, for ipv4 and ipv6 alike."""
    out: dict[str, Value] = {}
    dscp = _int(c_type, given, "dscp", 0, 63)
    mask = _int(c_type, given, "dscp_mask", 0, 63)
    if mask is not None and mask != 63:
        raise DefinitionError(
            f"{c_type} dscp_mask {mask}: OpenFlow matches ip_dscp exactly, only 63 is possible"
        )
    if dscp is not None:
        out["ip_dscp"] = dscp
    ecn = _int(c_type, given, "ecn", 0, 3)
    if ecn is not None:
        out["ip_ecn"] = ecn
    return out


def _ipv6_traffic_class(c_type: str, given: Mapping[str, Any]) -> dict[str, Value]:
    """traffic_class (steerflow's) is DSCP (high 6 bits) and ECN (low 2); a mask may keep either or
    both. Not together with neutron-classifier's dscp/ecn, which say the same."""
    tc = _int(c_type, given, "traffic_class", 0, 255)
    both = sorted(key for key in ("dscp", "dscp_mask", "ecn") if key in given)
    if tc is not None and both:
        raise DefinitionError(f"{c_type} traffic_class and {', '.join(both)} both set the traffic class")
    mask = _int(c_type, given, "traffic_class_mask", 0, 255)
    if tc is None:
        if mask is not None:
            raise DefinitionError(f"{c_type} traffic_class_mask needs traffic_class")
        return {}
    mask = 0xFF if mask is None else mask
    if mask not in (0xFF, 0xFC, 0x03):
        raise DefinitionError(
            f"{c_type} traffic_class_mask {mask:#x}: OpenFlow matches DSCP and ECN whole, "
            "so only 0xff, 0xfc (DSCP) or 0x03 (ECN) are possible"
        )
    out: dict[str, Value] = {}
    if mask & 0xFC:
        out["ip_dscp"] = tc >> 2
    if mask & 0x03:
        out["ip_ecn"] = tc & 0x03
    return out


def _port_fields(proto: str) -> Reader:
    def read(c_type: str, given: Mapping[str, Any]) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for side, name in (("src", f"{proto}_src"), ("dst", f"{proto}_dst")):
            lo = _int(c_type, given, f"{side}_port_min", 0, 65535)
            hi = _int(c_type, given, f"{side}_port_max", 0, 65535)
            if lo is None and hi is None:
                continue
            bounds = (0 if lo is None else lo, 65535 if hi is None else hi)
            if bounds[0] > bounds[1]:
                raise DefinitionError(
                    f"{c_type} {side}_port_min {bounds[0]} is above {side}_port_max {bounds[1]}"
                )
            if bounds != (0, 65535):
                out[name] = bounds
        return out

    return read


def _tcp_flags(c_type: str, given: Mapping[str, Any]) -> dict[str, Value]:
    flags = _int(c_type, given, "flags", 0, TCP_FLAGS_MASK)
    mask = _int(c_type, given, "flags_mask", 0, TCP_FLAGS_MASK)
    if flags is None:
        if mask is not None:
            raise DefinitionError(f"{c_type} flags_mask needs flags")
        return {}
    mask = TCP_FLAGS_MASK if mask is None else mask
    if flags & ~mask:
        raise DefinitionError(f"{c_type} flags {flags:#x} set bits outside flags_mask {mask:#x}")
    return {"tcp_flags": (flags, mask)} if mask else {}


# Per type: the definition keys steerflow compiles, their readers, the fields the type implies.
_READERS: Final[dict[str, tuple[tuple[str, ...], tuple[Reader, ...], dict[str, Value]]]] = {
    "ethernet": (("src_addr", "dst_addr", "ethertype", "vlan_id"), (_ethernet_fields,), {}),
    "ipv4": (
        ("src_addr", "dst_addr", "protocol", "dscp", "dscp_mask", "ecn"),
        (_prefix_fields(4), _protocol_field("protocol"), _dscp_ecn),
        {"eth_type": ETH_IPV4},
    ),
    "ipv6": (
        (
            "src_addr",
            "dst_addr",
            "next_header",
            "dscp",
            "dscp_mask",
            "ecn",
            "traffic_class",
            "traffic_class_mask",
        ),
        (_prefix_fields(6), _protocol_field("next_header"), _dscp_ecn, _ipv6_traffic_class),
        {"eth_type": ETH_IPV6},
    ),
    "tcp": (
        ("src_port_min", "src_port_max", "dst_port_min", "dst_port_max", "flags", "flags_mask"),
        (_port_fields("tcp"), _tcp_flags),
        {"ip_proto": PROTO_TCP},
    ),
    "udp": (
        ("src_port_min", "src_port_max", "dst_port_min", "dst_port_max"),
        (_port_fields("udp"),),
        {"ip_proto": PROTO_UDP},
    ),
}


def supported_keys(c_type: str) -> tuple[str, ...]:
    return _READERS[c_type][0]
