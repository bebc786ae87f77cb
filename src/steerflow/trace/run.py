"""One call from NB documents to a described path: what the CLI and the demo run."""

from __future__ import annotations

from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import NorthboundStore
from steerflow.trace.describe import JsonDict, describe
from steerflow.trace.fabric import Docs, Fabric, Walk
from steerflow.trace.probe import ProbeError, probe

TUNNEL_OFPORT = 100  # the agent's tunnel port (steerflow.southbound.ovsdb.TUNNEL_OFPORT, checked by a test)


def snapshot_docs(store: NorthboundStore) -> dict[str, dict[str, dict[str, Any]]]:
    """Every NB document (kind -> id -> value), as one consistent snapshot."""
    _, records = store.snapshot()
    docs: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        docs.setdefault(record.kind, {})[record.id] = record.value
    return docs


def trace_path(docs: Docs, source: str, to: str, **probe_args: Any) -> tuple[JsonDict, Walk]:
    """The path of the packet `source` sends to `to` (see `probe`), described, and the walk itself;
    ProbeError if it cannot be built or starts on a chassis that is not registered."""
    sent = probe(docs, source, to, **probe_args)
    fabric = Fabric(docs, TUNNEL_OFPORT)
    if sent.chassis not in fabric.switches:
        raise ProbeError(f"port {source!r} is bound to chassis {sent.chassis!r}, which is not registered")
    walk = fabric.walk(sent.packet, sent.chassis)
    described = describe(walk, fabric)
    described["probe"] = {"from": sent.source, "on": sent.chassis, "packet": sent.summary}
    return described, walk


def summary(described: JsonDict, docs: Docs) -> str:
    """One line: the functions crossed (by name where they have one) and where the packet was delivered."""

    def name(kind: str, oid: str) -> str:
        return str(docs.get(kind, {}).get(oid, {}).get("name") or oid)

    functions = ", ".join(name(schema.PORT_PAIR, f) for f in described["functions"]) or "no function"
    taps = ", ".join(name(schema.PORT_PAIR, f) for f in described["taps"])
    taps = f", copies to taps {taps}" if taps else ""
    ends = ", ".join(f"{name(schema.PORT, d['to_port'])} on {d['on']}" for d in described["deliveries"])
    ends = ends or "nowhere (dropped)"
    return f"{described['probe']['packet']}: crosses {functions}{taps}; delivered to {ends}"
