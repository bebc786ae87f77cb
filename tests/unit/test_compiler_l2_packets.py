"""The L2 fabric, packet by packet through the simulated switch of each chassis."""

import pytest

from steerflow.compiler.compile import compile_chassis
from steerflow.compiler.tables import L2_LOOKUP, ND_REPLY
from steerflow.compiler.view import build_view
from steerflow.model import schema
from steerflow.ofsim import Packet, Switch
from tests.builders.l2_docs import NET_B, TUNNEL, l2_nb, l2_port

MAC1, MAC2, MAC3 = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"
IP1, IP2 = "203.0.113.1", "203.0.113.2"


def _switch(chassis: str) -> Switch:
    state = compile_chassis(build_view(l2_nb(), chassis, TUNNEL))
    return Switch(state.flows.values(), state.groups.values(), reject_overlaps=True)


def _udp(in_port: int, src: str, dst: str, ip_src: str = IP1, ip_dst: str = IP2) -> Packet:
    return Packet.of(
        in_port=in_port, eth_src=src, eth_dst=dst, eth_type=0x0800, ip_proto=17,
        ipv4_src=ip_src, ipv4_dst=ip_dst, udp_src=1000, udp_dst=7,
    )  # fmt: skip


def test_unicast_to_a_remote_port_goes_through_the_tunnel_with_the_network_vni() -> None:
    out = _switch("ch1").run(_udp(5, MAC1, MAC2)).only(TUNNEL)
    assert (out["tun_ipv4_dst"], out["tunnel_id"]) == ("198.51.100.12", 10)


def test_a_tunnelled_packet_is_delivered_to_the_local_port() -> None:
    packet = _udp(TUNNEL, MAC1, MAC2).set(tunnel_id=10)
    assert _switch("ch2").run(packet).ports == (7,)


def test_spoofed_source_mac_or_ip_is_dropped() -> None:
    switch = _switch("ch1")
    assert switch.run(_udp(5, "02:00:00:00:00:99", MAC2)).dropped
    assert switch.run(_udp(5, MAC1, MAC2, ip_src="203.0.113.99")).dropped
    assert switch.run(_udp(5, MAC1, MAC2)).ports == (TUNNEL,)


def test_port_without_security_may_send_anything_but_stays_in_its_network() -> None:
    trace = _switch("ch1").run(_udp(6, "02:00:00:00:00:99", MAC1))
    assert 5 not in trace.ports  # MAC1 is in the other network: flooded in net B only, nobody there


def test_arp_request_is_answered_locally() -> None:
    request = Packet.of(
        in_port=5, eth_src=MAC1, eth_dst="ff:ff:ff:ff:ff:ff", eth_type=0x0806,
        arp_op=1, arp_spa=IP1, arp_sha=MAC1, arp_tpa=IP2, arp_tha="00:00:00:00:00:00",
    )  # fmt: skip
    reply = _switch("ch1").run(request).only(5)  # OFPP_IN_PORT: back where it came from
    assert (reply["arp_op"], reply["arp_sha"], reply["arp_spa"]) == (2, MAC2, IP2)
    assert (reply["eth_dst"], reply["arp_tpa"], reply["arp_tha"]) == (MAC1, IP1, MAC1)


@pytest.mark.parametrize(
    (schema.CHASSIS, "in_port", "expected"), [("ch1", 5, [TUNNEL]), ("ch2", TUNNEL, [7])]
)
def test_broadcast_floods_the_network_but_never_back_into_a_tunnel(
    chassis: str, in_port: int, expected: list[int]
) -> None:
    packet = (
        _udp(in_port, MAC1, "ff:ff:ff:ff:ff:ff").set(tunnel_id=10)
        if in_port == TUNNEL
        else _udp(in_port, MAC1, "ff:ff:ff:ff:ff:ff")
    )
    assert sorted(_switch(chassis).run(packet).ports) == expected


def test_neighbour_solicitation_is_answered_with_an_advertisement() -> None:

    nb = l2_nb()
    nb[schema.PORT]["p5"] = l2_port("p5", NET_B, 5, "02:00:00:00:00:05", "2001:db8::5")
    state = compile_chassis(build_view(nb, "ch1", TUNNEL))
    switch = Switch(state.flows.values(), state.groups.values(), reject_overlaps=True)
    solicit = Packet.of(
        in_port=6, eth_src=MAC3, eth_dst="33:33:ff:00:00:05", eth_type=0x86DD, ip_proto=58,
        ipv6_src="2001:db8::3", ipv6_dst="ff02::1:ff00:5", icmpv6_type=135, icmpv6_code=0,
        ipv6_nd_target="2001:db8::5", ipv6_nd_sll=MAC3,
    )  # fmt: skip
    advert = switch.run(solicit).only(6)
    assert (advert["icmpv6_type"], advert["ipv6_nd_target"], advert["ipv6_nd_tll"]) == (
        136,
        "2001:db8::5",
        "02:00:00:00:00:05",
    )
    assert (advert["eth_src"], advert["eth_dst"]) == ("02:00:00:00:00:05", MAC3)
    assert (advert["ipv6_src"], advert["ipv6_dst"]) == ("2001:db8::5", "2001:db8::3")
    assert (advert["nd_reserved"], advert["nd_options_type"]) == (0x60000000, 2)
    # duplicate address detection (from ::) is left to the owner: flooded, not answered
    dad = switch.run(solicit.set(ipv6_src="::"))
    assert ND_REPLY not in [hop.table for hop in dad.hops] and L2_LOOKUP in [hop.table for hop in dad.hops]
