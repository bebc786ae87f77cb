"""Symmetric chains through the simulated switch: the reverse flow meets the same instances, backwards."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.compiler.chain_view import Chain, Hop, Instance
from steerflow.compiler.compile import compile_nb
from steerflow.compiler.encap.nsh import md2_tlvs
from steerflow.compiler.symmetric import REVERSE_KEY_BIT, reverse_chain
from steerflow.compiler.view import LogicalPort
from steerflow.model import schema
from steerflow.model.sfc import Correlation, FlowClassifier
from steerflow.ofsim import Packet, Switch

TUNNEL = 100
NET = "net-a"
CLIENT, SERVER = "02:00:00:00:00:01", "02:00:00:00:00:02"
CLIENT_PORT, SERVER_PORT = 1, 2
# pair id -> (ingress ofport, egress ofport); pp1 and pp2 share the first group, pp3 is the second
PAIRS = {"pp1": (3, 4), "pp2": (5, 6), "pp3": (7, 8)}
INGRESS = {ports[0]: pid for pid, ports in PAIRS.items()}
EGRESS = {ports[1]: pid for pid, ports in PAIRS.items()}


def _port(pid: str, key: int, mac: str) -> dict[str, Any]:
    ips = [{"subnet_id": "s", "ip_address": f"203.0.113.{key}"}]
    return {"id": pid, "network_id": NET, schema.TUNNEL_KEY: key, "mac_address": mac, "project_id": "p1",
            "fixed_ips": ips, "port_security_enabled": True}  # fmt: skip


def _nb(correlation: str | None, symmetric: bool = True, encap: str = "mpls") -> dict[str, Any]:
    """client and server and three function instances, all on ch1; UDP to port 7 from the client."""
    ofports = {"client": CLIENT_PORT, "server": SERVER_PORT}
    for pid, (ingress, egress) in PAIRS.items():
        ofports |= {f"{pid}-in": ingress, f"{pid}-out": egress}
    macs = {"client": CLIENT, "server": SERVER}
    ports = [_port(pid, of, macs.get(pid, f"02:00:00:00:00:{of:02x}")) for pid, of in ofports.items()]
    chain: dict[str, Any] = {
        "id": "pc1", "chain_id": 1, "port_pair_groups": ["ppg1", "ppg2"], "flow_classifiers": ["fc1"],
        "chain_parameters": {"correlation": encap, "symmetric": symmetric},
        "project_id": "p1",
        schema.HOP_LABELS: {"ppg1": 100, "ppg2": 101}, schema.EXIT_LABEL: 102,
    }  # fmt: skip
    if encap == "nsh-md2":
        chain["chain_parameters"] |= {"correlation": "nsh", "nsh_md_type": 2}
    if symmetric:
        chain |= {schema.REVERSE_HOP_LABELS: {"ppg1": 103, "ppg2": 104}, schema.REVERSE_EXIT_LABEL: 105}
    return {
        schema.NETWORK: {NET: {"id": NET, schema.SEGMENTATION_ID: 7}},
        schema.PORT: {p["id"]: p for p in ports},
        schema.PORT_BINDING: {
            pid: {"port_id": pid, schema.CHASSIS: "ch1", "ofport": of} for pid, of in ofports.items()
        },
        schema.CHASSIS: {"ch1": {"name": "ch1", "underlay_ip": "198.51.100.11"}},
        schema.PORT_PAIR: {
            pid: {
                "id": pid,
                "ingress": f"{pid}-in",
                "egress": f"{pid}-out",
                schema.PAIR_KEY: i + 1,
                "service_function_parameters": {"correlation": correlation, "weight": 1},
            }
            for i, pid in enumerate(PAIRS)
        },
        schema.PORT_PAIR_GROUP: {
            "ppg1": {"id": "ppg1", "port_pairs": ["pp1", "pp2"]},
            "ppg2": {"id": "ppg2", "port_pairs": ["pp3"]},
        },
        schema.FLOW_CLASSIFIER: {
            "fc1": {
                "id": "fc1",
                "ethertype": "IPv4",
                "protocol": "udp",
                "logical_source_port": "client",
                "destination_port_range_min": 7,
                "destination_port_range_max": 7,
            }
        },
        schema.PORT_CHAIN: {"pc1": chain},
    }


def _switch(nb: dict[str, Any]) -> Switch:
    state = compile_nb(nb, "ch1", TUNNEL)
    return Switch(state.flows.values(), state.groups.values(), reject_overlaps=True)


def _udp(sport: int, *, reply: bool = False) -> Packet:
    ends = [(CLIENT, "203.0.113.1", sport), (SERVER, "203.0.113.2", 7)]
    (smac, sip, sp), (dmac, dip, dp) = ends[::-1] if reply else ends
    return Packet.of(
        in_port=SERVER_PORT if reply else CLIENT_PORT, eth_src=smac, eth_dst=dmac, eth_type=0x0800,
        ip_proto=17, ipv4_src=sip, ipv4_dst=dip, udp_src=sp, udp_dst=dp,
    )  # fmt: skip


def _walk(switch: Switch, packet: Packet) -> tuple[list[tuple[str, str]], int]:
    """Follow a packet through the functions (each hands it back, header and all, from its other port):
    the (pair, port it entered by) met in order, and where it finally left."""
    met: list[tuple[str, str]] = []
    for _ in range(10):
        trace = switch.run(packet)
        assert len(trace.outputs) == 1, str(trace)
        port, packet = trace.outputs[0].port, trace.outputs[0].packet
        if port in INGRESS:
            met.append((INGRESS[port], "ingress"))
            packet = packet.set(in_port=PAIRS[INGRESS[port]][1])
        elif port in EGRESS:
            met.append((EGRESS[port], "egress"))
            packet = packet.set(in_port=PAIRS[EGRESS[port]][0])
        else:
            return met, port
    raise AssertionError(f"looping: {met}")


@pytest.mark.parametrize(
    ("encap", "correlation"),
    [("mpls", None), ("mpls", "mpls"), ("nsh", None), ("nsh", "nsh"), ("nsh-md2", "nsh")],
    ids=["mpls-unaware", "mpls-aware", "nsh-unaware", "nsh-aware", "nsh-md2-aware"],
)
def test_forward_and_reverse_of_50_flows_meet_the_same_instances_in_reverse_order(
    encap: str, correlation: str | None
) -> None:
    switch = _switch(_nb(correlation, encap=encap))
    served = set()
    for sport in range(40000, 40050):
        forward, out = _walk(switch, _udp(sport))
        assert out == SERVER_PORT and [side for _, side in forward] == ["ingress", "ingress"]
        assert forward[1][0] == "pp3"
        backward, back = _walk(switch, _udp(sport, reply=True))
        assert back == CLIENT_PORT
        assert backward == [(pid, "egress") for pid, _ in reversed(forward)], (
            sport
        )  # same instances, backwards
        served.add(forward[0][0])
    assert served == {"pp1", "pp2"}  # both instances serve some of the 50 flows


def test_md2_metadata_names_each_directions_own_origin() -> None:
    switch = _switch(_nb("nsh", encap="nsh-md2"))
    for packet, origin in ((_udp(40000), CLIENT_PORT), (_udp(40000, reply=True), SERVER_PORT)):
        for _ in range(2):  # both hops, each handing the packet back from its other port
            (out,) = switch.run(packet).outputs
            assert out.packet.frame.nsh is not None and out.packet.frame.nsh.tlvs == md2_tlvs(origin, "p1")
            ports = PAIRS[INGRESS.get(out.port) or EGRESS[out.port]]
            packet = out.packet.set(in_port=ports[1] if out.port == ports[0] else ports[0])


def test_without_symmetric_the_reply_goes_straight_back() -> None:
    switch = _switch(_nb(None, symmetric=False))
    assert _walk(switch, _udp(40000))[1] == SERVER_PORT
    assert _walk(switch, _udp(40000, reply=True)) == ([], CLIENT_PORT)


def test_other_replies_from_the_server_are_not_steered() -> None:
    switch = _switch(_nb(None))
    other = _udp(40000, reply=True).set(udp_src=8)  # not from the classified destination port
    assert _walk(switch, other) == ([], CLIENT_PORT)


def test_a_symmetric_chain_without_reverse_labels_has_no_reverse_path() -> None:
    nb = _nb(None)
    del nb[schema.PORT_CHAIN]["pc1"][schema.REVERSE_EXIT_LABEL]
    switch = _switch(nb)
    assert _walk(switch, _udp(40000))[1] == SERVER_PORT
    assert _walk(switch, _udp(40000, reply=True)) == ([], CLIENT_PORT)


def _lp(name: str, key: int) -> LogicalPort:
    return LogicalPort(name, key, 1, f"02:00:00:00:01:{key:02x}", (), False, "ch1", key)


def _instance(name: str, key: int) -> Instance:
    return Instance(name, key, _lp(f"{name}-in", 2 * key), _lp(f"{name}-out", 2 * key + 1), 1, False)


def test_the_reverse_chain_crosses_the_hops_backwards_entering_each_function_at_its_egress() -> None:
    fc = FlowClassifier.from_dict(
        {"id": "fc1", "ethertype": "IPv4", "protocol": "udp", "logical_source_port": "client",
         "source_ip_prefix": "10.0.0.0/24", "destination_port_range_min": 7, "destination_port_range_max": 7}
    )  # fmt: skip
    hops = (
        Hop("g1", 100, 0, (_instance("a", 1), _instance("b", 2)), ("ip_src",)),
        Hop("g2", 101, 1, (_instance("c", 3),)),
    )
    chain = Chain("pc", 1, Correlation.MPLS, 1, (fc,), hops, 102, "", True, (103, 104), 105)
    rev = reverse_chain(chain)
    assert rev is not None and rev.reverse and rev.symmetric and rev.exit_label == 105
    assert [(h.group_id, h.label, h.position) for h in rev.hops] == [("g2", 104, 0), ("g1", 103, 1)]
    assert [i.id for i in rev.hops[1].instances] == ["a", "b"]  # same order: the same balance table
    a = rev.hops[1].instances[0]
    assert (a.key, a.ingress, a.egress) == (
        1 | REVERSE_KEY_BIT,
        hops[0].instances[0].egress,
        hops[0].instances[0].ingress,
    )
    assert a.vni < 1 << 24  # still a Geneve VNI
    (back,) = rev.classifiers
    assert (back.logical_source_port, back.logical_destination_port) == (None, "client")
    assert str(back.destination_ip_prefix) == "10.0.0.0/24" and back.source_ip_prefix is None
    assert (back.source_port_range_min, back.destination_port_range_min) == (7, None)
    assert reverse_chain(rev) is None
    assert reverse_chain(Chain("pc", 1, Correlation.MPLS, 1, (fc,), hops, 102)) is None
