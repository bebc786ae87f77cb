"""The typed SFC model (port pairs, classifiers): exact round trips of what the handlers store, and
effective values."""

from __future__ import annotations

import ipaddress

from steerflow.model import schema
from steerflow.model.sfc import Ethertype, FlowClassifier, PortPair, Protocol
from tests.builders.sfc_world import ALICE, MPLS, World


def populated_world() -> World:
    w = World()
    partial = w.pair(sfp={"weight": "3"})
    g1 = w.group(
        pairs=[w.pair(sfp=MPLS)["id"]], port_pair_group_parameters={"lb_fields": ["ip_src", "tcp_dst"]}
    )
    mapping = {"ppg_n_tuple_mapping": {"ingress_n_tuple": {"destination_port_range_min": "8080"}}}
    g2 = w.group(pairs=[partial["id"]], port_pair_group_parameters=mapping)
    fc = w.classifier(protocol="tcp", destination_port_range_min=80, logical_source_port=w.port("vm"))
    a = w.chain(groups=[g2["id"], g1["id"]], fcs=[fc["id"]], chain_parameters={"symmetric": True})
    b = w.chain()
    w.sg.create(ALICE, {"port_chains": {a["id"]: [b["id"]]}})
    return w


TYPED = {schema.PORT_PAIR: PortPair, schema.FLOW_CLASSIFIER: FlowClassifier}


def test_every_stored_object_round_trips() -> None:
    w = populated_world()
    for kind, typed in TYPED.items():
        records = w.store.list(kind)
        assert records, kind
        for rec in records:
            api_view = {k: v for k, v in rec.value.items() if k != schema.PAIR_KEY}  # hidden
            assert typed.from_dict(rec.value).to_dict() == api_view


def test_typed_values() -> None:
    w = populated_world()
    pairs = [PortPair.from_dict(r.value) for r in w.store.list(schema.PORT_PAIR)]
    partial = next(p for p in pairs if p.service_function_parameters.given == {"weight"})
    assert (partial.correlation, partial.weight) == (None, 3)
    assert partial.to_dict()["service_function_parameters"] == {"weight": 3}
    fc = FlowClassifier.from_dict(w.store.list(schema.FLOW_CLASSIFIER)[0].value)
    assert (fc.ethertype, fc.protocol) == (Ethertype.IPV4, Protocol.TCP)
    assert fc.destination_ports.bounds() == (80, 65535)
    assert fc.source_network == ipaddress.ip_network(fc.source_ip_prefix or "")


def test_values_are_hashable_and_frozen() -> None:
    w = populated_world()
    values = {typed.from_dict(r.value) for kind, typed in TYPED.items() for r in w.store.list(kind)}
    assert len(values) == sum(len(w.store.list(kind)) for kind in TYPED)


def test_source_network_drops_host_bits() -> None:
    fc = FlowClassifier(id="x", source_ip_prefix="10.0.0.1/24")
    assert fc.source_network == ipaddress.ip_network("10.0.0.0/24")
    assert fc.to_dict()["source_ip_prefix"] == "10.0.0.1/24"
