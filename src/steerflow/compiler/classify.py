"""Flow classifiers as OpenFlow header matches: prefixes, protocol, minimal port-range masks, priorities.

Pure. `classifier_spec` splits a `FlowClassifier` into what the chain compiler matches through the
pipeline (the logical source port by `reg6`, the logical destination port by its L2 lookup) and the
header part, a few `Match` values that together cover exactly the classifier's packets and are pairwise
disjoint, so they can share one priority and one action. See docs/classifier.md.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from steerflow.flows.types import FieldValue, Match
from steerflow.model import classification as cls_terms
from steerflow.model.sfc import (
    ETH_TYPES,
    IP_PROTOS,
    Ethertype,
    FlowClassifier,
    FlowClassifierId,
    IpNetwork,
    PortId,
    PortRange,
    Protocol,
)

PORT_BITS = 16
PORT_MASK = (1 << PORT_BITS) - 1
MAX_PORT_MASKS = 2 * PORT_BITS - 2  # [1, 65534] needs 30 (value, mask) pairs, the worst case

L4_FIELDS = {Protocol.TCP: ("tcp_src", "tcp_dst"), Protocol.UDP: ("udp_src", "udp_dst")}
IP_FIELDS = {Ethertype.IPV4: ("ipv4_src", "ipv4_dst"), Ethertype.IPV6: ("ipv6_src", "ipv6_dst")}

# IPv6 neighbour discovery (router/neighbour solicitation and advertisement, redirect) is to IPv6 what
# ARP is to IPv4. A classifier never sees ARP, but an IPv6 "icmp" or protocol-less one would steer ND
# into a chain and break address resolution; the chain compiler puts these above every classifier.
NEIGHBOUR_DISCOVERY: tuple[Match, ...] = tuple(
    Match.of(eth_type=0x86DD, ip_proto=58, icmpv6_type=t) for t in range(133, 138)
)

# Volume weights of the fields a classifier may leave open (see `match_volume`).
_ANY_PROTOCOL = 1 << 8
_ANY_L4_PORTS = 1 << (2 * PORT_BITS)
_ANY_LOGICAL_PORT = 1 << 32


_Fields = dict[str, FieldValue | tuple[FieldValue, FieldValue]]


class ClassifierError(ValueError):
    """A classifier the API should have refused: compiling it would match more than it says."""


@dataclass(frozen=True)
class ClassifierSpec:
    """One classifier, split the way the pipeline matches it.

    `matches` are the header matches (eth_type, prefixes, ip_proto, L4 ports), pairwise disjoint and
    together exactly the classifier's packets; the chain compiler adds the source port (`reg6` with the
    network in `metadata`) and the destination port (its L2 lookup) to each one, and gives all of them
    the same priority and action.
    """

    classifier: FlowClassifierId
    source_port: PortId | None
    destination_port: PortId | None
    matches: tuple[Match, ...]


def classifier_spec(fc: FlowClassifier) -> ClassifierSpec:
    """The logical ports to match through registers, and the header matches."""
    return ClassifierSpec(
        classifier=FlowClassifierId(fc.id),
        source_port=fc.logical_source_port,
        destination_port=fc.logical_destination_port,
        matches=classifier_matches(fc),
    )


def port_range_masks(lo: int, hi: int) -> tuple[tuple[int, int], ...]:
    """The fewest (value, mask) pairs over 16-bit ports that together match exactly [lo, hi].

    Each pair is an aligned power-of-two block (a prefix), the blocks are disjoint and ascending. A mask
    of 0 (only for the full range, `((0, 0),)`) means "no field"; a mask of 0xffff is one exact port.
    """
    if not 0 <= lo <= hi <= PORT_MASK:
        raise ClassifierError(f"port range {lo}-{hi} is not within 0-{PORT_MASK} or is reversed")
    blocks = []
    while lo <= hi:
        # The largest block starting at lo is bounded by lo's alignment and by what is left of the range.
        size = lo & -lo if lo else 1 << PORT_BITS
        while size > hi - lo + 1:
            size >>= 1
        blocks.append((lo, PORT_MASK & ~(size - 1)))
        lo += size
    return tuple(blocks)


def classifier_matches(fc: FlowClassifier) -> tuple[Match, ...]:
    """The classifier's header part as disjoint OpenFlow matches, each valid on OVS as it stands.

    One match without L4 ports; with tcp/udp port ranges, the cross product of the source and
    destination ranges' blocks (at most 30 x 30 = 900, for ranges like 1-65534 on both sides).
    With a classification group, the matches of each term of `fc.terms()`: those of different terms
    may overlap (an OR), which is harmless, as all of them share one priority and one action.
    """
    _check(fc)
    if fc.group_terms is not None:
        return _terms_matches(fc)
    base: _Fields = {"eth_type": ETH_TYPES[fc.ethertype], **_prefix_fields(fc)}
    if fc.protocol is not None:
        base["ip_proto"] = IP_PROTOS[(fc.ethertype, fc.protocol)]
    l4 = L4_FIELDS.get(fc.protocol) if fc.protocol is not None else None
    if l4 is None:
        return (Match.of(**base),)
    src_name, dst_name = l4
    return tuple(
        Match.of(**base, **_port_field(src_name, src), **_port_field(dst_name, dst))
        for src in port_range_masks(*fc.source_ports.bounds())
        for dst in port_range_masks(*fc.destination_ports.bounds())
    )


def _terms_matches(fc: FlowClassifier) -> tuple[Match, ...]:
    terms = fc.terms()
    if not terms:
        raise ClassifierError(f"classifier {fc.id}: its fields contradict every term of its group")
    return tuple(dict.fromkeys(m for t in terms for m in term_matches(t)))


def term_matches(term: cls_terms.Term) -> tuple[Match, ...]:
    """One term as OpenFlow matches: port ranges as their blocks' cross product, the rest as is."""
    base: _Fields = {}
    ranges: list[list[_Fields]] = []
    for name, value in term:
        if name in cls_terms.RANGE_FIELDS and isinstance(value, tuple):
            ranges.append([_port_field(name, block) for block in port_range_masks(*value)])
        elif name == "tcp_flags" and isinstance(value, tuple) and value[1] == cls_terms.TCP_FLAGS_MASK:
            base[name] = value[0]  # a full mask is an exact match, as the switch reports it
        else:
            base[name] = value
    return tuple(
        Match.of(**base, **{k: v for fields in combo for k, v in fields.items()})
        for combo in itertools.product(*ranges)
    )


def _check(fc: FlowClassifier) -> None:
    """Refuse what the API refuses (rules 6, 9-11): silently dropping a field would widen the match."""
    if fc.l7_parameters:
        raise ClassifierError(f"classifier {fc.id}: l7_parameters are not supported")
    has_ports = not (fc.source_ports.is_any and fc.destination_ports.is_any)
    if has_ports and fc.protocol not in L4_FIELDS:
        raise ClassifierError(f"classifier {fc.id}: port ranges need protocol tcp or udp")
    version = 4 if fc.ethertype is Ethertype.IPV4 else 6
    for network in (fc.source_network, fc.destination_network):
        if network is not None and network.version != version:
            raise ClassifierError(f"classifier {fc.id}: prefix {network} is not {fc.ethertype}")


def _prefix_fields(fc: FlowClassifier) -> _Fields:
    """Source/destination prefixes as masked fields; a /0 (matches every address) is no field."""
    src_name, dst_name = IP_FIELDS[fc.ethertype]
    fields: _Fields = {}
    for name, network in ((src_name, fc.source_network), (dst_name, fc.destination_network)):
        if network is not None and network.prefixlen > 0:
            fields[name] = str(network)  # Match.of: a full-length prefix is an exact match
    return fields


def _port_field(name: str, block: tuple[int, int]) -> _Fields:
    value, mask = block
    if mask == 0:
        return {}
    if mask == PORT_MASK:
        return {name: value}
    return {name: (value, mask)}


def reversed_classifier(fc: FlowClassifier) -> FlowClassifier:
    """The classifier of the reverse direction (symmetric chains): sources and destinations swapped."""
    return dataclasses.replace(
        fc,
        source_ip_prefix=fc.destination_ip_prefix,
        destination_ip_prefix=fc.source_ip_prefix,
        source_port_range_min=fc.destination_port_range_min,
        source_port_range_max=fc.destination_port_range_max,
        destination_port_range_min=fc.source_port_range_min,
        destination_port_range_max=fc.source_port_range_max,
        logical_source_port=fc.logical_destination_port,
        logical_destination_port=fc.logical_source_port,
        group_terms=None if fc.group_terms is None else cls_terms.swapped(fc.group_terms),
    )


def match_volume(fc: FlowClassifier) -> int:
    """How many (weighted) header combinations the classifier leaves open; smaller is more specific.

    Each field contributes the size of the set it allows, so a classifier strictly inside another
    always has a strictly smaller volume (the sets are boxes: inside means inside on every field).
    """
    volume = 1
    for network in (fc.source_network, fc.destination_network):
        volume *= _addresses(fc.ethertype, network)
    if fc.protocol is None:
        volume *= _ANY_PROTOCOL * _ANY_L4_PORTS
    elif fc.protocol in L4_FIELDS:
        volume *= _range_size(fc.source_ports) * _range_size(fc.destination_ports)
    else:
        volume *= _ANY_L4_PORTS  # icmp: no ports, but as open as a protocol with any ports
    for port in (fc.logical_source_port, fc.logical_destination_port):
        volume *= 1 if port is not None else _ANY_LOGICAL_PORT
    return volume


def _addresses(ethertype: Ethertype, network: IpNetwork | None) -> int:
    bits = 32 if ethertype is Ethertype.IPV4 else 128
    return 1 << (bits - (0 if network is None else network.prefixlen))


def _range_size(ports: PortRange) -> int:
    lo, hi = ports.bounds()
    return hi - lo + 1


def classifier_priorities(
    classifiers: Iterable[FlowClassifier], *, top: int, lowest: int = 1
) -> dict[FlowClassifierId, int]:
    """Distinct priorities for one chain's classifiers: the more specific (smaller volume), the higher.

    The most specific gets `top`, the next `top - 1` and so on; equal volumes go by id, so the result
    depends only on the set. Where two classifiers of the chain overlap, the more specific one wins
    (strictly inside always wins); raises when the classifiers do not fit in [lowest, top].
    """
    unique = {fc.id: fc for fc in classifiers}
    ranked = sorted(unique.values(), key=lambda fc: (match_volume(fc), fc.id))
    if top - len(ranked) + 1 < lowest:
        raise ClassifierError(f"{len(ranked)} classifiers do not fit in priorities {lowest}-{top}")
    return {FlowClassifierId(fc.id): top - rank for rank, fc in enumerate(ranked)}
