"""The simulated connection tracker: marks and labels per (zone, connection) that ct(commit) stores,
ct(table=) reads.

Enough for the proxy's per-flow state, not a firewall: a connection is the unordered pair of (address,
L4 port) ends plus the IP protocol (both directions are one connection); there are no timeouts, no TCP
state machine, no NAT, no helpers (ALGs). ct_state after a lookup is +trk plus +new (not
committed yet) or +est (committed); +rpl, +rel and +inv are never set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from steerflow.ofsim.packet import Packet

CS_NEW, CS_ESTABLISHED, CS_TRACKED = 0x01, 0x02, 0x20

Connection = tuple[int, int, frozenset[tuple[int, int]]]  # zone, ip_proto, {(address, l4 port)} x2
_L4_PORTS = (("tcp_src", "tcp_dst"), ("udp_src", "udp_dst"), ("sctp_src", "sctp_dst"))


@dataclass
class Conntrack:
    """The committed connections of one switch, their marks and labels (kept across `Switch.run` calls)."""

    marks: dict[Connection, int] = field(default_factory=dict)
    labels: dict[Connection, int] = field(default_factory=dict)

    def commit(self, zone: int, packet: Packet, mark: int, label: int = 0) -> None:
        self.marks[connection(zone, packet)] = mark
        self.labels[connection(zone, packet)] = label

    def lookup(self, zone: int, packet: Packet) -> Packet:
        """`packet` as ct(table=) recirculates it: ct_state, ct_zone and (if committed) ct_mark and
        ct_label set."""
        conn = connection(zone, packet)
        mark = self.marks.get(conn)
        state = CS_TRACKED | (CS_NEW if mark is None else CS_ESTABLISHED)
        label = self.labels.get(conn, 0)
        return packet.set(ct_state=state, ct_zone=zone, ct_mark=mark or 0, ct_label=label)


def connection(zone: int, packet: Packet) -> Connection:
    src, dst = _address(packet, "src"), _address(packet, "dst")
    sport, dport = 0, 0
    for s, d in _L4_PORTS:
        if packet.get(s) is not None:
            sport, dport = packet.value(s), packet.value(d)
    proto = packet.value("ip_proto") if packet.get("ip_proto") is not None else 0
    return zone, proto, frozenset({(src, sport), (dst, dport)})


def _address(packet: Packet, end: str) -> int:
    for name in (f"ipv4_{end}", f"ipv6_{end}"):
        if packet.get(name) is not None:
            return packet.value(name)
    return 0
