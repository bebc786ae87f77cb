"""The web view's chain trace: a sample packet of a port chain's first classifier, through `steerflow.trace`.

`steerflow api` hands `chain_trace` to the app (`rest.ui.Tracer`): the REST layer may not import the
compiler that trace runs (the `api-not-agent` contract), the CLI may, so the CLI is where they meet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore

if TYPE_CHECKING:
    from steerflow.trace.fabric import Docs


def chain_trace(store: NorthboundStore, chain: Mapping[str, Any]) -> JsonDict:
    """Where a packet matching the chain's first classifier goes: the ports, instances and chassis it
    visits in order (`visits`), or `error` when no sample packet can be made or walked."""
    # imported here: the compiler trace runs costs `steerflow api` nothing until a page asks
    from steerflow.trace.probe import ProbeError
    from steerflow.trace.run import snapshot_docs, summary, trace_path

    docs = snapshot_docs(store)
    classifiers = [docs.get(schema.FLOW_CLASSIFIER, {}).get(c) for c in chain.get("flow_classifiers", ())]
    fc = next((c for c in classifiers if c and c.get("logical_source_port")), None)
    if fc is None:
        return {"error": "the chain has no classifier with a logical source port to send a sample from"}
    source = str(fc["logical_source_port"])
    try:
        to = sample_destination(docs, fc, source)
        described, walk = trace_path(docs, source, to, **sample_probe_args(fc))
    except (ProbeError, ValueError) as exc:  # no sample packet, or an NB the compiler refuses
        return {"error": str(exc)}
    chassis = [s.chassis for s in walk.steps()]
    return {
        "summary": summary(described, docs),
        "probe": described["probe"],
        "visits": [source, *described["functions"], *(d["to_port"] for d in described["deliveries"])],
        "taps": described["taps"],
        schema.CHASSIS: [c for i, c in enumerate(chassis) if i == 0 or chassis[i - 1] != c],
        "truncated": described["truncated"],
    }


def sample_probe_args(fc: Mapping[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"proto": str(fc.get("protocol") or "udp"), "ipv6": fc.get("ethertype") == "IPv6"}
    if fc.get("destination_port_range_min") is not None:
        args["dport"] = int(fc["destination_port_range_min"])
    if fc.get("source_port_range_min") is not None:
        args["sport"] = int(fc["source_port_range_min"])
    return args


def sample_destination(docs: Docs, fc: Mapping[str, Any], source: str) -> str:
    """The classifier's destination port, else an address of its destination prefix, else another
    port of the source's network (the sample must go somewhere the classifier takes)."""
    if fc.get("logical_destination_port"):
        return str(fc["logical_destination_port"])
    if fc.get("destination_ip_prefix"):
        net = ipaddress.ip_network(str(fc["destination_ip_prefix"]), strict=False)
        return str(net.network_address if net.num_addresses == 1 else next(net.hosts()))
    ports = docs.get(schema.PORT, {})
    network = ports.get(source, {}).get("network_id")
    functions = {p.get(end) for p in docs.get(schema.PORT_PAIR, {}).values() for end in ("ingress", "egress")}
    taken = {source, *functions}
    others = [p for p, doc in ports.items() if doc.get("network_id") == network and p not in taken]
    if not others:
        from steerflow.trace.probe import ProbeError

        raise ProbeError("no other port on the source's network to send a sample to")
    return sorted(others)[0]
