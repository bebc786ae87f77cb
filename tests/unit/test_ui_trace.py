"""The web view's chain trace (`cli.ui_trace`): which sample packet a chain's classifier makes, and the
answer when none can be made (the walk itself is trace's, tested in test_trace.py and on a lab)."""

from __future__ import annotations

from typing import Any

from steerflow.cli.ui_trace import chain_trace, sample_destination, sample_probe_args
from steerflow.model import schema
from steerflow.nbdb.api import Put
from steerflow.nbdb.memory import MemoryStore

NET = "net-1"


def _docs() -> dict[str, dict[str, dict[str, Any]]]:
    ports = {p: {"id": p, "network_id": NET} for p in ("client", "fn-in", "fn-out", "server")}
    pair = {"id": "pp", "ingress": "fn-in", "egress": "fn-out"}
    return {schema.PORT: ports, schema.PORT_PAIR: {"pp": pair}}


def test_the_sample_goes_to_the_destination_port_else_into_the_prefix_else_to_a_vm_of_the_network() -> None:
    docs = _docs()
    assert sample_destination(docs, {"logical_destination_port": "server"}, "client") == "server"
    assert sample_destination(docs, {"destination_ip_prefix": "203.0.113.9/32"}, "client") == "203.0.113.9"
    assert sample_destination(docs, {"destination_ip_prefix": "203.0.113.0/24"}, "client") == "203.0.113.1"
    assert sample_destination(docs, {}, "client") == "server"  # not the source, not a function's port


def test_the_sample_takes_the_classifiers_protocol_ports_and_family() -> None:
    fc: dict[str, Any] = {"protocol": "tcp", "ethertype": "IPv6"}
    fc |= {"destination_port_range_min": 80, "source_port_range_min": 1234}
    assert sample_probe_args(fc) == {"proto": "tcp", "ipv6": True, "dport": 80, "sport": 1234}
    assert sample_probe_args({}) == {"proto": "udp", "ipv6": False}


def test_a_chain_without_a_source_port_or_a_bound_source_answers_why() -> None:
    store = MemoryStore()
    store.commit([Put(schema.FLOW_CLASSIFIER, "fc", {"id": "fc", "source_ip_prefix": "10.0.0.0/24"})])
    chain = {"flow_classifiers": ["fc"]}
    assert "no classifier with a logical source port" in chain_trace(store, chain)["error"]
    store.commit([
        Put(schema.FLOW_CLASSIFIER, "fc", {"id": "fc", "logical_source_port": "client"}),
        Put(schema.PORT, "client", {"id": "client", "network_id": NET, "name": "client"}),
        Put(schema.PORT, "server", {"id": "server", "network_id": NET, "name": "server"}),
    ])  # fmt: skip
    assert "not bound" in chain_trace(store, chain)["error"]
