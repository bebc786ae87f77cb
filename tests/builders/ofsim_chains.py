"""Hand-written MPLS and NSH chains on the OpenFlow evaluator, and a VM packet to send through them."""

from __future__ import annotations

from typing import Any

from steerflow.flows import (
    Decap,
    EncapEthernet,
    EncapNsh,
    Flow,
    Match,
    Output,
    PopMpls,
    PushMpls,
    Resubmit,
    SetField,
)
from steerflow.ofsim import Packet, Switch

TCP = {"eth_type": 0x0800, "ip_proto": 6}
MPLS = {"eth_type": 0x8847}
NSH_BARE: dict[str, Any] = {"packet_type": "(1,0x894f)"}


def flow(
    table: int, priority: int, actions: tuple[object, ...], goto: int | None = None, **match: object
) -> Flow:
    return Flow(table, priority, Match.of(**match), tuple(actions), goto)  # type: ignore[arg-type]


def vm_packet(in_port: int = 1) -> Packet:
    return Packet.of(
        in_port=in_port,
        eth_src="fa:16:3e:00:00:01",
        eth_dst="fa:16:3e:00:00:02",
        eth_type=0x0800,
        ipv4_src="10.0.0.1",
        ipv4_dst="10.0.0.2",
        ip_proto=6,
        nw_ttl=64,
        tcp_src=33000,
        tcp_dst=80,
    ).with_payload(b"\x01\x02\x03")


def mpls_chain() -> Switch:
    """Port 1 classifies TCP/80 onto label 1001 towards port 9; labelled traffic back from port 9 is
    popped and delivered by destination port (a table reached by resubmit, so it returns)."""
    return Switch(
        [
            flow(0, 100, (PushMpls(), SetField("mpls_label", 1001), Output(9)), in_port=1, tcp_dst=80, **TCP),
            flow(0, 100, (), goto=10, in_port=9, **MPLS),
            flow(10, 50, (PopMpls(0x0800), Resubmit(20), SetField("reg0", 1)), mpls_label=1001, **MPLS),
            flow(20, 50, (Output(2),), tcp_dst=80, **TCP),
        ]
    )


def nsh_chain() -> Switch:
    """Port 1: wrap in NSH (SPI 0x123, SI 255), add Ethernet towards the function at port 9.
    Port 9: traffic with SI 254 loses its Ethernet header, then its NSH header, and is delivered."""
    encap = (
        EncapNsh(),
        SetField("nsh_spi", 0x123),
        SetField("nsh_c1", 0xC0FFEE),
        EncapEthernet(),
        SetField("eth_dst", "fa:16:3e:00:00:09"),
        Output(9),
    )
    return Switch(
        [
            flow(0, 100, encap, in_port=1, **TCP),
            flow(0, 100, (Decap(), Resubmit(40)), in_port=9, eth_type=0x894F, nsh_spi=0x123, nsh_si=254),
            flow(40, 10, (Decap(), Resubmit(50)), nsh_spi=0x123, **NSH_BARE),
            flow(50, 10, (Output(2),), tcp_dst=80, **TCP),
        ]
    )
