"""The packet a trace follows: from a logical port to an address or a port, built from NB documents."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.model import schema
from steerflow.ofsim import Packet
from steerflow.trace.fabric import Docs

PROTOCOLS = {"udp": 17, "tcp": 6, "sctp": 132, "icmp": 1}
L4_FIELDS = {"udp": ("udp_src", "udp_dst"), "tcp": ("tcp_src", "tcp_dst"), "sctp": ("sctp_src", "sctp_dst")}
BROADCAST = "ff:ff:ff:ff:ff:ff"


class ProbeError(ValueError):
    """The packet cannot be built: an unknown or unbound port, an address the port does not have."""


@dataclass(frozen=True)
class Probe:
    source: str  # the port id
    chassis: str
    packet: Packet
    summary: str  # "udp 203.0.113.1:5000 -> 203.0.113.2:7"


def find_port(docs: Docs, ref: str) -> str:
    """A port's id from its id or its (unique) name."""
    ports = docs.get(schema.PORT, {})
    if ref in ports:
        return ref
    named = [pid for pid, doc in ports.items() if doc.get("name") == ref]
    if len(named) != 1:
        raise ProbeError(f"no port named {ref!r}" if not named else f"{len(named)} ports are named {ref!r}")
    return named[0]


def probe(
    docs: Docs,
    source: str,
    to: str,
    *,
    proto: str = "udp",
    dport: int | None = None,
    sport: int = 5000,
    ipv6: bool = False,
) -> Probe:
    """The datagram `source` (a port) sends to `to` (an address, or a port: its first address)."""
    sid = find_port(docs, source)
    binding = docs.get(schema.PORT_BINDING, {}).get(sid)
    if binding is None or binding.get("ofport") is None:
        raise ProbeError(f"port {source!r} is not bound to any chassis")
    src_doc = docs[schema.PORT][sid]
    src_ip = _address(src_doc, ipv6, f"port {source!r}")
    dst_ip, dst_mac = _destination(docs, to, ipv6)
    fields: dict[str, Any] = {
        "in_port": int(binding["ofport"]),
        "eth_src": src_doc.get("mac_address", "02:00:00:00:00:01"),
        "eth_dst": dst_mac,
        "eth_type": 0x86DD if ipv6 else 0x0800,
        "ip_proto": _proto_number(proto, ipv6),
        ("ipv6_src" if ipv6 else "ipv4_src"): src_ip,
        ("ipv6_dst" if ipv6 else "ipv4_dst"): dst_ip,
    }
    if proto in L4_FIELDS:
        src_field, dst_field = L4_FIELDS[proto]
        fields[src_field], fields[dst_field] = sport, 7 if dport is None else dport
    ports = f":{sport}" if proto in L4_FIELDS else ""
    dports = f":{7 if dport is None else dport}" if proto in L4_FIELDS else ""
    summary = f"{proto} {src_ip}{ports} -> {dst_ip}{dports}"
    return Probe(sid, str(binding[schema.CHASSIS]), Packet.of(**fields), summary)


def _proto_number(proto: str, ipv6: bool) -> int:
    if proto not in PROTOCOLS:
        raise ProbeError(f"unknown protocol {proto!r} (one of {', '.join(PROTOCOLS)})")
    return 58 if (ipv6 and proto == "icmp") else PROTOCOLS[proto]


def _address(doc: Mapping[str, Any], ipv6: bool, what: str) -> str:
    version = 6 if ipv6 else 4
    for entry in doc.get("fixed_ips", []):
        address = str(entry.get("ip_address", ""))
        if address and ipaddress.ip_address(address).version == version:
            return address
    raise ProbeError(f"{what} has no IPv{version} address")


def _destination(docs: Docs, to: str, ipv6: bool) -> tuple[str, str]:
    """(address, MAC) of `to`: a port's, or an address's port (broadcast MAC if no port has it)."""
    try:
        address = ipaddress.ip_address(to)
    except ValueError:
        pid = find_port(docs, to)
        doc = docs[schema.PORT][pid]
        return _address(doc, ipv6, f"port {to!r}"), str(doc.get("mac_address", BROADCAST))
    if (address.version == 6) != ipv6:
        raise ProbeError(f"{to} is not an IPv{6 if ipv6 else 4} address" + ("" if ipv6 else " (use --ipv6)"))
    for doc in docs.get(schema.PORT, {}).values():
        if any(str(e.get("ip_address")) == str(address) for e in doc.get("fixed_ips", [])):
            return str(address), str(doc.get("mac_address", BROADCAST))
    return str(address), BROADCAST
