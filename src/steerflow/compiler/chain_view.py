"""Port chains resolved for the compiler: hops with their instances, labels and keys, per chassis.

Read from NB documents once (like `view.build_view`); the chain modules only see these values. A chain
whose references are incomplete (a group, pair or port missing, an instance not bound yet) keeps the
instances that can be reached; a hop with none left makes the whole chain inert rather than half-wired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from steerflow.compiler.view import LogicalPort
from steerflow.model import schema
from steerflow.model.sfc import DEFAULT_CORRELATION, Correlation, FlowClassifier
from steerflow.nbdb.health import check_settings, is_healthy

DELIVERY_VNI_BASE = 1 << 23  # Geneve VNIs from here address one function instance, not a network
# A group's `fail_mode` (port_pair_group_parameters): what a hop with no healthy instance does
FAIL_OPEN = "open"  # skipped: traffic goes on to the next hop (or the exit)
FAIL_CLOSED = "closed"  # dropped

Docs = Mapping[str, Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class Instance:
    """One port pair of a hop: where packets enter and leave the function, and how it is addressed."""

    id: str
    key: int  # pair_key: the Geneve VNI DELIVERY_VNI_BASE + key reaches it on its chassis
    ingress: LogicalPort
    egress: LogicalPort
    weight: int
    aware: bool  # understands the chain's header (correlation set), else the forwarder proxies
    healthy: bool = True  # its agent's last health report (`FUNCTION_HEALTH`); unchecked: healthy

    @property
    def vni(self) -> int:
        return DELIVERY_VNI_BASE + self.key


@dataclass(frozen=True)
class Hop:
    group_id: str
    label: int  # the MPLS label (and hop key in registers) of traffic heading to this hop
    position: int
    instances: tuple[Instance, ...]
    lb_fields: tuple[str, ...] = ()  # the group's lb_fields: what picking an instance hashes
    tap: bool = False  # tap_enabled: its instance gets a copy, the packet goes on unaltered (`chain`)
    fail_mode: str = FAIL_OPEN  # with no healthy instance: skipped (open) or dropped (closed)


@dataclass(frozen=True)
class Chain:
    id: str
    chain_id: int
    correlation: Correlation
    home_network: int  # where classified traffic comes from and is delivered after the last hop
    classifiers: tuple[FlowClassifier, ...]
    hops: tuple[Hop, ...]
    exit_label: int
    project_id: str = ""
    symmetric: bool = False  # the reverse flow crosses the same instances in reverse order (`symmetric`)
    reverse_labels: tuple[int, ...] = ()  # symmetric: per forward hop, its reverse direction's label
    reverse_exit_label: int = 0
    reverse: bool = False  # this is the reverse direction of a symmetric chain (built by `symmetric`)
    nsh_md_type: int = 1  # NSH chains: the metadata type the functions receive (`chain_parameters`)
    graph_id: str = ""  # the service graph in which this chain is a source (its branches), if any
    branches: tuple[Chain, ...] = ()  # the graph's destination chains of this one (resolved without
    # branches of their own): its traffic leaving the last hop enters the one whose classifiers match

    def next_label(self, position: int) -> int:
        """The label after hop `position`: the next hop's, or the exit."""
        return self.hops[position + 1].label if position + 1 < len(self.hops) else self.exit_label


Dependency = tuple[str, str]  # (NB kind, id) a chain was resolved from; ports are ("port", id)
LOCAL_PORTS: Dependency = ("local_ports", "*")  # a classifier without source port: every local port


class DocReader:
    """Reads the NB documents of one chain and remembers each it asked for, found or not, so that a
    change to any of them (or the arrival of a missing one) is known to concern that chain."""

    def __init__(self, objects: Docs, ports: Mapping[str, LogicalPort]) -> None:
        self.objects = objects
        self.ports = ports
        self.read: set[Dependency] = set()

    def doc(self, kind: str, id: str) -> Mapping[str, Any] | None:
        self.read.add((kind, id))
        return self.objects.get(kind, {}).get(id)

    def port(self, id: str) -> LogicalPort | None:
        self.read.add((schema.PORT, id))
        return self.ports.get(id)


def resolve_chain(doc: Mapping[str, Any], reader: DocReader, *, branching: bool = True) -> Chain | None:
    """One chain document resolved, or None while it cannot carry traffic; `reader.read` then names
    every document (and port) the answer depends on. `branching`: with the destination chains of the
    service graph in which it is a source (`Chain.branches`)."""
    reader.read.add((schema.PORT_CHAIN, str(doc["id"])))
    labels: Mapping[str, int] = doc.get(schema.HOP_LABELS) or {}
    classifiers = _classifiers(doc, reader)
    exit_label = doc.get(schema.EXIT_LABEL)
    if not exit_label:
        return None
    hops = []
    for position, group_id in enumerate(doc.get("port_pair_groups", ())):
        group = reader.doc(schema.PORT_PAIR_GROUP, group_id)
        label = labels.get(group_id)
        if group is None or not label:
            return None
        instances = _instances(group, reader)
        if not instances:
            return None
        group_params = group.get("port_pair_group_parameters") or {}
        lb_fields = tuple(group_params.get("lb_fields") or ())
        tap = bool(group.get("tap_enabled"))
        fail_mode = str(group_params.get("fail_mode") or FAIL_OPEN)
        hops.append(Hop(group_id, int(label), position, instances, lb_fields, tap, fail_mode))
    ports = reader.ports
    home = _home_network(classifiers, hops, ports)
    if not hops or home is None:
        return None
    params = doc.get("chain_parameters") or {}
    correlation = Correlation(str(params.get("correlation") or DEFAULT_CORRELATION))
    project = str(doc.get("project_id") or doc.get("tenant_id") or "")
    chain = Chain(
        str(doc["id"]),
        int(doc["chain_id"]),
        correlation,
        home,
        classifiers,
        tuple(hops),
        int(exit_label),
        project,
        nsh_md_type=int(params.get("nsh_md_type") or 1),
    )
    if branching:
        chain = _with_branches(chain, reader)
    return _with_reverse_labels(chain, doc) if params.get("symmetric") else chain


def _with_branches(chain: Chain, reader: DocReader) -> Chain:
    """The chain with the destination chains of the graph in which it is a source (none usable: as
    it is). A graph created later names the chain itself (`ChassisCompiler.compile` looks)."""
    for graph_id, graph in sorted(reader.objects.get(schema.SERVICE_GRAPH, {}).items()):
        destinations = (graph.get("port_chains") or {}).get(chain.id)
        if destinations is None:
            continue
        reader.doc(schema.SERVICE_GRAPH, graph_id)
        branches = []
        for dst_id in destinations:
            dst_doc = reader.doc(schema.PORT_CHAIN, str(dst_id))
            dst = None if dst_doc is None else resolve_chain(dst_doc, reader, branching=False)
            if dst is not None:
                branches.append(replace(dst, symmetric=False, reverse_labels=(), reverse_exit_label=0))
        return replace(chain, graph_id=str(graph_id), branches=tuple(branches))
    return chain


def _with_reverse_labels(chain: Chain, doc: Mapping[str, Any]) -> Chain:
    """A symmetric chain with its reverse labels (none if they are incomplete: no reverse path then)."""
    labels: Mapping[str, int] = doc.get(schema.REVERSE_HOP_LABELS) or {}
    reverse = tuple(int(labels.get(hop.group_id) or 0) for hop in chain.hops)
    exit_label = int(doc.get(schema.REVERSE_EXIT_LABEL) or 0)
    if not exit_label or not all(reverse):
        return replace(chain, symmetric=True)
    return replace(chain, symmetric=True, reverse_labels=reverse, reverse_exit_label=exit_label)


def _classifiers(doc: Mapping[str, Any], reader: DocReader) -> tuple[FlowClassifier, ...]:
    """The chain's classifiers; their logical ports (and, without a source port, or a destination port
    that a symmetric chain's reverse direction classifies from, every local port) are dependencies:
    classification is compiled where those ports live."""
    found = []
    for fc_id in doc.get("flow_classifiers", ()):
        fc = reader.doc(schema.FLOW_CLASSIFIER, fc_id)
        if fc is None:
            continue
        classifier = FlowClassifier.from_dict(fc)
        for port_id in (classifier.logical_source_port, classifier.logical_destination_port):
            if port_id:
                reader.port(port_id)
        if not (classifier.logical_source_port and classifier.logical_destination_port):
            reader.read.add(LOCAL_PORTS)  # without a source port (reversed: destination port), it
            # classifies every local port of its network
        found.append(classifier)
    return tuple(found)


def _reported_healthy(report: Mapping[str, Any] | None, ingress: LogicalPort) -> bool:
    """An instance's health as reported by the chassis where it is bound now: a report from another
    chassis (the instance moved, or that chassis was deleted and its ports bound elsewhere) is stale,
    and the instance healthy until its new chassis probed it."""
    if report is not None and report.get(schema.CHASSIS) not in (None, ingress.chassis):
        return True
    return is_healthy(report)


def _instances(group: Mapping[str, Any], reader: DocReader) -> tuple[Instance, ...]:
    checked = check_settings(group) is not None
    found = []
    for pair_id in sorted(group.get("port_pairs", ())):
        pair = reader.doc(schema.PORT_PAIR, pair_id)
        if pair is None or not pair.get(schema.PAIR_KEY):
            continue
        ingress, egress = reader.port(pair["ingress"]), reader.port(pair["egress"])
        if ingress is None or egress is None or ingress.chassis is None or egress.chassis is None:
            continue  # not bound anywhere yet: not a usable instance
        params = pair.get("service_function_parameters") or {}
        weight = int(params.get("weight", 1))
        if weight <= 0:
            continue  # weight 0 drains an instance
        aware = params.get("correlation") is not None
        healthy = not checked or _reported_healthy(reader.doc(schema.FUNCTION_HEALTH, str(pair_id)), ingress)
        key = int(pair[schema.PAIR_KEY])
        found.append(Instance(str(pair_id), key, ingress, egress, weight, aware, healthy))
    return tuple(found)


def _home_network(
    classifiers: tuple[FlowClassifier, ...], hops: list[Hop], ports: Mapping[str, LogicalPort]
) -> int | None:
    """The network of the first classifier's logical port, else of the first function's ingress."""
    for fc in classifiers:
        for port_id in (fc.logical_source_port, fc.logical_destination_port):
            if port_id and port_id in ports:
                return ports[port_id].network_key
    return hops[0].instances[0].ingress.network_key if hops else None
