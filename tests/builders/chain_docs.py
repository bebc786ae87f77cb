"""NB documents of a one-hop chain across chassis, for the chain compiler tests."""

from typing import Any

from steerflow.compiler.compile import compile_nb
from steerflow.model import schema
from steerflow.ofsim import Packet, Switch, Trace

TUNNEL = 100
NET = "net-a"
CLIENT, SERVER = "02:00:00:00:00:01", "02:00:00:00:00:02"


def chain_port(pid: str, key: int, mac: str, ip: str) -> dict[str, Any]:
    return {"id": pid, "network_id": NET, schema.TUNNEL_KEY: key, "mac_address": mac,
            "fixed_ips": [{"subnet_id": "s", "ip_address": ip}], "port_security_enabled": True}  # fmt: skip


def chain_nb(correlation: str | None, sf_chassis: str = "ch2") -> dict[str, dict[str, dict[str, Any]]]:
    """client (ch1) -> one function (in/out ports on `sf_chassis`) -> server (ch2), UDP only."""
    ports = [
        chain_port("client", 1, CLIENT, "203.0.113.1"),
        chain_port("server", 2, SERVER, "203.0.113.2"),
        chain_port("sf-in", 3, "02:00:00:00:00:03", "203.0.113.3"),
        chain_port("sf-out", 4, "02:00:00:00:00:04", "203.0.113.4"),
    ]
    where = {"client": ("ch1", 1), "server": ("ch2", 2), "sf-in": (sf_chassis, 3), "sf-out": (sf_chassis, 4)}
    return {
        schema.NETWORK: {NET: {"id": NET, schema.SEGMENTATION_ID: 7}},
        schema.PORT: {p["id"]: p for p in ports},
        schema.PORT_BINDING: {
            pid: {"port_id": pid, schema.CHASSIS: ch, "ofport": of} for pid, (ch, of) in where.items()
        },
        schema.CHASSIS: {
            "ch1": {"name": "ch1", "underlay_ip": "198.51.100.11"},
            "ch2": {"name": "ch2", "underlay_ip": "198.51.100.12"},
        },
        schema.PORT_PAIR: {
            "pp1": {
                "id": "pp1",
                "ingress": "sf-in",
                "egress": "sf-out",
                schema.PAIR_KEY: 5,
                "service_function_parameters": {"correlation": correlation, "weight": 1},
            }
        },
        schema.PORT_PAIR_GROUP: {"ppg1": {"id": "ppg1", "port_pairs": ["pp1"]}},
        schema.FLOW_CLASSIFIER: {
            "fc1": {"id": "fc1", "ethertype": "IPv4", "protocol": "udp", "logical_source_port": "client"}
        },
        schema.PORT_CHAIN: {
            "pc1": {
                "id": "pc1",
                "chain_id": 1,
                "port_pair_groups": ["ppg1"],
                "flow_classifiers": ["fc1"],
                "chain_parameters": {"correlation": "mpls"},
                schema.HOP_LABELS: {"ppg1": 100},
                schema.EXIT_LABEL: 101,
            }
        },
    }


def add_second_instance(nb: dict[str, Any], weight: int = 1) -> None:
    """A second unaware instance pp2 (sf2-in ofport 5, sf2-out ofport 6) on ch1 in group ppg1, beside pp1."""
    for pid, key, mac, ip in (
        ("sf2-in", 5, "02:00:00:00:00:05", "203.0.113.5"),
        ("sf2-out", 6, "02:00:00:00:00:06", "203.0.113.6"),
    ):
        nb[schema.PORT][pid] = chain_port(pid, key, mac, ip)
        nb[schema.PORT_BINDING][pid] = {"port_id": pid, schema.CHASSIS: "ch1", "ofport": key}
    nb[schema.PORT_PAIR]["pp2"] = {
        "id": "pp2", "ingress": "sf2-in", "egress": "sf2-out", schema.PAIR_KEY: 6,
        "service_function_parameters": {"correlation": None, "weight": weight},
    }  # fmt: skip
    nb[schema.PORT_PAIR_GROUP]["ppg1"]["port_pairs"] = ["pp1", "pp2"]


def chain_switch(nb: dict[str, Any], chassis: str) -> Switch:
    """`chassis`' switch as the compiler programs it for `nb` (overlapping flows rejected)."""
    state = compile_nb(nb, chassis, TUNNEL)
    return Switch(state.flows.values(), state.groups.values(), reject_overlaps=True)


def udp_packet(**extra: Any) -> Packet:
    """The client's UDP datagram to the server, entering port 1; `extra` overrides fields."""
    fields: dict[str, Any] = {
        "in_port": 1, "eth_src": CLIENT, "eth_dst": SERVER, "eth_type": 0x0800, "ip_proto": 17,
        "ipv4_src": "203.0.113.1", "ipv4_dst": "203.0.113.2", "udp_src": 5000, "udp_dst": 7,
    }  # fmt: skip
    return Packet.of(**{**fields, **extra})


def single_output(trace: Trace) -> tuple[int, Packet]:
    """The one (port, packet) a trace ends with."""
    assert len(trace.outputs) == 1, str(trace)
    out = trace.outputs[0]
    return out.port, out.packet
