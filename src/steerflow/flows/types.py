"""Flows and groups as frozen values: what the compiler produces and the reconciler diffs.

Values are canonical (MACs lower case, IPs compressed, fields sorted) so that two compilations of the
same input compare equal and a flow's identity, `FlowKey` = (table, priority, match), is stable. Every
type renders in ovs-ofctl syntax (`str()`), which docs, traces and tests compare against dumped flows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

FieldValue = int | str

_MAC_FIELDS = frozenset({"eth_src", "eth_dst", "arp_sha", "arp_tha", "ipv6_nd_sll", "ipv6_nd_tll"})
_IP_FIELDS = frozenset(
    {"ipv4_src", "ipv4_dst", "arp_spa", "arp_tpa", "ipv6_src", "ipv6_dst", "ipv6_nd_target", "tun_ipv4_dst"}
)


# os-ken (OXM) names that ovs-ofctl rejects ("unknown keyword"), and the name it accepts instead.
OFCTL_NAMES: dict[str, str] = {
    "ipv4_src": "nw_src",
    "ipv4_dst": "nw_dst",
    "icmpv4_type": "icmp_type",
    "icmpv4_code": "icmp_code",
    "ipv6_flabel": "ipv6_label",
    "ipv6_nd_target": "nd_target",
    "ipv6_nd_sll": "nd_sll",
    "ipv6_nd_tll": "nd_tll",
    "tun_ipv4_src": "tun_src",
    "tun_ipv4_dst": "tun_dst",
}


def ofctl_name(name: str) -> str:
    """How ovs-ofctl spells a field that os-ken names `name`."""
    return OFCTL_NAMES.get(name, name)


def canonical_value(name: str, value: FieldValue) -> FieldValue:
    """The one spelling of a field value: lower-case MACs and compressed IP addresses."""
    if isinstance(value, str) and name in _MAC_FIELDS:
        return value.lower()
    if isinstance(value, str) and name in _IP_FIELDS:
        return str(ipaddress.ip_address(value))
    return value


@dataclass(frozen=True, order=True, slots=True)
class Field:
    """One match field: an OXM/NXM name as os-ken spells it, a value and an optional mask."""

    name: str
    value: FieldValue
    mask: FieldValue | None = None

    def __str__(self) -> str:
        name = ofctl_name(self.name)
        if self.name == "in_port":  # ovs-ofctl reads port numbers in decimal only
            return f"{name}={self.value}"
        if self.mask is None:
            return f"{name}={_fmt(self.value)}"
        return f"{name}={_fmt(self.value)}/{_fmt(self.mask)}"


def _fmt(value: FieldValue) -> str:
    return hex(value) if isinstance(value, int) and value > 9 else str(value)


@dataclass(frozen=True, slots=True)
class Match:
    """A conjunction of fields, kept sorted by name so equal matches are equal values."""

    fields: tuple[Field, ...] = ()

    @classmethod
    def of(cls, **kwargs: FieldValue | tuple[FieldValue, FieldValue]) -> Match:
        """`Match.of(in_port=3, eth_dst="02:..", reg6=(5, 0xffff))`: a tuple is (value, mask)."""
        built = []
        for name, spec in kwargs.items():
            if isinstance(spec, str) and name in _IP_FIELDS and "/" in spec:
                built.append(_cidr_field(name, spec))
            elif isinstance(spec, tuple):
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


def _cidr_field(name: str, text: str) -> Field:
    """`"10.0.0.0/24"` as value and dotted mask (host bits cleared; a full-length prefix is no mask)."""
    network = ipaddress.ip_network(text, strict=False)
    if network.prefixlen == network.max_prefixlen:
        return Field(name, str(network.network_address))
    return Field(name, str(network.network_address), str(network.netmask))


@dataclass(frozen=True, slots=True)
class Output:
    port: int

    def __str__(self) -> str:
        return f"output:{self.port}"


@dataclass(frozen=True, slots=True)
class Resubmit:
    """Nicira resubmit to another table (returns afterwards, unlike goto)."""

    table: int
    in_port: int | None = None

    def __str__(self) -> str:
        port = "" if self.in_port is None else str(self.in_port)
        return f"resubmit({port},{self.table})"


@dataclass(frozen=True, slots=True)
class SetField:
    name: str
    value: FieldValue

    def __str__(self) -> str:
        return f"set_field:{_fmt(canonical_value(self.name, self.value))}->{ofctl_name(self.name)}"


@dataclass(frozen=True, slots=True)
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
        src, dst = ofctl_name(self.src), ofctl_name(self.dst)
        return f"move:{src}[{self.src_ofs}..{src_end}]->{dst}[{self.dst_ofs}..{dst_end}]"


@dataclass(frozen=True, slots=True)
class Ct:
    """Nicira conntrack: track the packet in `zone`; `commit` stores the connection (running `actions`,
    set_field/move into ct_mark, on it); `table` recirculates a copy there with ct_state/ct_mark known.
    The packet needs an IP match (eth_type 0x0800/0x86dd)."""

    commit: bool = False
    zone: int = 0
    table: int | None = None
    actions: tuple[SetField | Move, ...] = ()

    def __str__(self) -> str:
        parts = ["commit"] if self.commit else []
        parts += [] if self.table is None else [f"table={self.table}"]
        parts.append(f"zone={self.zone}")
        if self.actions:
            parts.append(f"exec({','.join(str(a) for a in self.actions)})")
        return f"ct({','.join(parts)})"


# multipath's hash field sets and link-choice algorithms, by their ovs-ofctl names (NX_HASH_FIELDS_*,
# NX_MP_ALG_* in wire order: the position is the number on the wire).
MULTIPATH_FIELDS = (
    "eth_src",
    "symmetric_l4",
    "symmetric_l3l4",
    "symmetric_l3l4+udp",
    "nw_src",
    "nw_dst",
    "symmetric_l3",
)
MULTIPATH_ALGORITHMS = ("modulo_n", "hash_threshold", "hrw", "iter_hash")


@dataclass(frozen=True, slots=True)
class Multipath:
    """Nicira multipath: hash the packet's `fields` set, pick a link in [0, n_links), write it to `dst`.

    Computed by ovs-vswitchd per flow (the hashed fields are un-wildcarded, so each hashed tuple gets
    its own megaflow). The wire carries `n_links - 1` (max_link); ovs-ofctl's text carries n_links.
    """

    fields: str  # one of MULTIPATH_FIELDS
    basis: int
    algorithm: str  # one of MULTIPATH_ALGORITHMS
    n_links: int
    arg: int
    dst: str
    ofs: int = 0
    n_bits: int = 16

    def __str__(self) -> str:
        end = self.ofs + self.n_bits - 1
        head = f"{self.fields},{self.basis},{self.algorithm},{self.n_links},{self.arg}"
        return f"multipath({head},{ofctl_name(self.dst)}[{self.ofs}..{end}])"


@dataclass(frozen=True, slots=True)
class PushMpls:
    ethertype: int = 0x8847

    def __str__(self) -> str:
        return f"push_mpls:{self.ethertype:#06x}"


@dataclass(frozen=True, slots=True)
class PopMpls:
    """Pop the MPLS header; `ethertype` is the inner packet's, which must be known here."""

    ethertype: int

    def __str__(self) -> str:
        return f"pop_mpls:{self.ethertype:#06x}"


@dataclass(frozen=True, slots=True)
class PushVlan:
    """Push an 802.1Q tag (VID 0, PCP 0 on an untagged packet); set `vlan_vid` after it (0x1000 | VID)."""

    ethertype: int = 0x8100

    def __str__(self) -> str:
        return f"push_vlan:{self.ethertype:#06x}"


@dataclass(frozen=True, slots=True)
class PopVlan:
    """Pop the outermost VLAN tag."""

    def __str__(self) -> str:
        return "pop_vlan"


@dataclass(frozen=True, slots=True)
class NshTlv:
    """One NSH MD type 2 context header: metadata class, type and value bytes."""

    md_class: int
    type: int
    value: bytes

    def __str__(self) -> str:
        return f"tlv({self.md_class:#x},{self.type},0x{self.value.hex()})"


@dataclass(frozen=True, slots=True)
class EncapNsh:
    """Wrap the packet (its Ethernet header included) in NSH; the result has no Ethernet header."""

    md_type: int = 1
    tlvs: tuple[NshTlv, ...] = ()

    def __str__(self) -> str:
        tlvs = "".join(f",{t}" for t in self.tlvs)
        return f"encap(nsh(md_type={self.md_type}{tlvs}))"


@dataclass(frozen=True, slots=True)
class EncapEthernet:
    """Add an Ethernet header (zero MACs, eth_type from the packet type) to a packet that has none."""

    def __str__(self) -> str:
        return "encap(ethernet)"


@dataclass(frozen=True, slots=True)
class Decap:
    def __str__(self) -> str:
        return "decap()"


@dataclass(frozen=True, slots=True)
class GroupAction:
    group_id: int

    def __str__(self) -> str:
        return f"group:{self.group_id}"


@dataclass(frozen=True, slots=True)
class Clone:
    """Nicira clone: run `actions` on a copy of the packet; the packet and its pipeline state
    (registers, metadata, tunnel fields) are restored afterwards, so what they change does not leak out."""

    actions: tuple[Action, ...]

    def __str__(self) -> str:
        return f"clone({','.join(str(a) for a in self.actions)})"


@dataclass(frozen=True, slots=True)
class Drop:
    def __str__(self) -> str:
        return "drop"


@dataclass(frozen=True, slots=True)
class Opaque:
    """Something a switch reported that these types do not model, kept as reported.

    Only flows someone else wrote contain it (the codec decodes them so the reconciler can compare
    and delete them): `kind` "action" or "instruction" carries the wire bytes as hex, "flow" the
    flow's timeouts and flags ("idle_timeout=..,hard_timeout=..,flags=..").
    """

    kind: str
    data: str

    def __str__(self) -> str:
        return f"opaque({self.kind}:{self.data})"


Action = (
    Output
    | Resubmit
    | SetField
    | Move
    | Multipath
    | Ct
    | PushMpls
    | PopMpls
    | PushVlan
    | PopVlan
    | EncapNsh
    | EncapEthernet
    | Decap
    | GroupAction
    | Clone
    | Drop
    | Opaque
)

FlowKey = tuple[int, int, Match]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Bucket:
    """A group bucket; `watch_port` is the liveness port a fast-failover ("ff") bucket needs."""

    actions: tuple[Action, ...]
    weight: int = 1
    bucket_id: int | None = None
    watch_port: int | None = None

    def __str__(self) -> str:
        return self.render(weighted=True)

    def render(self, weighted: bool) -> str:
        """ovs-ofctl syntax; OVS refuses a weight on a bucket of any group but a select group."""
        parts = [] if self.bucket_id is None else [f"bucket_id:{self.bucket_id}"]
        if weighted:
            parts.append(f"weight:{self.weight}")
        if self.watch_port is not None:
            parts.append(f"watch_port:{self.watch_port}")
        parts.append("actions=" + ",".join(str(a) for a in self.actions))
        return "bucket=" + ",".join(parts)


@dataclass(frozen=True, slots=True)
class Group:
    """An OpenFlow group; `selection_fields` are the hash fields of a select group (OVS extension)."""

    group_id: int
    type: str  # "all" | "select" | "indirect" | "ff"
    buckets: tuple[Bucket, ...] = field(default_factory=tuple)
    selection_fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"group_id={self.group_id},type={self.type}"
        if self.selection_fields:
            fields = ",".join(ofctl_name(f) for f in self.selection_fields)
            head += f",selection_method=hash,fields({fields})"
        weighted = self.type == "select"
        return ",".join([head, *(b.render(weighted) for b in self.buckets)])


def index_flows(flows: Iterable[Flow]) -> dict[FlowKey, Flow]:
    """Flows by key; two flows with one key are a compiler bug, reported loudly."""
    indexed: dict[FlowKey, Flow] = {}
    for flow in flows:
        if flow.key in indexed and indexed[flow.key] != flow:
            raise ValueError(f"two flows share table/priority/match: {indexed[flow.key]} and {flow}")
        indexed[flow.key] = flow
    return indexed
