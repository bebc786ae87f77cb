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
        "and the network key; tunnel packets are mapped by VNI (and Geneve options).",
        ("in_port", "tun_id"),
        ("PORT_SECURITY", "SFC_RETURN", "L2_LOOKUP"),
    ),
    Table(
        10,
        "PORT_SECURITY",
        "Drop frames whose source MAC/IP are not the logical port's own (unless "
        "port security is disabled on it).",
        ("reg6", "eth_src", "ipv4_src", "ipv6_src", "arp_spa"),
        ("CLASSIFY",),
    ),
    Table(
        20,
        "CLASSIFY",
        "Flow classifiers: a packet that matches one gets its chain and hop in a "
        "register; others go on untouched.",
        ("reg6", "reg7", "eth_type", "ip prefixes", "ip_proto", "l4 ports"),
        ("SFC_ENCAP", "ARP_RESPONDER"),
    ),
    Table(
        30,
        "SFC_ENCAP",
        "Push the service header (MPLS label or NSH SPI/SI) for the classified chain.",
        ("reg2",),
        ("SFC_DISPATCH",),
    ),
    Table(
        31,
        "SFC_DISPATCH",
        "Pick the port pair of the current hop (select group with weights and hash "
        "fields) and send towards its ingress; after the last hop, strip the header.",
        ("mpls_label", "nsh_spi", "nsh_si"),
        ("SFC_PROXY_POP", "L2_LOOKUP", "EGRESS"),
    ),
    Table(
        32,
        "SFC_PROXY_POP",
        "For SFC-unaware functions: remember chain and hop per flow, then pop the header before delivery.",
        ("reg7",),
        ("EGRESS",),
    ),
    Table(
        33,
        "SFC_RETURN",
        "Traffic coming back from a function's egress port: advance the hop (re-push "
        "the header for unaware functions) and dispatch again.",
        ("reg6", "mpls_label", "nsh_spi"),
        ("SFC_DISPATCH",),
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
