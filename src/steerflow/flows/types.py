"""Flows and groups as frozen values: what the compiler produces and the reconciler diffs.

Values are canonical (MACs lower case, IPs compressed, fields sorted) so that two compilations of the
same input compare equal and a flow's identity, `FlowKey` = (table, priority, match), is stable. Every
type renders in ovs-ofctl syntax (`str()`), which docs, traces and tests compare against dumped flows.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

FieldValue = int | str

_MAC_FIELDS = frozenset({"eth_src", "eth_dst", "arp_sha", "arp_tha", "ipv6_nd_sll", "ipv6_nd_tll"})
_IP_FIELDS = frozenset(
    {"ipv4_src", "ipv4_dst", "arp_spa", "arp_tpa", "ipv6_src", "ipv6_dst", "ipv6_nd_target", "tun_ipv4_dst"}
)


def canonical_value(name: str, value: FieldValue) -> FieldValue:
    """The one spelling of a field value: lower-case MACs and compressed IP addresses."""
    if isinstance(value, str) and name in _MAC_FIELDS:
        return value.lower()
    if isinstance(value, str) and name in _IP_FIELDS:
        return str(ipaddress.ip_address(value))
    return value


@dataclass(frozen=True, order=True)
class Field:
    """One match field: an OXM/NXM name as os-ken spells it, a value and an optional mask."""

    name: str
    value: FieldValue
    mask: FieldValue | None = None

    def __str__(self) -> str:
        if self.mask is None:
            return f"{self.name}={_fmt(self.value)}"
        return f"{self.name}={_fmt(self.value)}/{_fmt(self.mask)}"


def _fmt(value: FieldValue) -> str:
    return hex(value) if isinstance(value, int) and value > 9 else str(value)


@dataclass(frozen=True)
class Match:
    """A conjunction of fields, kept sorted by name so equal matches are equal values."""

    fields: tuple[Field, ...] = ()

    @classmethod
    def of(cls, **kwargs: FieldValue | tuple[FieldValue, FieldValue]) -> Match:
        """`Match.of(in_port=3, eth_dst="02:..", reg6=(5, 0xffff))`: a tuple is (value, mask)."""
        built = []
        for name, spec in kwargs.items():
            if isinstance(spec, tuple):
                value, mask = spec
                built.append(Field(name, canonical_value(name, value), canonical_value(name, mask)))
            else:
                built.append(Field(name, canonical_value(name, spec)))
        return cls(tuple(sorted(built)))

    def extend(self, **kwargs: FieldValue | tuple[FieldValue, FieldValue]) -> Match:
        """This match plus more fields (a field given again replaces the old one)."""
        extra = Match.of(**kwargs)
        names = {f.name for f in extra.fields}
        kept = tuple(f for f in self.fields if f.name not in names)
        return Match(tuple(sorted(kept + extra.fields)))

    def get(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def __str__(self) -> str:
        return ",".join(str(f) for f in self.fields)


@dataclass(frozen=True)
class Output:
    port: int

    def __str__(self) -> str:
        return f"output:{self.port}"


@dataclass(frozen=True)
class Resubmit:
    """Nicira resubmit to another table (returns afterwards, unlike goto)."""

    table: int
    in_port: int | None = None

    def __str__(self) -> str:
        port = "" if self.in_port is None else str(self.in_port)
        return f"resubmit({port},{self.table})"


@dataclass(frozen=True)
class SetField:
    name: str
    value: FieldValue

    def __str__(self) -> str:
        return f"set_field:{_fmt(canonical_value(self.name, self.value))}->{self.name}"


@dataclass(frozen=True)
class Move:
    """Nicira register move: copy `n_bits` from `src`[src_ofs] to `dst`[dst_ofs]."""

    src: str
    dst: str
    n_bits: int
    src_ofs: int = 0
    dst_ofs: int = 0

    def __str__(self) -> str:
        src_end = self.src_ofs + self.n_bits - 1
        dst_end = self.dst_ofs + self.n_bits - 1
        return f"move:{self.src}[{self.src_ofs}..{src_end}]->{self.dst}[{self.dst_ofs}..{dst_end}]"


@dataclass(frozen=True)
class PushMpls:
    ethertype: int = 0x8847

    def __str__(self) -> str:
        return f"push_mpls:{self.ethertype:#06x}"


@dataclass(frozen=True)
class PopMpls:
    """Pop the MPLS header; `ethertype` is the inner packet's, which must be known here."""

    ethertype: int

    def __str__(self) -> str:
        return f"pop_mpls:{self.ethertype:#06x}"


@dataclass(frozen=True)
class EncapNsh:
    md_type: int = 1

    def __str__(self) -> str:
        return f"encap(nsh(md_type={self.md_type}))"


@dataclass(frozen=True)
class Decap:
    def __str__(self) -> str:
        return "decap()"


@dataclass(frozen=True)
class GroupAction:
    group_id: int

    def __str__(self) -> str:
        return f"group:{self.group_id}"


@dataclass(frozen=True)
class Drop:
    def __str__(self) -> str:
        return "drop"


Action = Output | Resubmit | SetField | Move | PushMpls | PopMpls | EncapNsh | Decap | GroupAction | Drop

FlowKey = tuple[int, int, Match]


@dataclass(frozen=True)
class Flow:
    """One flow entry: apply `actions`, then (optionally) continue at `goto` table."""

    table: int
    priority: int
    match: Match
    actions: tuple[Action, ...] = ()
    goto: int | None = None
    cookie: int = 0

    @property
    def key(self) -> FlowKey:
        """A flow's identity in the switch: what delete-strict and modify-strict address."""
        return (self.table, self.priority, self.match)

    def same_behaviour(self, other: Flow) -> bool:
        """Equal actions, continuation and cookie: nothing to send to the switch."""
        return (self.actions, self.goto, self.cookie) == (other.actions, other.goto, other.cookie)

    def __str__(self) -> str:
        parts = [str(a) for a in self.actions]
        if self.goto is not None:
            parts.append(f"goto_table:{self.goto}")
        match = f",{self.match}" if self.match.fields else ""
        actions = ",".join(parts) or "drop"
        return f"cookie={self.cookie:#x},table={self.table},priority={self.priority}{match},actions={actions}"


@dataclass(frozen=True)
class Bucket:
    actions: tuple[Action, ...]
    weight: int = 1
    bucket_id: int | None = None

    def __str__(self) -> str:
        actions = ",".join(str(a) for a in self.actions)
        return f"bucket=weight:{self.weight},actions={actions}"


@dataclass(frozen=True)
class Group:
    """An OpenFlow group; `selection_fields` are the hash fields of a select group (OVS extension)."""

    group_id: int
    type: str  # "all" | "select" | "indirect" | "ff"
    buckets: tuple[Bucket, ...] = field(default_factory=tuple)
    selection_fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"group_id={self.group_id},type={self.type}"
        if self.selection_fields:
            head += f",selection_method=hash,fields({','.join(self.selection_fields)})"
        return ",".join([head, *(str(b) for b in self.buckets)])
