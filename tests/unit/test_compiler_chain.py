"""Chains through the simulated switches of several chassis: classification, hops, proxy, exit."""

from typing import Any

import pytest

from steerflow.compiler.compile import compile_nb
from steerflow.compiler.encap.nsh import md2_tlvs, project_digest
from steerflow.compiler.tables import SFC_METADATA
from steerflow.flows.types import Ct
from steerflow.model import schema
from tests.builders.chain_docs import (
    SERVER,
    TUNNEL,
    chain_nb,
    chain_port,
    chain_switch,
    single_output,
    udp_packet,
)


def test_unaware_function_on_another_chassis_gets_a_plain_packet_and_the_chain_ends_at_the_server() -> None:
    nb = chain_nb(correlation=None)
    port, tunnelled = single_output(chain_switch(nb, "ch1").run(udp_packet()))
    assert port == TUNNEL and tunnelled["tunnel_id"] == (1 << 23) + 5
    assert (tunnelled["eth_type"], tunnelled["mpls_label"]) == (0x8847, 100)  # the header rides in Geneve
    ch2 = chain_switch(nb, "ch2")
    port, delivered = single_output(ch2.run(tunnelled.set(in_port=TUNNEL)))
    assert port == 3 and delivered["eth_type"] == 0x0800  # the proxy popped it
    assert (delivered["eth_dst"], delivered["udp_dst"]) == (SERVER, 7)  # original headers untouched
    port, at_server = single_output(ch2.run(delivered.set(in_port=4)))  # the function sends it back out
    assert port == 2 and at_server["eth_type"] == 0x0800


def test_mpls_aware_function_gets_the_label_and_returns_it() -> None:
    nb = chain_nb(correlation="mpls", sf_chassis="ch1")
    ch1 = chain_switch(nb, "ch1")
    port, to_sf = single_output(ch1.run(udp_packet()))
    assert port == 3 and (to_sf["eth_type"], to_sf["mpls_label"]) == (0x8847, 100)
    port, onward = single_output(ch1.run(to_sf.set(in_port=4)))
    assert port == TUNNEL and onward["eth_type"] == 0x0800 and onward["tunnel_id"] == 7  # plain L2 to ch2
    assert single_output(chain_switch(nb, "ch2").run(onward.set(in_port=TUNNEL)))[0] == 2


def test_unclassified_traffic_is_untouched() -> None:
    nb = chain_nb(correlation=None)
    tcp = udp_packet(ip_proto=6, tcp_src=5000, tcp_dst=80).without("udp_src", "udp_dst")
    port, packet = single_output(chain_switch(nb, "ch1").run(tcp))
    assert port == TUNNEL and packet["tunnel_id"] == 7 and packet["eth_type"] == 0x0800


def test_a_foreign_packet_from_a_function_egress_is_dropped() -> None:
    nb = chain_nb(correlation="mpls", sf_chassis="ch1")
    stray = udp_packet(in_port=4, eth_type=0x8847, mpls_label=999, mpls_tc=0)
    assert chain_switch(nb, "ch1").run(stray).dropped


def _nsh_nb(correlation: str | None, sf_chassis: str = "ch1") -> dict[str, Any]:
    nb = chain_nb(correlation, sf_chassis)
    nb[schema.PORT_CHAIN]["pc1"]["chain_parameters"] = {"correlation": "nsh"}
    nb[schema.PORT_CHAIN]["pc1"]["project_id"] = "p1"
    return nb


def test_nsh_aware_function_gets_spi_si_and_context_and_may_decrement_si() -> None:
    nb = _nsh_nb("nsh")
    ch1 = chain_switch(nb, "ch1")
    port, to_sf = single_output(ch1.run(udp_packet()))
    assert port == 3 and to_sf["eth_type"] == 0x894F and to_sf["eth_dst"] == "02:00:00:00:00:03"
    assert (to_sf["nsh_spi"], to_sf["nsh_si"], to_sf["nsh_c1"], to_sf["nsh_c2"]) == (1, 255, 1, 7)
    assert to_sf["nsh_c3"] == project_digest("p1")
    for si in (255, 254):  # returned as sent, or with SI decremented as RFC 8300 says
        port, onward = single_output(ch1.run(to_sf.set(in_port=4, nsh_si=si)))
        assert port == TUNNEL and onward["eth_type"] == 0x0800 and onward["eth_dst"] == SERVER


def test_nsh_to_an_unaware_function_elsewhere_is_stripped_on_arrival() -> None:
    nb = _nsh_nb(None, sf_chassis="ch2")
    port, tunnelled = single_output(chain_switch(nb, "ch1").run(udp_packet()))
    assert port == TUNNEL and tunnelled["eth_type"] == 0x894F
    port, delivered = single_output(chain_switch(nb, "ch2").run(tunnelled.set(in_port=TUNNEL)))
    assert port == 3 and delivered["eth_type"] == 0x0800 and delivered["eth_dst"] == SERVER


def test_an_unaware_nsh_function_at_the_last_hop_is_not_tracked() -> None:
    """After the last hop the packet leaves the chain plain: no origin to restore, so no conntrack (which
    would cost two ct passes per packet on the function's chassis)."""
    nb = _nsh_nb(None, sf_chassis="ch2")
    assert not [
        f for f in compile_nb(nb, "ch2", TUNNEL).flows.values() if any(isinstance(a, Ct) for a in f.actions)
    ]
    _, tunnelled = single_output(chain_switch(nb, "ch1").run(udp_packet()))
    ch2 = chain_switch(nb, "ch2")
    _, delivered = single_output(ch2.run(tunnelled.set(in_port=TUNNEL)))
    port, at_server = single_output(ch2.run(delivered.set(in_port=4)))
    assert port == 2 and (at_server["eth_type"], at_server["eth_dst"]) == (0x0800, SERVER)


def test_a_classifier_without_source_port_steers_only_its_projects_ports() -> None:
    nb = chain_nb(correlation=None)
    nb[schema.FLOW_CLASSIFIER]["fc1"].pop("logical_source_port")
    nb[schema.PORT_CHAIN]["pc1"]["project_id"] = "p1"
    for port in nb[schema.PORT].values():
        port["project_id"] = "p1"
    stranger = chain_port("stranger", 9, "02:00:00:00:00:09", "203.0.113.9")
    nb[schema.PORT]["stranger"] = {**stranger, "project_id": "p2"}
    nb[schema.PORT_BINDING]["stranger"] = {"port_id": "stranger", schema.CHASSIS: "ch1", "ofport": 9}
    ch1 = chain_switch(nb, "ch1")
    _port_out, mine = single_output(ch1.run(udp_packet()))
    assert mine["tunnel_id"] == (1 << 23) + 5  # the client's traffic enters the chain
    theirs = udp_packet(in_port=9, eth_src="02:00:00:00:00:09", ipv4_src="203.0.113.9")
    _port_out, plain = single_output(ch1.run(theirs))
    assert plain["tunnel_id"] == 7  # another project's port: plain L2, never steered


def _md2_nb(sf_chassis: str) -> dict[str, Any]:
    nb = _nsh_nb("nsh", sf_chassis)
    nb[schema.PORT_CHAIN]["pc1"]["chain_parameters"] = {"correlation": "nsh", "nsh_md_type": 2}
    return nb


def test_nsh_md2_function_gets_origin_and_project_tlvs_and_its_return_goes_on() -> None:
    ch1 = chain_switch(_md2_nb("ch1"), "ch1")
    port, to_sf = single_output(ch1.run(udp_packet()))
    assert port == 3 and to_sf["eth_type"] == 0x894F and to_sf["nsh_mdtype"] == 2
    assert (to_sf["nsh_spi"], to_sf["nsh_si"], to_sf["eth_dst"]) == (1, 255, "02:00:00:00:00:03")
    assert to_sf.frame.nsh is not None and to_sf.frame.nsh.tlvs == md2_tlvs(1, "p1")
    port, onward = single_output(ch1.run(to_sf.set(in_port=4)))  # conntrack recalls the connection's hop
    assert port == TUNNEL and onward["eth_type"] == 0x0800 and onward["eth_dst"] == SERVER


def test_nsh_md2_header_crosses_a_tunnel_as_md1_and_is_pushed_as_md2_by_the_far_forwarder() -> None:
    nb = _md2_nb("ch2")
    port, tunnelled = single_output(chain_switch(nb, "ch1").run(udp_packet()))
    assert port == TUNNEL and (tunnelled["nsh_mdtype"], tunnelled["nsh_c1"]) == (1, 1)  # readable origin
    port, to_sf = single_output(chain_switch(nb, "ch2").run(tunnelled.set(in_port=TUNNEL)))
    assert port == 3 and to_sf["nsh_mdtype"] == 2 and to_sf["nsh_si"] == 255
    assert to_sf.frame.nsh is not None and to_sf.frame.nsh.tlvs == md2_tlvs(1, "p1")


def test_md2_pushes_grow_with_origin_ports_not_with_hops() -> None:
    nb = _md2_nb("ch1")
    nb[schema.FLOW_CLASSIFIER]["fc1"].pop("logical_source_port")  # every port of the project may be an origin
    for port in nb[schema.PORT].values():
        port["project_id"] = "p1"
    flows = compile_nb(nb, "ch1", TUNNEL).flows.values()
    pushes = [f for f in flows if f.table == SFC_METADATA]
    origins = len(nb[schema.PORT]) - 2  # the function's two ports are service ports: never origins
    assert len(pushes) == origins + 1  # one per origin port, and a fallback without origin TLV


def _two_hop_nb(md_type: int) -> dict[str, Any]:
    """client (ch1) -> unaware f1 (ch2) -> NSH-aware f2 (ch1, ports 5/6) -> server (ch2)."""
    nb = _nsh_nb(None, sf_chassis="ch2")
    nb[schema.PORT] |= {
        "f2-in": chain_port("f2-in", 5, "02:00:00:00:00:05", "203.0.113.5"),
        "f2-out": chain_port("f2-out", 6, "02:00:00:00:00:06", "203.0.113.6"),
    }
    nb[schema.PORT_BINDING] |= {
        p: {"port_id": p, schema.CHASSIS: "ch1", "ofport": of} for p, of in (("f2-in", 5), ("f2-out", 6))
    }
    params = {"correlation": "nsh", "weight": 1}
    nb[schema.PORT_PAIR]["pp2"] = {"id": "pp2", "ingress": "f2-in", "egress": "f2-out", schema.PAIR_KEY: 6,
                              "service_function_parameters": params}  # fmt: skip
    nb[schema.PORT_PAIR_GROUP]["ppg2"] = {"id": "ppg2", "port_pairs": ["pp2"]}
    chain = nb[schema.PORT_CHAIN]["pc1"]
    chain |= {"port_pair_groups": ["ppg1", "ppg2"], schema.HOP_LABELS: {"ppg1": 100, "ppg2": 102}}
    chain["chain_parameters"] = {"correlation": "nsh", "nsh_md_type": md_type}
    return nb


@pytest.mark.parametrize("md_type", [1, 2])
def test_the_origin_survives_an_unaware_function_on_another_chassis(md_type: int) -> None:
    nb = _two_hop_nb(md_type)
    ch1, ch2 = chain_switch(nb, "ch1"), chain_switch(nb, "ch2")
    _port_out, tunnelled = single_output(ch1.run(udp_packet()))
    port, to_f1 = single_output(ch2.run(tunnelled.set(in_port=TUNNEL)))
    assert port == 3 and to_f1["eth_type"] == 0x0800  # plain: the proxy learnt the origin from c1
    port, back = single_output(
        ch2.run(to_f1.set(in_port=4))
    )  # registers zeroed: conntrack gives the origin back
    assert port == TUNNEL and (back["nsh_mdtype"], back["nsh_si"], back["nsh_c1"]) == (1, 254, 1)
    port, to_f2 = single_output(ch1.run(back.set(in_port=TUNNEL)))
    assert port == 5 and to_f2["nsh_mdtype"] == md_type
    if md_type == 1:
        assert to_f2["nsh_c1"] == 1
    else:
        assert to_f2.frame.nsh is not None and to_f2.frame.nsh.tlvs == md2_tlvs(1, "p1")
    port, onward = single_output(ch1.run(to_f2.set(in_port=6)))
    assert port == TUNNEL and onward["eth_type"] == 0x0800 and onward["eth_dst"] == SERVER
