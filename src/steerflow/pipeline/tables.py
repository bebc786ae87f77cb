"""Every table of br-int's pipeline: its number, purpose, what it matches and where packets go next.

This module is the single source of truth: the compiler takes table numbers from here and
`docs/pipeline.md` is generated from it (`python -m steerflow.pipeline.tables`), so the two never drift.
A packet's journey: identify where it came from, check it is who it claims to be, classify it for a
chain, steer it along the chain's hops, then deliver it by ordinary L2 forwarding, locally or through a
Geneve tunnel to the chassis where the next hop or the destination lives.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    id: int
    name: str
    purpose: str
    matches: tuple[str, ...]
    next_tables: tuple[str, ...]


PIPELINE: tuple[Table, ...] = (
    Table(
        0,
        "INGRESS_PORT",
        "Map the input port to its logical port and network: set the source port key "
        "and the network key; tunnel packets by VNI (a network, or one function instance).",
        ("in_port", "tunnel_id"),
        ("PORT_SECURITY", "L2_LOOKUP", "SFC_DELIVER"),
    ),
    Table(
        10,
        "PORT_SECURITY",
        "Drop frames whose source MAC/IP are not the logical port's own (unless "
        "port security is disabled on it).",
        ("reg6", "eth_src", "ipv4_src", "ipv6_src", "arp_spa"),
        ("CLASSIFY", "SFC_RETURN"),
    ),
    Table(
        20,
        "CLASSIFY",
        "Flow classifiers: a packet that matches one gets its chain and hop in a "
        "register; others go on untouched.",
        ("reg6", "reg7", "eth_type", "ip prefixes", "ip_proto", "l4 ports"),
        ("SFC_DISPATCH", "ARP_RESPONDER"),
    ),
    Table(
        30,
        "SFC_DISPATCH",
        "Traffic heading to a hop (its label in reg2): a hop with one function picks it (reg4); "
        "otherwise multipath hashes the plain packet's lb_fields into one of the hop's balance slots "
        "(reg9). The exit label hands the packet back to L2.",
        ("reg2",),
        ("SFC_BALANCE", "SFC_ENCAP", "L2_LOOKUP"),
    ),
    Table(
        31,
        "SFC_BALANCE",
        "A hop's balance slot to the function that owns it (reg4): each function owns slots in "
        "proportion to its weight, and keeps most of them when the group's membership changes.",
        ("reg2", "reg9"),
        ("SFC_ENCAP",),
    ),
    Table(
        32,
        "SFC_ENCAP",
        "Push the chain's service header (the encapsulation driver's: MPLS label, NSH SPI/SI and "
        "metadata) unless the chosen function is local and does not understand it; a function whose "
        "header cannot be read back (NSH MD2) gets its connection committed first (ct_mark = hop, "
        "ct_label = origin) and its header from SFC_METADATA.",
        ("reg2", "reg4", "eth_type"),
        ("SFC_METADATA", "SFC_DELIVER"),
    ),
    Table(
        33,
        "SFC_DELIVER",
        "Hand the packet to the chosen function (reg4): locally (popping the header for an unaware "
        "function: the proxy), or through Geneve to its chassis with the function's delivery VNI. "
        "A tracked function's tunnelled arrivals: hop and origin from the header, stripped, to "
        "SFC_ENCAP again.",
        ("reg4", "eth_type", "mpls_tc", "nsh_spi", "nsh_si"),
        ("SFC_ENCAP",),
    ),
    Table(
        34,
        "SFC_RETURN",
        "Traffic coming back from a function's egress port: tell the hop from the header (or, for an "
        "unaware function, from the port), strip it, and dispatch to the next hop. An unaware function "
        "serving several hops, or losing NSH metadata: conntrack in its zone recalls the connection's "
        "hop and origin (ct(table=SFC_RETURN_CT)), after an aware one's header is stripped (reg5 flag).",
        ("metadata", "reg6", "reg5", "mpls_label", "nsh_spi"),
        ("SFC_DISPATCH", "SFC_RETURN_CT"),
    ),
    Table(
        35,
        "SFC_RETURN_CT",
        "A tracked function's IP traffic after conntrack: the hop its delivery committed as the "
        "connection's ct_mark (with the egress port) gives the next hop, ct_label the origin (reg8); "
        "unknown connections are dropped.",
        ("metadata", "reg6", "ct_mark"),
        ("SFC_DISPATCH",),
    ),
    Table(
        36,
        "SFC_METADATA",
        "Per chain and origin port (reg8): push a header whose metadata cannot come from a register "
        "(NSH MD type 2: the TLVs are static values), the path from reg3; reached by resubmit from "
        "SFC_ENCAP, so its flows grow with ports, not with hops and instances.",
        ("reg3", "reg8"),
        (),
    ),
    Table(
        40,
        "ARP_RESPONDER",
        "Answer ARP requests and IPv6 neighbour solicitations for known addresses locally.",
        ("metadata", "arp_tpa", "ipv6_nd_target"),
        ("ND_REPLY", "L2_LOOKUP"),
    ),
    Table(
        41,
        "ND_REPLY",
        "Second half of the IPv6 ND responder: the packet is an advertisement now, so its target "
        "link-layer address can be written (OVS checks prerequisites against each flow's own match).",
        ("reg5", "icmpv6_type", "ipv6_nd_target"),
        (),
    ),
    Table(
        50,
        "L2_LOOKUP",
        "Destination MAC within the network: set the destination port key, or flood "
        "broadcast/unknown to the network's ports.",
        ("metadata", "eth_dst"),
        ("EGRESS",),
    ),
    Table(
        60,
        "EGRESS",
        "Deliver to a local port, or tunnel to the chassis hosting the destination port.",
        ("reg7",),
        (),
    ),
)

BY_NAME: dict[str, Table] = {t.name: t for t in PIPELINE}


def table_id(name: str) -> int:
    """A table's number by name (KeyError names the typo)."""
    return BY_NAME[name].id


def render_markdown() -> str:
    """docs/pipeline.md, generated from PIPELINE."""
    lines = [
        "# br-int pipeline",
        "",
        "Generated from `steerflow.pipeline.tables`; do not edit.",
        "",
        "| table | name | purpose | matches | next |",
        "|---|---|---|---|---|",
    ]
    for t in PIPELINE:
        lines.append(
            f"| {t.id} | {t.name} | {t.purpose} | {', '.join(t.matches)} | {', '.join(t.next_tables)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
