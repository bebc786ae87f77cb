"""One SFC-unaware function shared by two chains: conntrack remembers each connection's hop (ofsim)."""

from typing import Any

import pytest

from steerflow.compiler.compile import compile_nb
from steerflow.model import schema
from steerflow.ofsim import Packet, Switch, Trace

TUNNEL = 100
NET = "net-a"
CLIENT, SERVER = "02:00:00:00:00:01", "02:00:00:00:00:02"
# port -> (tunnel key = ofport); shared function sh, then fA (chain A) or fB (chain B)
PORTS = {"client": 1, "server": 2, "sh-in": 3, "sh-out": 4, "a-in": 5, "a-out": 6, "b-in": 7, "b-out": 8}


def _port(pid: str, key: int) -> dict[str, Any]:
    return {
        "id": pid,
        "network_id": NET,
        schema.TUNNEL_KEY: key,
        "mac_address": f"02:00:00:00:00:{key:02x}",
        "fixed_ips": [{"subnet_id": "s", "ip_address": f"203.0.113.{key}"}],
        "port_security_enabled": True,
    }


def _pair(pid: str, name: str, key: int) -> dict[str, Any]:
    params = {"correlation": None, "weight": 1}
    return {
        "id": pid,
        "ingress": f"{name}-in",
        "egress": f"{name}-out",
        schema.PAIR_KEY: key,
        "service_function_parameters": params,
    }


def _chain(
    cid: str, number: int, groups: list[str], fc: str, labels: list[int], encap: str
) -> dict[str, Any]:
    return {
        "id": cid,
        "chain_id": number,
        "port_pair_groups": groups,
        "flow_classifiers": [fc],
        "chain_parameters": {"correlation": encap},
        "project_id": "p1",
        schema.HOP_LABELS: dict(zip(groups, labels, strict=True)),
        schema.EXIT_LABEL: labels[-1] + 1,
    }


def _nb(encap: str, sf_chassis: str) -> dict[str, Any]:
    """client (ch1) -> chain A (UDP/7): [sh, fA] or chain B (UDP/8): [sh, fB] -> server (ch1)."""
    where = {p: ("ch1" if p in ("client", "server") else sf_chassis) for p in PORTS}
    fcs = {
        f"fc-{n}": {
            "id": f"fc-{n}",
            "ethertype": "IPv4",
            "protocol": "udp",
            "logical_source_port": "client",
            "destination_port_range_min": port,
            "destination_port_range_max": port,
        }
        for n, port in (("a", 7), ("b", 8))
    }
    return {
        schema.NETWORK: {NET: {"id": NET, schema.SEGMENTATION_ID: 70}},
        schema.PORT: {p: _port(p, key) for p, key in PORTS.items()},
        schema.PORT_BINDING: {
            p: {"port_id": p, schema.CHASSIS: where[p], "ofport": key} for p, key in PORTS.items()
        },
        schema.CHASSIS: {
            "ch1": {"name": "ch1", "underlay_ip": "198.51.100.11"},
            "ch2": {"name": "ch2", "underlay_ip": "198.51.100.12"},
        },
        schema.PORT_PAIR: {
            "pp-sh": _pair("pp-sh", "sh", 5),
            "pp-a": _pair("pp-a", "a", 6),
            "pp-b": _pair("pp-b", "b", 7),
        },
        schema.PORT_PAIR_GROUP: {
            g: {"id": g, "port_pairs": [f"pp-{g[4:]}"]} for g in ("ppg-sh", "ppg-a", "ppg-b")
        },
        schema.FLOW_CLASSIFIER: fcs,
        schema.PORT_CHAIN: {
            "pc-a": _chain("pc-a", 1, ["ppg-sh", "ppg-a"], "fc-a", [100, 101], encap),
            "pc-b": _chain("pc-b", 2, ["ppg-sh", "ppg-b"], "fc-b", [200, 201], encap),
        },
    }


def _switch(nb: dict[str, Any], chassis: str) -> Switch:
    state = compile_nb(nb, chassis, TUNNEL)
    return Switch(state.flows.values(), state.groups.values(), reject_overlaps=True)


def _udp(dport: int, sport: int = 5000) -> Packet:
    return Packet.of(
        in_port=1,
        eth_src=CLIENT,
        eth_dst=SERVER,
        eth_type=0x0800,
        ip_proto=17,
        ipv4_src="203.0.113.1",
        ipv4_dst="203.0.113.2",
        udp_src=sport,
        udp_dst=dport,
    )


def _one(trace: Trace) -> tuple[int, Packet]:
    assert len(trace.outputs) == 1, str(trace)
    return trace.outputs[0].port, trace.outputs[0].packet


def test_a_shared_local_unaware_function_sends_each_flow_back_onto_its_own_chain() -> None:
    sw = _switch(_nb("mpls", "ch1"), "ch1")
    at_shared = {dport: _one(sw.run(_udp(dport))) for dport in (7, 8)}  # both in flight at once
    assert {port for port, _ in at_shared.values()} == {PORTS["sh-in"]}
    for dport, next_port in ((8, PORTS["b-in"]), (7, PORTS["a-in"])):
        port, packet = _one(sw.run(at_shared[dport][1].set(in_port=PORTS["sh-out"])))
        assert port == next_port and packet["eth_type"] == 0x0800 and packet["udp_dst"] == dport


@pytest.mark.parametrize("encap", ["mpls", "nsh"])
def test_a_shared_unaware_function_elsewhere_remembers_the_hop_from_the_tunnelled_header(encap: str) -> None:
    nb = _nb(encap, "ch2")
    ch1, ch2 = _switch(nb, "ch1"), _switch(nb, "ch2")
    tunnelled = {dport: _one(ch1.run(_udp(dport)))[1] for dport in (7, 8)}
    delivered = {d: _one(ch2.run(p.set(in_port=TUNNEL))) for d, p in tunnelled.items()}
    assert all(port == PORTS["sh-in"] and p["eth_type"] == 0x0800 for port, p in delivered.values())
    assert _one(ch2.run(delivered[8][1].set(in_port=PORTS["sh-out"])))[0] == PORTS["b-in"]
    assert _one(ch2.run(delivered[7][1].set(in_port=PORTS["sh-out"])))[0] == PORTS["a-in"]


def test_a_connection_the_shared_function_never_got_from_a_chain_is_dropped() -> None:
    sw = _switch(_nb("mpls", "ch1"), "ch1")
    stray = _udp(7, sport=6000).set(in_port=PORTS["sh-out"], eth_src="02:00:00:00:00:04")
    assert sw.run(stray).dropped
