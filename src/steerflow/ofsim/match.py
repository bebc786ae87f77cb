"""CompiledMatch: a flow's match as (field, value, mask) integers, checked the way OVS checks a flow-mod.

OVS refuses a match whose fields lack their prerequisites (OFPBMC_BAD_PREREQ: tcp_dst needs
eth_type and ip_proto=6 in the same match), masks on fields it cannot mask, and values wider than the
field. ovs-ofctl is worse: it silently drops such a field and installs a broader flow. Both are compiler
bugs, so both raise `InvalidFlow` here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from steerflow.flows.types import Field, Flow, Match
from steerflow.ofsim import fields as fd
from steerflow.ofsim.errors import InvalidFlow, UnknownField
from steerflow.ofsim.fields import Condition, FieldSpec, Kind
from steerflow.ofsim.packet import Packet


@dataclass(frozen=True)
class Term:
    spec: FieldSpec
    value: int
    mask: int


@dataclass(frozen=True)
class CompiledMatch:
    """`implied_ethernet`: a match on any header field without packet_type only matches Ethernet frames."""

    terms: tuple[Term, ...]
    implied_ethernet: bool

    def matches(self, packet: Packet) -> bool:
        if self.implied_ethernet and not packet.frame.ethernet:
            return False
        for term in self.terms:
            if not packet.satisfies(term.spec):
                return False
            if packet.raw(term.spec) & term.mask != term.value:
                return False
        return True

    def term(self, name: str) -> Term | None:
        return next((t for t in self.terms if t.spec.name == name), None)

    def pinned(self) -> dict[str, int]:
        """The match as OVS's `ofpacts_check` sees it: field values (masked), zero where unmatched."""
        values = {t.spec.name: t.value for t in self.terms}
        packet_type = values.get("packet_type", fd.PT_ETHERNET)
        if packet_type != fd.PT_ETHERNET:
            values.setdefault("eth_type", packet_type & 0xFFFF)
        return values

    def disjoint(self, other: CompiledMatch) -> bool:
        """Whether no packet can match both (same field, incompatible bits under both masks)."""
        theirs = {t.spec.name: t for t in other.terms}
        for term in self.terms:
            peer = theirs.get(term.spec.name)
            if peer is not None and (term.value ^ peer.value) & term.mask & peer.mask:
                return True
        return self._pt_conflict(other) or other._pt_conflict(self)

    def _pt_conflict(self, other: CompiledMatch) -> bool:
        explicit = other.term("packet_type")
        return self.implied_ethernet and explicit is not None and explicit.value != fd.PT_ETHERNET


def compile_match(match: Match, where: str = "") -> CompiledMatch:
    """The compiled match, or `InvalidFlow` naming the field OVS would refuse (and `where`, the flow)."""
    terms: dict[str, Term] = {}
    for fld in match.fields:
        term = _compile_field(fld, where)
        if term.spec.name in terms:
            raise InvalidFlow(f"{where}: field {term.spec.name} given twice (aliases of one field)")
        terms[term.spec.name] = term
    explicit_pt = "packet_type" in terms
    headers = any(t.spec.layer is not fd.Layer.META for t in terms.values())
    compiled = CompiledMatch(tuple(terms.values()), headers and not explicit_pt)
    for term in compiled.terms:
        _check_prereqs(term.spec, compiled, where)
    return compiled


def _compile_field(fld: Field, where: str) -> Term:
    try:
        spec = fd.spec(fld.name)
    except UnknownField as exc:
        raise InvalidFlow(f"{where}: {exc}") from None
    value, mask = _split_cidr(spec, fld.value, fld.mask)
    try:
        number = fd.to_int(spec, value)
        mask_bits = spec.full_mask if mask is None else fd.mask_to_int(spec, mask)
    except ValueError as exc:
        raise InvalidFlow(f"{where}: {fld}: {exc}") from None
    if mask_bits != spec.full_mask and not spec.maskable:
        raise InvalidFlow(f"{where}: {fld}: invalid mask for field {spec.name} (OVS cannot mask it)")
    return Term(spec, number & mask_bits, mask_bits)


def _split_cidr(
    spec: FieldSpec, value: fd.FieldValue, mask: fd.FieldValue | None
) -> tuple[fd.FieldValue, fd.FieldValue | None]:
    """A Field built by hand may carry "10.0.0.0/24" as its value."""
    if mask is None and isinstance(value, str) and "/" in value and spec.kind in (Kind.IPV4, Kind.IPV6):
        network = ipaddress.ip_network(value, strict=False)
        return str(network.network_address), str(network.netmask)
    return value, mask


def _check_prereqs(spec: FieldSpec, match: CompiledMatch, where: str) -> None:
    for cond in spec.prereqs:
        if not _pinned_by(cond, match):
            raise InvalidFlow(
                f"{where}: {spec.name} needs {_describe(cond)} in the same match (OFPBMC_BAD_PREREQ; "
                "ovs-ofctl would silently drop the field and install a broader flow)"
            )


def _pinned_by(cond: Condition, match: CompiledMatch) -> bool:
    if cond.field == "packet_type" and match.term("packet_type") is None:
        return match.implied_ethernet
    term = match.term(cond.field)
    need = fd.SPECS[cond.field].full_mask if cond.mask is None else cond.mask
    if term is not None:
        return term.mask & need == need and term.value & need in cond.values
    pt = match.term("packet_type")
    return (
        cond.field == "eth_type"
        and pt is not None
        and pt.value >> 16 == 1
        and pt.value & 0xFFFF in cond.values
    )


def _describe(cond: Condition) -> str:
    values = "|".join(fd.render(fd.SPECS[cond.field], v) for v in sorted(cond.values))
    return f"{cond.field}={values}" + ("" if cond.mask is None else f"/{cond.mask:#x}")


def overlapping(flows: Iterable[Flow]) -> list[tuple[Flow, Flow]]:
    """Pairs of flows with the same table and priority that some packet could match both: OVS would pick
    either one. Opt-in (`Switch(reject_overlaps=True)`): overlaps no real packet can reach are legal, and
    so are overlaps of flows that behave alike (same actions, continuation and cookie: either one does
    what the other would, as the alternatives of one classifier's OR do)."""
    groups: dict[tuple[int, int], list[tuple[Flow, CompiledMatch]]] = {}
    for flow in flows:
        groups.setdefault((flow.table, flow.priority), []).append(
            (flow, compile_match(flow.match, str(flow)))
        )
    pairs: list[tuple[Flow, Flow]] = []
    for same in groups.values():
        pairs.extend(_overlaps_within(same))
    return pairs


def _overlaps_within(entries: Sequence[tuple[Flow, CompiledMatch]]) -> list[tuple[Flow, Flow]]:
    found = []
    for i, (flow_a, match_a) in enumerate(entries):
        for flow_b, match_b in entries[i + 1 :]:
            if flow_a.match == flow_b.match or flow_a.same_behaviour(flow_b):
                continue
            if not match_a.disjoint(match_b):
                found.append((flow_a, flow_b))
    return found
