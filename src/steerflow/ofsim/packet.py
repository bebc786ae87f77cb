"""Packet: an immutable set of header fields and pipeline metadata, with MPLS label stack and NSH layers.

A packet is pipeline metadata (in_port, registers, metadata, tunnel fields) plus a `Frame`: the outermost
headers. A frame may carry an MPLS label stack (the L3 headers under it stay, hidden: their prerequisite
eth_type is now MPLS) or an NSH header wrapping an inner frame. As in OVS, `encap(nsh)` leaves a packet
without an Ethernet header (packet_type (1,0x894f)) until `encap(ethernet)` adds one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from steerflow.flows.types import NshTlv, ofctl_name
from steerflow.ofsim import fields as fd
from steerflow.ofsim.errors import PipelineError, UnknownField
from steerflow.ofsim.fields import FieldSpec, FieldValue, Layer

IntFields = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class MplsLse:
    """One label stack entry; bottom-of-stack is where it sits, not a stored bit."""

    label: int
    tc: int = 0
    ttl: int = 64


@dataclass(frozen=True)
class Nsh:
    """An NSH header as OVS's `encap(nsh)` builds it (ttl 63, si 255, spi 0)."""

    spi: int = 0
    si: int = 255
    md_type: int = 1
    np: int = 3
    flags: int = 0
    ttl: int = 63
    c1: int = 0
    c2: int = 0
    c3: int = 0
    c4: int = 0
    tlvs: tuple[NshTlv, ...] = ()


_NSH_ATTR = {"nsh_mdtype": "md_type"}
_MPLS_ATTR = {"mpls_label": "label", "mpls_tc": "tc", "mpls_ttl": "ttl"}
# NSH next-protocol numbers, from the packet type they wrap
_NP_BY_TYPE = {fd.ETH_IPV4: 1, fd.ETH_IPV6: 2, fd.ETH_NSH: 4, fd.ETH_MPLS: 5}
_TYPE_BY_NP = {v: k for k, v in _NP_BY_TYPE.items()}
NP_ETHERNET = 3


@dataclass(frozen=True)
class Frame:
    """The headers of one packet layer: Ethernet or bare (packet_type (1,eth_type)), label stack, NSH."""

    fields: IntFields = ()
    ethernet: bool = True
    mpls: tuple[MplsLse, ...] = ()
    mpls_payload_type: int = 0  # the ethertype under the label stack, 0 when unknown
    nsh: Nsh | None = None
    inner: Frame | None = None  # what the NSH header wraps
    payload: bytes = b""

    @cached_property
    def values(self) -> dict[str, int]:
        return dict(self.fields)

    def with_values(self, values: Mapping[str, int]) -> Frame:
        return replace(self, fields=tuple(sorted(values.items())))


def _sorted(values: Mapping[str, int]) -> IntFields:
    return tuple(sorted(values.items()))


@dataclass(frozen=True)
class Packet(Mapping[str, FieldValue]):
    """`packet["eth_dst"]`, `packet.set(reg6=5)`: a mapping of the fields a flow could match right now.

    Keys are os-ken names (aliases such as `dl_dst`, `tun_id`, `nw_src` are accepted for reading and
    setting); MACs and IPs read back as canonical strings, everything else as ints. A field hidden by
    encapsulation (ipv4_src under an MPLS label) or absent reads as missing; `value()` gives the integer
    a match compares (0 when absent, like OVS's zeroed flow)."""

    meta: IntFields = ()
    frame: Frame = Frame()

    @classmethod
    def of(cls, **fields: FieldValue) -> Packet:
        """A packet from field values; mpls_* fields give a one-label stack, nsh_* fields an NSH header.

        Payload bytes come with `with_payload()`."""
        specs = {fd.canonical_name(k): v for k, v in fields.items()}
        mpls = {k: v for k, v in specs.items() if fd.SPECS[k].layer is Layer.MPLS}
        nsh = {k: v for k, v in specs.items() if fd.SPECS[k].layer is Layer.NSH}
        plain = {k: v for k, v in specs.items() if k not in mpls and k not in nsh}
        packet = cls().set(**plain)
        if mpls:
            packet = packet._with_label(mpls)
        if nsh:
            packet = packet._with_nsh(nsh)
        return packet

    @classmethod
    def parse(cls, text: str) -> Packet:
        """A packet from ovs-ofctl flow syntax, as `ofproto/trace` takes it: "in_port=3,tcp,nw_dst=10.0.0.2,
        tp_dst=80". Protocol keywords (ip, tcp, udp6, arp, mpls...) set eth_type and ip_proto."""
        values: dict[str, FieldValue] = {}
        for item in _split_top_level(text):
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep:
                values.update(_PROTOCOLS[name] if name in _PROTOCOLS else _unknown_keyword(name))
            elif name in ("tp_src", "tp_dst"):
                values[name] = int(value, 0)
            else:
                values[name] = value.strip()
        return cls.of(**_resolve_tp(values))

    def _with_label(self, values: Mapping[str, FieldValue]) -> Packet:
        eth_type = self.value("eth_type") if "eth_type" in self.frame.values else fd.ETH_MPLS
        if eth_type not in fd.MPLS_TYPES:
            raise ValueError(f"mpls fields need an MPLS eth_type, not {eth_type:#06x}")
        lse = MplsLse(
            **{_MPLS_ATTR[k]: fd.to_int(fd.SPECS[k], v) for k, v in values.items() if k in _MPLS_ATTR}
        )
        frame = self.frame.with_values({**self.frame.values, "eth_type": eth_type})
        return self._replace_frame(replace(frame, mpls=(lse,)))

    def _with_nsh(self, values: Mapping[str, FieldValue]) -> Packet:
        attrs: dict[str, Any] = {_nsh_attr(k): fd.to_int(fd.SPECS[k], v) for k, v in values.items()}
        nsh = Nsh(**attrs)
        frame = self.frame.with_values({**self.frame.values, "eth_type": fd.ETH_NSH})
        return self._replace_frame(replace(frame, nsh=nsh))

    # -- reading ---------------------------------------------------------------------------------

    @cached_property
    def _meta(self) -> dict[str, int]:
        return dict(self.meta)

    @property
    def packet_type(self) -> int:
        if self.frame.ethernet:
            return fd.PT_ETHERNET
        return fd.packet_type_of(1, self.frame.values.get("eth_type", 0))

    @property
    def mpls(self) -> tuple[MplsLse, ...]:
        return self.frame.mpls

    @property
    def nsh(self) -> Nsh | None:
        return self.frame.nsh

    @property
    def payload(self) -> bytes:
        frame = self.frame
        while frame.inner is not None:
            frame = frame.inner
        return frame.payload

    def value(self, name: str) -> int:
        """The integer a match compares for `name`, prerequisites aside (0 when the packet lacks it)."""
        return self.raw(fd.spec(name))

    def raw(self, spec: FieldSpec) -> int:
        """`value()` for a resolved field spec (the hot path of matching)."""
        if spec.name == "packet_type":
            return self.packet_type
        if spec.layer is Layer.META:
            return self._meta.get(spec.name, 0)
        if spec.layer is Layer.HEADER:
            return self.frame.values.get(spec.name, 0)
        if spec.layer is Layer.MPLS:
            return self._mpls_value(spec.name)
        nsh = self.frame.nsh
        return 0 if nsh is None else _nsh_value(nsh, spec.name)

    def _mpls_value(self, name: str) -> int:
        if not self.frame.mpls:
            return 0
        if name == "mpls_bos":
            return int(len(self.frame.mpls) == 1)
        top: int = getattr(self.frame.mpls[0], _MPLS_ATTR[name])
        return top

    def satisfies(self, spec: FieldSpec) -> bool:
        """Whether the packet has this field now: every prerequisite (eth_type, ip_proto...) holds."""
        return all(self.holds(c) for c in spec.prereqs)

    def holds(self, cond: fd.Condition) -> bool:
        value = self.value(cond.field)
        return (value if cond.mask is None else value & cond.mask) in cond.values

    def _present(self, spec: FieldSpec) -> bool:
        if spec.layer is Layer.META:
            return spec.name in self._meta or (spec.name == "packet_type" and not self.frame.ethernet)
        if spec.layer is Layer.HEADER:
            return spec.name in self.frame.values and self.satisfies(spec)
        if spec.layer is Layer.MPLS:
            return bool(self.frame.mpls) and self.satisfies(spec)
        return self.frame.nsh is not None and self.satisfies(spec)

    def __getitem__(self, name: str) -> FieldValue:
        spec = fd.spec(name)
        if not self._present(spec):
            raise KeyError(name)
        return fd.from_int(spec, self.raw(spec))

    def get(self, name: str, default: FieldValue | None = None) -> FieldValue | None:  # type: ignore[override]
        """Like `dict.get`, but an unknown field name raises `UnknownField` (a typo is not an absence)."""
        spec = fd.spec(name)
        return fd.from_int(spec, self.raw(spec)) if self._present(spec) else default

    def __iter__(self) -> Iterator[str]:
        return (name for name, spec in fd.SPECS.items() if self._present(spec))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # -- immutable updates -----------------------------------------------------------------------

    def set(self, **fields: FieldValue) -> Packet:
        """A copy with these fields set (prerequisites are the pipeline's business, not checked here)."""
        meta, headers, rest = dict(self._meta), dict(self.frame.values), []
        for name, value in fields.items():
            spec = fd.spec(name)
            number = fd.to_int(spec, value)
            if spec.layer is Layer.META and spec.name != "packet_type":
                meta[spec.name] = number
            elif spec.layer is Layer.HEADER:
                headers[spec.name] = number
            else:
                rest.append((spec.name, number))
        packet = replace(self, meta=_sorted(meta), frame=self.frame.with_values(headers))
        for name, number in rest:  # packet_type, MPLS and NSH fields: one at a time, in order
            packet = packet.set_int(name, number)
        return packet

    def set_int(self, name: str, number: int) -> Packet:
        spec = fd.SPECS[name]
        if spec.name == "packet_type":
            return self._set_packet_type(number)
        if spec.layer is Layer.META:
            return replace(self, meta=_sorted({**self._meta, name: number}))
        if spec.layer is Layer.HEADER:
            return self._replace_frame(self.frame.with_values({**self.frame.values, name: number}))
        if spec.layer is Layer.MPLS:
            return self._set_mpls(name, number)
        return self._set_nsh(name, number)

    def _set_packet_type(self, number: int) -> Packet:
        values = dict(self.frame.values)
        if number != fd.PT_ETHERNET:
            values["eth_type"] = number & 0xFFFF
        return self._replace_frame(replace(self.frame.with_values(values), ethernet=number == fd.PT_ETHERNET))

    def _set_mpls(self, name: str, number: int) -> Packet:
        if not self.frame.mpls:
            raise PipelineError(f"{name}: the packet has no MPLS label")
        if name == "mpls_bos":
            raise PipelineError("mpls_bos is read-only: it follows from the stack depth")
        top = replace(self.frame.mpls[0], **{_MPLS_ATTR[name]: number})
        return self._replace_frame(replace(self.frame, mpls=(top, *self.frame.mpls[1:])))

    def _set_nsh(self, name: str, number: int) -> Packet:
        if self.frame.nsh is None:
            raise PipelineError(f"{name}: the packet has no NSH header")
        attrs: dict[str, Any] = {_nsh_attr(name): number}
        return self._replace_frame(replace(self.frame, nsh=replace(self.frame.nsh, **attrs)))

    def without(self, *names: str) -> Packet:
        """A copy without these metadata or header fields."""
        drop = {fd.canonical_name(n) for n in names}
        meta = {k: v for k, v in self._meta.items() if k not in drop}
        values = {k: v for k, v in self.frame.values.items() if k not in drop}
        return replace(self, meta=_sorted(meta), frame=self.frame.with_values(values))

    def with_payload(self, payload: bytes) -> Packet:
        return self._replace_frame(_with_innermost_payload(self.frame, payload))

    def _replace_frame(self, frame: Frame) -> Packet:
        return replace(self, frame=frame)

    # -- encapsulation (the semantics of the corresponding actions) ------------------------------

    def push_mpls(self, ethertype: int = fd.ETH_MPLS) -> Packet:
        """OVS push_mpls: a new top label copying the old top, or label 0 with TC/TTL from the IP header."""
        stack = self.frame.mpls
        if stack:
            lse = stack[0]
        elif self.holds(fd.IP_ANY):
            ttl = self.value("nw_ttl") or 64
            lse = MplsLse(label=0, tc=self.value("ip_dscp") & 0x7, ttl=ttl)
        else:
            lse = MplsLse(label=0)
        under = self.frame.mpls_payload_type if stack else self.value("eth_type")
        frame = self.frame.with_values({**self.frame.values, "eth_type": ethertype})
        return self._replace_frame(replace(frame, mpls=(lse, *stack), mpls_payload_type=under))

    def pop_mpls(self, ethertype: int) -> Packet:
        """OVS pop_mpls; wrong ethertypes, which OVS would obey and so corrupt the packet, raise."""
        stack = self.frame.mpls
        if not stack:
            raise PipelineError("pop_mpls: the packet has no MPLS label")
        if len(stack) > 1 and ethertype not in fd.MPLS_TYPES:
            raise PipelineError(
                f"pop_mpls:{ethertype:#06x} with {len(stack)} labels: the label below is not the bottom "
                "of the stack, the ethertype must be MPLS"
            )
        under = self.frame.mpls_payload_type
        if len(stack) == 1 and under and ethertype != under:
            raise PipelineError(
                f"pop_mpls:{ethertype:#06x} but the packet under the label is {under:#06x}: OVS would "
                "parse it as the wrong protocol"
            )
        frame = self.frame.with_values({**self.frame.values, "eth_type": ethertype})
        payload_type = under if len(stack) > 1 else 0
        return self._replace_frame(replace(frame, mpls=stack[1:], mpls_payload_type=payload_type))

    def push_vlan(self) -> Packet:
        """OVS push_vlan: a tag (VID 0 and PCP 0 on an untagged packet); eth_type stays the inner
        type, as OVS matches it. A second tag (QinQ) is not modelled."""
        if not self.frame.ethernet:
            raise PipelineError("push_vlan: the packet has no Ethernet header")
        if self.value("vlan_vid") & fd.VLAN_PRESENT:
            raise PipelineError("push_vlan: a second VLAN tag (QinQ) is not modelled")
        values = {**self.frame.values, "vlan_vid": fd.VLAN_PRESENT, "vlan_pcp": 0}
        return self._replace_frame(self.frame.with_values(values))

    def pop_vlan(self) -> Packet:
        """OVS pop_vlan: the outermost tag goes (nothing happens to an untagged packet)."""
        values = {k: v for k, v in self.frame.values.items() if k not in ("vlan_vid", "vlan_pcp")}
        return self._replace_frame(self.frame.with_values(values))

    def encap_nsh(self, md_type: int = 1, tlvs: tuple[NshTlv, ...] = ()) -> Packet:
        """Wrap the whole frame in NSH; the result has no Ethernet header (packet_type (1,0x894f))."""
        np = NP_ETHERNET if self.frame.ethernet else _NP_BY_TYPE.get(self.value("eth_type"), 0)
        if not np:
            raise PipelineError(f"encap(nsh): cannot encapsulate packet type {self.value('packet_type'):#x}")
        nsh = Nsh(md_type=md_type, np=np, tlvs=tlvs if md_type == 2 else ())
        frame = Frame(fields=(("eth_type", fd.ETH_NSH),), ethernet=False, nsh=nsh, inner=self.frame)
        return self._replace_frame(frame)

    def encap_ethernet(self) -> Packet:
        """Add an Ethernet header with zero MACs to a packet that has none."""
        if self.frame.ethernet:
            raise PipelineError("encap(ethernet): the packet already has an Ethernet header")
        values = {**self.frame.values, "eth_src": 0, "eth_dst": 0}
        return self._replace_frame(replace(self.frame.with_values(values), ethernet=True))

    def decap(self) -> Packet:
        """Strip the outer header: Ethernet (leaving packet_type (1,eth_type)) or NSH (its inner frame)."""
        if self.frame.ethernet:
            if self.value("vlan_vid") & fd.VLAN_PRESENT:
                raise PipelineError("decap(): cannot pop an Ethernet header with a VLAN tag")
            values = {k: v for k, v in self.frame.values.items() if fd.SPECS[k].prereqs[:1] != (fd.ETHERNET,)}
            return self._replace_frame(replace(self.frame.with_values(values), ethernet=False))
        nsh = self.frame.nsh
        if nsh is None or self.value("eth_type") != fd.ETH_NSH:
            raise PipelineError(f"decap(): cannot decap packet type {self.packet_type:#x}")
        return self._replace_frame(self.frame.inner or _bare_frame(nsh.np))

    # -- rendering -------------------------------------------------------------------------------

    def ovs_flow(self) -> str:
        """The visible fields in ovs-ofctl flow syntax (what `ofproto/trace` accepts as a flow)."""
        return ",".join(f"{ofctl_name(name)}={fd.render(fd.SPECS[name], self.value(name))}" for name in self)

    def __str__(self) -> str:
        extra = []
        if len(self.frame.mpls) > 1:
            labels = ",".join(f"{e.label}/tc={e.tc}/ttl={e.ttl}" for e in self.frame.mpls)
            extra.append(f"mpls stack [{labels}]")
        if self.frame.nsh is not None and self.frame.nsh.tlvs:
            extra.append("md2 " + ",".join(str(t) for t in self.frame.nsh.tlvs))
        if self.frame.inner is not None:
            extra.append("inner " + Packet(frame=self.frame.inner).ovs_flow())
        if self.payload:
            extra.append(f"payload {len(self.payload)} bytes")
        return " | ".join([self.ovs_flow(), *extra])


_PROTOCOLS: dict[str, dict[str, FieldValue]] = {
    "ip": {"eth_type": fd.ETH_IPV4},
    "ipv6": {"eth_type": fd.ETH_IPV6},
    "arp": {"eth_type": fd.ETH_ARP},
    "mpls": {"eth_type": fd.ETH_MPLS},
    **{
        name: {"eth_type": fd.ETH_IPV4, "ip_proto": proto}
        for name, proto in (("tcp", 6), ("udp", 17), ("sctp", 132), ("icmp", 1))
    },
    **{
        f"{name}6": {"eth_type": fd.ETH_IPV6, "ip_proto": proto}
        for name, proto in (("tcp", 6), ("udp", 17), ("sctp", 132), ("icmp", 58))
    },
}
_L4 = {6: "tcp", 17: "udp", 132: "sctp"}


def _unknown_keyword(name: str) -> dict[str, FieldValue]:
    raise UnknownField(f"unknown keyword {name!r}")


def _resolve_tp(values: dict[str, FieldValue]) -> dict[str, FieldValue]:
    """ovs-ofctl's tp_src/tp_dst name the L4 port of whatever ip_proto says."""
    proto = values.get("ip_proto", values.get("nw_proto"))
    resolved = {k: v for k, v in values.items() if k not in ("tp_src", "tp_dst")}
    for end in ("src", "dst"):
        if f"tp_{end}" in values:
            prefix = _L4.get(int(proto, 0) if isinstance(proto, str) else proto or 0)
            if prefix is None:
                raise ValueError(f"tp_{end} needs tcp, udp or sctp")
            resolved[f"{prefix}_{end}"] = values[f"tp_{end}"]
    return resolved


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses (packet_type=(1,0x894f) is one item)."""
    items, depth, current = [], 0, ""
    for char in text.strip():
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [i for i in (*items, current) if i.strip()]


def _nsh_attr(name: str) -> str:
    return _NSH_ATTR.get(name, name.removeprefix("nsh_"))


def _nsh_value(nsh: Nsh, name: str) -> int:
    value: int = getattr(nsh, _nsh_attr(name))
    return value


def _bare_frame(np: int) -> Frame:
    """The frame under an NSH header built without one (Packet.of with nsh_* fields): headers unknown."""
    if np == NP_ETHERNET:
        return Frame()
    if np not in _TYPE_BY_NP:
        raise PipelineError(f"decap(): NSH next protocol {np} is not one OVS can decapsulate")
    return Frame(fields=(("eth_type", _TYPE_BY_NP[np]),), ethernet=False)


def _with_innermost_payload(frame: Frame, payload: bytes) -> Frame:
    if frame.inner is None:
        return replace(frame, payload=payload)
    return replace(frame, inner=_with_innermost_payload(frame.inner, payload))
