"""The plain L2 fabric: port binding, port security, ARP responder, per-network forwarding, tunnels.

Every chassis forwards for itself: a packet from a local port is looked up by destination MAC in its
network and goes straight to the local port or through Geneve (VNI = network key) to the chassis that
hosts the destination. Packets from a tunnel are only ever delivered locally, so nothing loops.

Service ports (the ingress and egress ports of port pairs, `LogicalPort.service`) are no part of the
fabric: floods leave them out (both flood groups, so a flood tunnelled to their chassis skips them too),
frames addressed to their MAC are dropped, their addresses are not answered for, every frame from
them goes to SFC_RETURN, where only a steered return goes on (anything else is dropped), and frames
from their own MAC (the function's own kernel talking) are dropped before that. A function
thus receives what a chain delivers to it and nothing else, and what it emits either continues that
chain or goes nowhere: a function that bridges everything cannot loop (docs/sfc.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from steerflow.compiler.tables import (
    ARP_RESPONDER,
    CLASSIFY,
    EGRESS,
    INGRESS_PORT,
    L2_LOOKUP,
    ND_REPLY,
    PORT_SECURITY,
    SFC_RETURN,
)
from steerflow.compiler.view import ChassisView, LogicalNetwork, LogicalPort, RemoteChassis
from steerflow.flows.types import (
    Action,
    Bucket,
    Flow,
    Group,
    GroupAction,
    Match,
    Move,
    Output,
    Resubmit,
    SetField,
)
from steerflow.pipeline import registers as reg
from steerflow.pipeline.cookies import CookieKind, cookie
from steerflow.pipeline.probe import PROBE_MAC

OFPP_IN_PORT = 0xFFFFFFF8
OFPP_CONTROLLER = 0xFFFFFFFD
ETH_IPV4, ETH_ARP, ETH_IPV6 = 0x0800, 0x0806, 0x86DD
ICMPV6, ND_SOLICIT, ND_ADVERT = 58, 135, 136
NA_SOLICITED_OVERRIDE = 0x60000000  # the S and O flags of a neighbour advertisement
ND_OPTION_TARGET_LL = 2
FLOOD_GROUP_BASE = 1 << 28  # + network key: flood to local ports and remote chassis
LOCAL_FLOOD_GROUP_BASE = 2 << 28  # + network key: flood to local ports only (packets from a tunnel)
FROM_TUNNEL = (reg.FLAG_FROM_TUNNEL, reg.FLAG_FROM_TUNNEL)
SERVICE_PORT_PRIORITY = 120  # above port security's own flows: a service port's frames go to SFC_RETURN
OWN_FRAME_PRIORITY = 125  # above that: what a function sends from its own MAC is never a return
PROBE_PRIORITY = 130  # above everything a service port sends: health probes go to the agent


def l2_flows(view: ChassisView) -> Iterator[Flow]:
    """Every flow of the L2 fabric on this chassis: the networks' flows, then each port's."""
    yield from network_flows(view)
    for port in view.ports:
        yield from port_flows(view, port)


def network_flows(view: ChassisView) -> Iterator[Flow]:
    """The flows of the L2 fabric that belong to no port: per network, and the tables' defaults."""
    for network in view.networks:
        yield _tunnel_ingress(view, network)
        yield from _network_floods(network)
        yield _no_answer_for_duplicate_address_detection(network)
    yield Flow(CLASSIFY, 0, Match(), goto=ARP_RESPONDER, cookie=cookie(CookieKind.INFRA))
    yield Flow(ARP_RESPONDER, 0, Match(), goto=L2_LOOKUP, cookie=cookie(CookieKind.INFRA))


def port_flows(view: ChassisView, port: LogicalPort) -> Iterator[Flow]:
    """The flows of the L2 fabric one port compiles to: they read the port, this chassis and the one
    the port is bound on, nothing else (so a port's change recompiles only its flows)."""
    if port.chassis == view.chassis and port.ofport is not None:
        yield from _port_ingress(port)
        yield from _service_port(port) if port.service else _port_security(port)
    yield _mac_lookup(view, port)
    if port.service:
        return  # not an endpoint: nobody is told its MAC, and nothing addressed to it passes
    yield from _arp_responder(port)
    yield from _nd_responder(port)
    yield from _egress(view, port)


def l2_groups(view: ChassisView) -> Iterator[Group]:
    """The two flood groups of every network."""
    local_by_network: dict[int, list[LogicalPort]] = {n.key: [] for n in view.networks}
    for port in view.local_ports():
        if not port.service:  # floods never reach a function
            local_by_network.setdefault(port.network_key, []).append(port)
    for network in view.networks:
        local = tuple(Bucket((Output(_ofport(p)),)) for p in local_by_network[network.key])
        remote = tuple(Bucket(_tunnel_to(view, r, network.key)) for r in view.remote_chassis_of(network.key))
        yield Group(FLOOD_GROUP_BASE + network.key, "all", local + remote)
        yield Group(LOCAL_FLOOD_GROUP_BASE + network.key, "all", local)


def _ofport(port: LogicalPort) -> int:
    assert port.ofport is not None, f"port {port.id} is not bound here"
    return port.ofport


def _port_ingress(port: LogicalPort) -> Iterator[Flow]:
    yield Flow(
        INGRESS_PORT,
        100,
        Match.of(in_port=_ofport(port)),
        (SetField(reg.NETWORK, port.network_key), SetField(reg.SRC_PORT, port.key)),
        goto=PORT_SECURITY,
        cookie=cookie(CookieKind.PORT, port.id),
    )


def _port_security(port: LogicalPort) -> Iterator[Flow]:
    """Only the port's own MAC and addresses pass; without port security everything passes."""
    ck = cookie(CookieKind.PORT, port.id)
    mine = Match.of(**{reg.NETWORK: port.network_key, reg.SRC_PORT: port.key})
    if not port.port_security:
        yield Flow(PORT_SECURITY, 100, mine, goto=CLASSIFY, cookie=ck)
        return
    own = mine.extend(eth_src=port.mac)
    for ip in port.ips:
        if ip.version == 4:
            yield Flow(
                PORT_SECURITY, 110, own.extend(eth_type=ETH_IPV4, ipv4_src=str(ip)), goto=CLASSIFY, cookie=ck
            )
            arp = own.extend(eth_type=ETH_ARP, arp_spa=str(ip), arp_sha=port.mac)
            yield Flow(PORT_SECURITY, 110, arp, goto=CLASSIFY, cookie=ck)
    for ip6 in _ipv6_sources(port):
        yield Flow(PORT_SECURITY, 110, own.extend(eth_type=ETH_IPV6, ipv6_src=ip6), goto=CLASSIFY, cookie=ck)
    yield Flow(PORT_SECURITY, 100, mine, cookie=ck)  # anything else from this port: drop


def _service_port(port: LogicalPort) -> Iterator[Flow]:
    """Everything from a service port to SFC_RETURN: a steered return goes on, the rest is dropped there.
    The same flow as a chain's instance unit holds for its egress (`chain._egress_returns`), so a port
    pair's removal leaves the returns of the views still retiring in place."""
    match = Match.of(**{reg.NETWORK: port.network_key, reg.SRC_PORT: port.key})
    ck = cookie(CookieKind.PORT, port.id)
    yield Flow(PORT_SECURITY, SERVICE_PORT_PRIORITY, match, goto=SFC_RETURN, cookie=ck)
    # Its own frames (the function's kernel: ARP, ND, MLD, pings) carry its MAC, a steered packet never
    # does (the forwarder keeps the original MACs and a service port is never classified): dropped,
    # even where the port alone would pass them as an unaware function's return.
    yield Flow(PORT_SECURITY, OWN_FRAME_PRIORITY, match.extend(eth_src=port.mac), cookie=ck)
    yield from _probe_catches(match, ck)


def _probe_catches(match: Match, ck: int) -> Iterator[Flow]:
    """A health probe coming back from a service port goes to the agent (docs/health.md), never on: the
    forwarded probe (from the probe MAC) and a function's answer to an ARP/ICMP/TCP check (to it)."""
    to_agent = (Output(OFPP_CONTROLLER),)
    yield Flow(PORT_SECURITY, PROBE_PRIORITY, match.extend(eth_src=PROBE_MAC), to_agent, cookie=ck)
    yield Flow(PORT_SECURITY, PROBE_PRIORITY, match.extend(eth_dst=PROBE_MAC), to_agent, cookie=ck)


def _ipv6_sources(port: LogicalPort) -> list[str]:
    """The IPv6 sources a port may use: its addresses, its EUI-64 link-local one, and :: for DAD."""
    own = [str(ip) for ip in port.ips if ip.version == 6]
    if not own:
        return []
    return [*own, str(_link_local(port.mac)), "::"]


def _link_local(mac: str) -> ipaddress.IPv6Address:
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    return ipaddress.IPv6Address(bytes([0xFE, 0x80, *([0] * 6), *eui]))


def _tunnel_ingress(view: ChassisView, network: LogicalNetwork) -> Flow:
    return Flow(
        INGRESS_PORT,
        100,
        Match.of(in_port=view.tunnel_ofport, tunnel_id=network.key),
        (SetField(reg.NETWORK, network.key), SetField(reg.FLAGS, reg.FLAG_FROM_TUNNEL)),
        goto=L2_LOOKUP,
        cookie=cookie(CookieKind.TUNNEL, network.id),
    )


def _mac_lookup(view: ChassisView, port: LogicalPort) -> Flow:
    """A known MAC to its port (a function's MAC: dropped, not flooded)."""
    to_mac = Match.of(**{reg.NETWORK: port.network_key}, eth_dst=port.mac)
    ck = cookie(CookieKind.NETWORK, view.network_ids[port.network_key])
    if port.service:
        return Flow(L2_LOOKUP, 100, to_mac, cookie=ck)
    return Flow(L2_LOOKUP, 100, to_mac, (SetField(reg.DST_PORT, port.key),), goto=EGRESS, cookie=ck)


def _network_floods(network: LogicalNetwork) -> Iterator[Flow]:
    """Unknown MACs are flooded (locally only when they came tunnelled)."""
    net = Match.of(**{reg.NETWORK: network.key})
    ck = cookie(CookieKind.NETWORK, network.id)
    yield Flow(L2_LOOKUP, 80, net, (GroupAction(FLOOD_GROUP_BASE + network.key),), cookie=ck)
    from_tunnel = net.extend(**{reg.FLAGS: FROM_TUNNEL})
    yield Flow(L2_LOOKUP, 85, from_tunnel, (GroupAction(LOCAL_FLOOD_GROUP_BASE + network.key),), cookie=ck)


def _arp_responder(port: LogicalPort) -> Iterator[Flow]:
    """Answer ARP requests for the port's IPv4 addresses right where they are asked."""
    for ip in port.ips:
        if ip.version != 4:
            continue
        match = Match.of(**{reg.NETWORK: port.network_key}, eth_type=ETH_ARP, arp_op=1, arp_tpa=str(ip))
        reply: tuple[Action, ...] = (
            Move("eth_src", "eth_dst", 48),
            SetField("eth_src", port.mac),
            SetField("arp_op", 2),
            Move("arp_sha", "arp_tha", 48),
            Move("arp_spa", "arp_tpa", 32),
            SetField("arp_sha", port.mac),
            SetField("arp_spa", str(ip)),
            Output(OFPP_IN_PORT),
        )
        yield Flow(ARP_RESPONDER, 100, match, reply, cookie=cookie(CookieKind.ARP, port.id))


def _nd_solicitation(network_key: int) -> Match:
    return Match.of(**{reg.NETWORK: network_key}, eth_type=ETH_IPV6, ip_proto=ICMPV6, icmpv6_type=ND_SOLICIT)


def _no_answer_for_duplicate_address_detection(network: LogicalNetwork) -> Flow:
    """A solicitation from :: probes for duplicates: the owner answers it, not us."""
    match = _nd_solicitation(network.key).extend(ipv6_src="::")
    return Flow(ARP_RESPONDER, 110, match, goto=L2_LOOKUP, cookie=cookie(CookieKind.NETWORK, network.id))


def _nd_responder(port: LogicalPort) -> Iterator[Flow]:
    """Answer neighbour solicitations for the port's IPv6 addresses with an advertisement.

    Two steps, because OVS checks a set_field's prerequisites against its own flow's match: the
    first turns the solicitation into an advertisement, the second (matching type 136) can then
    write the target link-layer address.
    """
    ck = cookie(CookieKind.ARP, port.id)
    for ip in port.ips:
        if ip.version != 6:
            continue
        turn_around: tuple[Action, ...] = (
            Move("eth_src", "eth_dst", 48),
            SetField("eth_src", port.mac),
            Move("ipv6_src", "ipv6_dst", 128),
            SetField("ipv6_src", str(ip)),
            SetField("icmpv6_type", ND_ADVERT),
            SetField("nd_reserved", NA_SOLICITED_OVERRIDE),
            SetField("nd_options_type", ND_OPTION_TARGET_LL),
            SetField(reg.FLAGS, reg.FLAG_ND_REPLY),
            Resubmit(ND_REPLY),
        )
        solicit = _nd_solicitation(port.network_key).extend(ipv6_nd_target=str(ip))
        yield Flow(ARP_RESPONDER, 100, solicit, turn_around, cookie=ck)
        advert = Match.of(
            **{reg.FLAGS: (reg.FLAG_ND_REPLY, reg.FLAG_ND_REPLY)},
            eth_type=ETH_IPV6, ip_proto=ICMPV6, icmpv6_type=ND_ADVERT, ipv6_nd_target=str(ip),
        )  # fmt: skip
        yield Flow(
            ND_REPLY, 100, advert, (SetField("ipv6_nd_tll", port.mac), Output(OFPP_IN_PORT)), cookie=ck
        )


def _egress(view: ChassisView, port: LogicalPort) -> Iterator[Flow]:
    ck = cookie(CookieKind.PORT, port.id)
    to_port = Match.of(**{reg.NETWORK: port.network_key, reg.DST_PORT: port.key})
    if port.chassis == view.chassis and port.ofport is not None:
        yield Flow(EGRESS, 100, to_port, (Output(port.ofport),), cookie=ck)
    elif port.chassis is not None and port.chassis in view.remotes:
        # same key as a local delivery, so a port moving between chassis is one modify-strict
        yield Flow(
            EGRESS, 100, to_port, _tunnel_to(view, view.remotes[port.chassis], port.network_key), cookie=ck
        )
        # never send back into a tunnel what came out of one: stale locations must not loop
        yield Flow(EGRESS, 110, to_port.extend(**{reg.FLAGS: FROM_TUNNEL}), cookie=ck)


def _tunnel_to(view: ChassisView, remote: RemoteChassis, network_key: int) -> tuple[Action, ...]:
    tunnel = (SetField("tun_ipv4_dst", remote.underlay_ip), SetField("tunnel_id", network_key))
    return (*tunnel, Output(view.tunnel_ofport))
