"""NB documents of two networks over three chassis, for the L2 compiler tests."""

from typing import Any

from steerflow.model import schema

TUNNEL = 100
NET_A, NET_B = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"


def l2_port(pid: str, net: str, key: int, mac: str, ip: str, security: bool = True) -> dict[str, Any]:
    return {
        "id": pid,
        "network_id": net,
        schema.TUNNEL_KEY: key,
        "mac_address": mac,
        "fixed_ips": [{"subnet_id": "s", "ip_address": ip}],
        "port_security_enabled": security,
    }


def l2_nb() -> dict[str, dict[str, dict[str, Any]]]:
    ports = [
        l2_port("p1", NET_A, 1, "02:00:00:00:00:01", "203.0.113.1"),
        l2_port("p2", NET_A, 2, "02:00:00:00:00:02", "203.0.113.2"),
        l2_port("p3", NET_B, 1, "02:00:00:00:00:03", "2001:db8::3", security=False),
        l2_port("p4", NET_A, 3, "02:00:00:00:00:04", "203.0.113.4"),  # not bound anywhere
    ]
    return {
        schema.NETWORK: {
            NET_A: {"id": NET_A, schema.SEGMENTATION_ID: 10},
            NET_B: {"id": NET_B, schema.SEGMENTATION_ID: 20},
        },
        schema.PORT: {p["id"]: p for p in ports},
        schema.PORT_BINDING: {
            "p1": {"port_id": "p1", schema.CHASSIS: "ch1", "ofport": 5},
            "p2": {"port_id": "p2", schema.CHASSIS: "ch2", "ofport": 7},
            "p3": {"port_id": "p3", schema.CHASSIS: "ch1", "ofport": 6},
        },
        schema.CHASSIS: {
            "ch1": {"name": "ch1", "underlay_ip": "198.51.100.11"},
            "ch2": {"name": "ch2", "underlay_ip": "198.51.100.12"},
        },
    }
