"""Who uses whom among the SFC objects of one NB snapshot (all projects: membership is global)."""

from __future__ import annotations

from collections.abc import Iterator

from steerflow.model import schema
from steerflow.model.sfc import Correlation, FlowClassifier, PortPair
from steerflow.nbdb.api import JsonDict
from steerflow.nbdb.txn import Snapshot


def group_holding_port_pair(snap: Snapshot, pp_id: str) -> str | None:
    """The id of the port pair group that contains the port pair, if any."""
    return next((gid for gid, g in snap.of(schema.PORT_PAIR_GROUP).items() if pp_id in g["port_pairs"]), None)


def chain_using_group(snap: Snapshot, ppg_id: str) -> str | None:
    return next(
        (cid for cid, c in snap.of(schema.PORT_CHAIN).items() if ppg_id in c["port_pair_groups"]), None
    )


def graph_chains(graph: JsonDict) -> set[str]:
    """Every chain a service graph links, as source or destination."""
    links: dict[str, list[str]] = graph["port_chains"]
    return set(links) | {dst for dsts in links.values() for dst in dsts}


def graph_holding_chain(snap: Snapshot, chain_id: str, skip_graph: str | None = None) -> str | None:
    return next(
        (
            gid
            for gid, g in snap.of(schema.SERVICE_GRAPH).items()
            if gid != skip_graph and chain_id in graph_chains(g)
        ),
        None,
    )


def port_pairs_of_group(snap: Snapshot, ppg_id: str) -> Iterator[PortPair]:
    group = snap.find(schema.PORT_PAIR_GROUP, ppg_id)
    for pp_id in group["port_pairs"] if group else ():
        pp = snap.find(schema.PORT_PAIR, pp_id)
        if pp is not None:
            yield PortPair.from_dict(pp)


def group_correlations(snap: Snapshot, ppg_id: str) -> Iterator[tuple[str, Correlation | None]]:
    """(port pair id, its correlation) for each port pair of the group."""
    for pp in port_pairs_of_group(snap, ppg_id):
        yield pp.id, pp.correlation


def classifiers_of_chain(snap: Snapshot, chain: JsonDict) -> list[FlowClassifier]:
    found = (snap.find(schema.FLOW_CLASSIFIER, fc_id) for fc_id in chain["flow_classifiers"])
    return [FlowClassifier.from_dict(fc) for fc in found if fc is not None]


def sfc_users_of_port(snap: Snapshot, port_id: str) -> list[tuple[str, str]]:
    """(kind, id) of every port pair and flow classifier that references the Neutron port.

    Upstream's foreign keys forbid deleting such a port (it answers 500); the core port handler can use
    this to refuse the delete with a clear 409 instead and never leave a dangling reference.
    """
    users = [
        (schema.PORT_PAIR, i)
        for i, pp in snap.of(schema.PORT_PAIR).items()
        if port_id in (pp["ingress"], pp["egress"])
    ]
    users += [
        (schema.FLOW_CLASSIFIER, i)
        for i, fc in snap.of(schema.FLOW_CLASSIFIER).items()
        if port_id in (fc.get("logical_source_port"), fc.get("logical_destination_port"))
    ]
    return users
