"""Classifiers and the packets that probe them, for the classification tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steerflow.compiler.classify import (
    classifier_matches,
)
from steerflow.flows.types import Flow, Output
from steerflow.model.sfc import Ethertype, FlowClassifier, Protocol
from steerflow.ofsim import Packet, Switch

IN, OUT = 1, 2
V4, V6 = Ethertype.IPV4, Ethertype.IPV6
TCP, UDP, ICMP = Protocol.TCP, Protocol.UDP, Protocol.ICMP
ADDRS = {V4: ("192.0.2.10", "198.51.100.20"), V6: ("2001:db8:a::10", "2001:db8:b::20")}
PROTO_NUMBERS = {"tcp": 6, "udp": 17, "icmp4": 1, "icmp6": 58, "sctp": 132, "none": 0}


def fc(**attrs: Any) -> FlowClassifier:
    return FlowClassifier(id=attrs.pop("id", "fc"), **attrs)


@dataclass(frozen=True)
class Pkt:
    """A test packet: ethertype ("arp" too), addresses, protocol name, L4 ports."""

    ethertype: str = "IPv4"
    src: str | None = None
    dst: str | None = None
    proto: str = "tcp"
    sport: int = 40000
    dport: int = 80

    def packet(self) -> Packet:
        if self.ethertype == "arp":
            return Packet.of(in_port=IN, eth_type=0x0806, arp_op=1, arp_spa="192.0.2.10", arp_tpa="192.0.2.1")
        kind = Ethertype(self.ethertype)
        src, dst = self.src or ADDRS[kind][0], self.dst or ADDRS[kind][1]
        ip = "ipv4" if kind is V4 else "ipv6"
        fields: dict[str, Any] = {"in_port": IN, "eth_type": 0x0800 if kind is V4 else 0x86DD}
        fields |= {f"{ip}_src": src, f"{ip}_dst": dst, "ip_proto": PROTO_NUMBERS[self.proto]}
        if self.proto in ("tcp", "udp", "sctp"):
            fields |= {f"{self.proto}_src": self.sport, f"{self.proto}_dst": self.dport}
        elif self.proto == "icmp4":
            fields["icmpv4_type"] = 8
        elif self.proto == "icmp6":
            fields["icmpv6_type"] = 128
        return Packet.of(**fields)


def switch_for(classifier: FlowClassifier) -> Switch:
    return Switch([Flow(0, 100, m, (Output(OUT),)) for m in classifier_matches(classifier)])
