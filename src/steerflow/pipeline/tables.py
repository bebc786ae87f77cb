"""Every table of br-int's pipeline: its number, purpose, the fields it matches, where packets go next
and the priorities its flows use.

This module is the single source of truth: the compiler takes table numbers from here,
`pipeline.check` holds every compiled flow to the declaration (fields, targets, priority bands), and
`docs/pipeline.md` is generated from it (`python -m steerflow.pipeline.tables`), so the three never drift.
A packet's journey: identify where it came from, check it is who it claims to be, classify it for a
chain, steer it along the chain's hops, then deliver it by ordinary L2 forwarding, locally or through a
Geneve tunnel to the chassis where the next hop or the destination lives.
"""

from __future__ import annotations

from dataclasses import dataclass

from steerflow.pipeline import registers as reg
from steerflow.pipeline.cookies import OWNER_KINDS, PURPOSES, CookieKind

_ADDRESSES = ("ipv4_src", "ipv4_dst", "ipv6_src", "ipv6_dst")  # a classifier's prefixes
_L4_PORTS = ("tcp_src", "tcp_dst", "udp_src", "udp_dst")  # a classifier's port ranges
# What a classifier's matches may hold besides its logical ports (CLASSIFY, and SFC_BRANCH, where a graph's
# destination chains classify): eth_src, vlan_vid, ip_dscp, ip_ecn and tcp_flags come from classification
# groups only.
_CLASSIFIER_FIELDS = (
    "eth_src",
    "eth_dst",
    "eth_type",
    "vlan_vid",
    *_ADDRESSES,
    "ip_proto",
    "ip_dscp",
    "ip_ecn",
    *_L4_PORTS,
    "tcp_flags",
)
# In a table's `matches`: the fields of a service header, which the encapsulation drivers declare
# (`EncapDriver.header_fields`: MPLS label and TC, NSH MD type, SPI and SI, a third party's own).
HEADER = "service header"


@dataclass(frozen=True)
class Band:
    """A named range of priorities (both ends included) for one kind of flow of a table."""

    name: str
    low: int
    high: int

    def __contains__(self, priority: object) -> bool:
        return isinstance(priority, int) and self.low <= priority <= self.high

    def __str__(self) -> str:
        span = str(self.low) if self.low == self.high else f"{self.low}-{self.high}"
        return f"{self.name} {span}"


@dataclass(frozen=True)
class Table:
    """One table. `matches`: the OXM/NXM fields (as `steerflow.flows` names them) its flows may match;
    `next_tables`: where its flows may go (goto_table, forward only); `resubmits`: where their actions
    may send the packet and come back (resubmit, or conntrack's recirculation `ct(table=)`);
    `bands`: the priorities its flows may have."""

    id: int
    name: str
    purpose: str
    matches: tuple[str, ...]
    next_tables: tuple[str, ...]
    resubmits: tuple[str, ...] = ()
    bands: tuple[Band, ...] = ()

    def band_of(self, priority: int) -> Band | None:
        return next((b for b in self.bands if priority in b), None)


PIPELINE: tuple[Table, ...] = (
    Table(
        0,
        "INGRESS_PORT",
        "Map the input port to its logical port and network: set the source port key "
        "and the network key; tunnel packets by VNI (a network, or one function instance).",
        ("in_port", "tunnel_id"),
        ("PORT_SECURITY", "L2_LOOKUP", "SFC_DELIVER"),
        bands=(Band("port or VNI", 100, 100),),
    ),
    Table(
        10,
        "PORT_SECURITY",
        "Drop frames whose source MAC/IP are not the logical port's own (unless "
        "port security is disabled on it); a service port's frames (a port pair's ingress or egress) "
        "skip it, to SFC_RETURN, except those from its own MAC (the function's own traffic): dropped; "
        "a health probe coming back from a service port (from or to the probe MAC) goes to the agent.",
        (
            reg.NETWORK,
            reg.SRC_PORT,
            "eth_src",
            "eth_dst",
            "eth_type",
            "ipv4_src",
            "ipv6_src",
            "arp_spa",
            "arp_sha",
        ),
        ("CLASSIFY", "SFC_RETURN"),
        bands=(
            Band("per port", 100, 100),
            Band("own address", 110, 110),
            Band("function return", 120, 120),
            Band("a function's own frame", 125, 125),
            Band("health probe", 130, 130),
        ),
    ),
    Table(
        20,
        "CLASSIFY",
        "Flow classifiers: a packet that matches one gets its chain and hop in a "
        "register; others go on untouched (IPv6 neighbour discovery is never steered).",
        (
            reg.NETWORK,
            reg.SRC_PORT,
            *_CLASSIFIER_FIELDS,
            "icmpv6_type",
        ),
        ("SFC_DISPATCH", "ARP_RESPONDER"),
        bands=(Band("miss", 0, 0), Band("classifier", 99, 100), Band("neighbour discovery", 110, 110)),
    ),
    Table(
        30,
        "SFC_DISPATCH",
        "Traffic heading to a hop (its label in reg2): a hop with one function picks it (reg4); "
        "otherwise multipath hashes the plain packet's lb_fields into one of the hop's balance slots "
        "(reg9). The exit label hands the packet back to L2, or, for a service graph's source chain, "
        "to SFC_BRANCH. A tap hop (per inner ethertype) clones the packet to its function (reg4, the "
        "header pushed in the clone, then SFC_DELIVER) and dispatches the packet itself, unaltered, to "
        "the next label. A checked group with no healthy function (docs/health.md) dispatches to the "
        "next label (fail_mode open) or drops (closed, under the hop's cookie).",
        (reg.HOP, "eth_type"),
        ("SFC_BALANCE", "SFC_ENCAP", "SFC_BRANCH", "L2_LOOKUP"),
        resubmits=("SFC_DELIVER", "SFC_METADATA", "SFC_DISPATCH"),
        bands=(Band("hop or exit", 100, 100),),
    ),
    Table(
        31,
        "SFC_BALANCE",
        "A hop's balance slot to the function that owns it (reg4): each function owns slots in "
        "proportion to its weight, and keeps most of them when the group's membership changes; a "
        "failed function's slots go to the healthy ones, whose own slots stay.",
        (reg.HOP, reg.SLOT),
        ("SFC_ENCAP",),
        bands=(Band("slot", 100, 100),),
    ),
    Table(
        32,
        "SFC_ENCAP",
        "Push the chain's service header (the encapsulation driver's: MPLS label, NSH SPI/SI and "
        "metadata) unless the chosen function is local and does not understand it; a function whose "
        "header cannot be read back (NSH MD2) gets its connection committed first (ct_mark = hop, "
        "ct_label = origin) and its header from SFC_METADATA.",
        (reg.HOP, reg.INSTANCE, "eth_type"),
        ("SFC_DELIVER",),
        resubmits=("SFC_METADATA",),
        bands=(Band("instance", 100, 100),),
    ),
    Table(
        33,
        "SFC_DELIVER",
        "Hand the packet to the chosen function (reg4): locally (popping the header for an unaware "
        "function: the proxy), or through Geneve to its chassis with the function's delivery VNI. "
        "A tracked function's tunnelled arrivals: hop and origin from the header, stripped, to "
        "SFC_ENCAP again.",
        (reg.INSTANCE, "eth_type", HEADER),
        (),
        resubmits=("SFC_ENCAP",),
        bands=(
            Band("deliver", 100, 100),
            Band("tracked", 105, 105),
            Band("proxy", 110, 110),
            Band("tracked arrival", 115, 115),
        ),
    ),
    Table(
        34,
        "SFC_RETURN",
        "Traffic coming back from a function's egress port: tell the hop from the header (or, for an "
        "unaware function, from the port), strip it, and dispatch to the next hop. An unaware function "
        "serving several hops, or losing NSH metadata: conntrack in its zone recalls the connection's "
        "hop and origin (ct(table=SFC_RETURN_CT)), after an aware one's header is stripped (reg5 flag). "
        "Every frame from a service port (a port pair's ingress or egress) comes here: what is not a "
        "steered return (neighbour discovery, non-IP from an unaware function, unknown) is dropped; "
        "so is whatever a tap function sends.",
        (reg.NETWORK, reg.SRC_PORT, reg.FLAGS, "eth_type", HEADER, "ip_proto", "icmpv6_type"),
        (),
        resubmits=("SFC_DISPATCH", "SFC_RETURN", "SFC_RETURN_CT"),
        bands=(
            Band("miss", 0, 0),
            Band("tap drop", 90, 90),
            Band("return", 100, 100),
            Band("neighbour discovery", 130, 130),
        ),
    ),
    Table(
        35,
        "SFC_RETURN_CT",
        "A tracked function's IP traffic after conntrack: the hop its delivery committed as the "
        "connection's ct_mark (with the egress port) gives the next hop, ct_label the origin (reg8); "
        "unknown connections are dropped.",
        (reg.NETWORK, reg.SRC_PORT, "ct_mark"),
        (),
        resubmits=("SFC_DISPATCH",),
        bands=(Band("recall", 100, 100),),
    ),
    Table(
        36,
        "SFC_METADATA",
        "Per chain and origin port (reg8): push a header whose metadata cannot come from a register "
        "(NSH MD type 2: the TLVs are static values), the path from reg3; reached by resubmit from "
        "SFC_ENCAP, so its flows grow with ports, not with hops and instances.",
        (reg.NSH_PATH, reg.ORIGIN),
        (),
        bands=(Band("any origin", 1, 1), Band("origin", 100, 100)),
    ),
    Table(
        37,
        "SFC_BRANCH",
        "Service graphs: a source chain's traffic leaving its last hop (its exit label in reg2) enters "
        "the destination chain whose classifiers match the packet as the functions left it, their "
        "logical source port ignored (reg2 = that chain's first hop, dispatched again); no match "
        "leaves the graph: plain L2 in the source chain's home network.",
        (reg.HOP, *_CLASSIFIER_FIELDS),
        ("L2_LOOKUP",),
        resubmits=("SFC_DISPATCH",),
        bands=(Band("leave the graph", 1, 1), Band("branch", 100, 100)),
    ),
    Table(
        40,
        "ARP_RESPONDER",
        "Answer ARP requests and IPv6 neighbour solicitations for known addresses locally.",
        (
            reg.NETWORK,
            "eth_type",
            "arp_op",
            "arp_tpa",
            "ip_proto",
            "icmpv6_type",
            "ipv6_src",
            "ipv6_nd_target",
        ),
        ("L2_LOOKUP",),
        resubmits=("ND_REPLY",),
        bands=(Band("miss", 0, 0), Band("answer", 100, 100), Band("duplicate address detection", 110, 110)),
    ),
    Table(
        41,
        "ND_REPLY",
        "Second half of the IPv6 ND responder: the packet is an advertisement now, so its target "
        "link-layer address can be written (OVS checks prerequisites against each flow's own match).",
        (reg.FLAGS, "eth_type", "ip_proto", "icmpv6_type", "ipv6_nd_target"),
        (),
        bands=(Band("advertisement", 100, 100),),
    ),
    Table(
        50,
        "L2_LOOKUP",
        "Destination MAC within the network: set the destination port key, or flood "
        "broadcast/unknown to the network's ports (only the local ones for a tunnelled packet); "
        "service ports get no flood, and frames addressed to them are dropped.",
        (reg.NETWORK, reg.FLAGS, "eth_dst"),
        ("EGRESS",),
        bands=(Band("flood", 80, 80), Band("flood from tunnel", 85, 85), Band("known MAC", 100, 100)),
    ),
    Table(
        60,
        "EGRESS",
        "Deliver to a local port, or tunnel to the chassis hosting the destination port (never "
        "back into a tunnel what came out of one).",
        (reg.NETWORK, reg.DST_PORT, reg.FLAGS),
        (),
        bands=(Band("per port", 100, 100), Band("no re-tunnel", 110, 110)),
    ),
)

BY_NAME: dict[str, Table] = {t.name: t for t in PIPELINE}
BY_ID: dict[int, Table] = {t.id: t for t in PIPELINE}


def table_id(name: str) -> int:
    """A table's number by name (KeyError names the typo)."""
    return BY_NAME[name].id


def render_markdown() -> str:
    """docs/pipeline.md, generated from PIPELINE."""
    lines = [
        "# br-int pipeline",
        "",
        "Generated from `steerflow.pipeline.tables`; do not edit. Every flow the compiler emits is held",
        "to it by `steerflow.pipeline.check` (tests/unit/test_pipeline_check.py compiles every scenario",
        "the tests use): it matches only the fields its table declares, goes (`goto_table`) or",
        "resubmits (`resubmit`, `ct(table=)`) only where its table declares, and its priority lies in",
        'one of its table\'s bands. "service header" stands for the fields of the installed',
        "encapsulation drivers' headers (each driver's `header_fields`: MPLS label and TC, NSH MD type,",
        "SPI and SI, a third party's own; docs/encap.md).",
        "",
        "| table | name | purpose | matches | goto | resubmit | priority bands |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in PIPELINE:
        cells = (
            str(t.id),
            t.name,
            t.purpose,
            ", ".join(t.matches),
            ", ".join(t.next_tables),
            ", ".join(t.resubmits),
            ", ".join(str(b) for b in t.bands),
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Cookies",
        "",
        "A flow's cookie is its kind (top byte) and 56 bits of the id of the NB object it was compiled",
        "for (`steerflow.pipeline.cookies`); `cookies.owner` maps it back to that object.",
        "",
        "| kind | top byte | NB kind of the id | flows |",
        "|---|---|---|---|",
    ]
    for kind in CookieKind:
        owner = OWNER_KINDS.get(kind, "none")
        lines.append(f"| {kind.name} | {int(kind):#04x} | {owner} | {PURPOSES[kind]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
