"""When two flow classifiers could match the same packet: networking-sfc's conflict predicates, pure.

`basic_conflict` compares the L2-L4 match (ethertype, protocol, prefixes, port ranges); `conflict` also
requires compatible logical ports. A missing field is a wildcard, so it overlaps with anything.
"""

from __future__ import annotations

import ipaddress

from steerflow.model import classification as cls_terms
from steerflow.model.sfc import FlowClassifier, PortRange


def prefixes_intersect(first: str | None, second: str | None) -> bool:
    """Two CIDRs share an address (host bits ignored); a missing prefix matches everything."""
    if first is None or second is None:
        return True
    a = ipaddress.ip_network(first, strict=False)
    b = ipaddress.ip_network(second, strict=False)
    if a.version != b.version:
        return False
    a_low, a_high = int(a.network_address), int(a.broadcast_address)
    b_low, b_high = int(b.network_address), int(b.broadcast_address)
    return a_low <= b_high and b_low <= a_high


def port_ranges_overlap(first: PortRange, second: PortRange) -> bool:
    """Inclusive ranges overlap; a missing bound is open on that side."""
    return _overlap(first.min, first.max, second.min, second.max)


def _overlap(
    first_min: int | None, first_max: int | None, second_min: int | None, second_max: int | None
) -> bool:
    low_ok = first_min is None or second_max is None or first_min <= second_max
    high_ok = first_max is None or second_min is None or second_min <= first_max
    return low_ok and high_ok


def _wildcard_equal(first: object, second: object) -> bool:
    return first is None or second is None or first == second


def basic_conflict(first: FlowClassifier, second: FlowClassifier) -> bool:
    """The two classifiers' L2-L4 matches overlap (logical ports not considered)."""
    return (  # cheapest tests first: a chain write compares against every other chain's classifiers
        first.ethertype == second.ethertype
        and _wildcard_equal(first.protocol, second.protocol)
        and _overlap(
            first.source_port_range_min,
            first.source_port_range_max,
            second.source_port_range_min,
            second.source_port_range_max,
        )
        and _overlap(
            first.destination_port_range_min,
            first.destination_port_range_max,
            second.destination_port_range_min,
            second.destination_port_range_max,
        )
        and prefixes_intersect(first.source_ip_prefix, second.source_ip_prefix)
        and prefixes_intersect(first.destination_ip_prefix, second.destination_ip_prefix)
        and _groups_overlap(first, second)
    )


def _groups_overlap(first: FlowClassifier, second: FlowClassifier) -> bool:
    """With a classification group, some alternative of each (ANDed with its own fields) overlaps."""
    if first.group_terms is None and second.group_terms is None:
        return True  # the fields compared above are all there is
    return cls_terms.overlaps(first.terms(), second.terms())


def conflict(first: FlowClassifier, second: FlowClassifier) -> bool:
    """The classifiers overlap including their logical source and destination ports."""
    return (
        _wildcard_equal(first.logical_source_port, second.logical_source_port)
        and _wildcard_equal(first.logical_destination_port, second.logical_destination_port)
        and basic_conflict(first, second)
    )


def overlap_text(first: FlowClassifier, second: FlowClassifier, logical_ports: bool = True) -> str:
    """What two conflicting classifiers both match, field by field ("a / b" where they differ); the
    fields neither one sets (wildcards on both sides) are left out, and the logical ports unless the
    conflict counts them (`basic_conflict` does not)."""
    parts = [f"ethertype {first.ethertype.value}"]
    fields = ["protocol", "source_ip_prefix", "destination_ip_prefix"]
    if logical_ports:
        fields += ["logical_source_port", "logical_destination_port"]
    for field in fields:
        mine, theirs = getattr(first, field), getattr(second, field)
        if mine is not None or theirs is not None:
            parts.append(f"{field} {_pair(_text(mine), _text(theirs))}")
    for side in ("source", "destination"):
        mine_range, their_range = getattr(first, f"{side}_ports"), getattr(second, f"{side}_ports")
        if not (mine_range.is_any and their_range.is_any):
            parts.append(f"{side} ports {_pair(_range_text(mine_range), _range_text(their_range))}")
    mine_group, their_group = first.classification_group_id, second.classification_group_id
    if mine_group is not None or their_group is not None:
        parts.append(f"classification group {_pair(_text(mine_group), _text(their_group))}")
    return ", ".join(parts)


def _text(value: object) -> str:
    if value is None:
        return "any"
    return str(getattr(value, "value", value))


def _range_text(ports: PortRange) -> str:
    if ports.is_any:
        return "any"
    return f"{ports.min if ports.min is not None else 0}:{ports.max if ports.max is not None else 65535}"


def _pair(mine: str, theirs: str) -> str:
    return mine if mine == theirs else f"{mine} / {theirs}"
