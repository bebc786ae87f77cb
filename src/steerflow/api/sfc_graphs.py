"""Service graphs: branching and joining chains into a loop-free graph (rules 32-38)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from steerflow.api import sfc_errors as err
from steerflow.api.base import StoredResource, require_visible
from steerflow.api.context import Context
from steerflow.api.sfc_attributes import SERVICE_GRAPH
from steerflow.api.sfc_conflicts import basic_conflict
from steerflow.api.sfc_pairs import SFC_PREFIX
from steerflow.api.sfc_refs import classifiers_of_chain, graph_holding_chain, group_correlations
from steerflow.model import schema
from steerflow.model.sfc import FlowClassifier
from steerflow.nbdb.api import JsonDict, Operation
from steerflow.nbdb.txn import Snapshot

Links = Mapping[str, Sequence[str]]


class ServiceGraphs(StoredResource):
    """`/sfc/service_graphs`: `{source chain: [destination chains]}`, fixed at creation."""

    resource = schema.SERVICE_GRAPH
    collection = "service_graphs"
    path_prefix = SFC_PREFIX
    attributes = SERVICE_GRAPH
    not_found = err.ServiceGraphNotFound
    default_quota = 10

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        links: Links = obj["port_chains"]
        _check_unclaimed(snap, links, obj["id"])
        _GraphCheck(ctx, snap).run(links)
        if _has_loop(links):
            raise err.ServiceGraphLoopDetected()
        return obj, []


def _check_unclaimed(snap: Snapshot, links: Links, graph_id: str) -> None:
    """Rule 32: a chain belongs to at most one graph."""
    chains = set(links) | {dst for dsts in links.values() for dst in dsts}
    if any(graph_holding_chain(snap, chain, skip_graph=graph_id) for chain in chains):
        raise err.ServiceGraphInvalidPortChains(port_chains=dict(links))


class _GraphCheck:
    """Rules 33-37, in upstream's order, over one snapshot."""

    def __init__(self, ctx: Context, snap: Snapshot) -> None:
        self.ctx = ctx
        self.snap = snap
        self.encapsulation: str | None = None

    def run(self, links: Links) -> None:
        for src, dsts in links.items():
            self._check_end(src, last_group=True)
            branch_classifiers: list[FlowClassifier] = []
            seen: list[str] = []
            for dst in dsts:
                if dst in seen:
                    raise err.ServiceGraphPortChainInConflict(pc_id=dst)
                seen.append(dst)
                chain = self._check_end(dst, last_group=False)
                branch_classifiers.extend(classifiers_of_chain(self.snap, chain))
                _check_unambiguous(branch_classifiers)

    def _check_end(self, chain_id: str, last_group: bool) -> JsonDict:
        """The chain exists, its joining group's port pairs speak its correlation, encapsulations agree."""
        chain = require_visible(self.ctx, self.snap, schema.PORT_CHAIN, chain_id, err.PortChainNotFound)
        correlation = chain["chain_parameters"]["correlation"]
        groups = chain["port_pair_groups"]
        joining_group = groups[-1] if last_group else groups[0]
        if any(c != correlation for _, c in group_correlations(self.snap, joining_group)):
            raise err.ServiceGraphImpossibleBranching()
        if self.encapsulation is None:
            self.encapsulation = correlation
        elif self.encapsulation != correlation:
            raise err.ServiceGraphInconsistentEncapsulation()
        return chain


def _check_unambiguous(classifiers: Sequence[FlowClassifier]) -> None:
    """Rule 37: no two classifiers at one branching point may match the same packet."""
    for i, first in enumerate(classifiers):
        for second in classifiers[i + 1 :]:
            if basic_conflict(first, second):
                raise err.ServiceGraphFlowClassifierInConflict(fc1_id=first.id, fc2_id=second.id)


def _has_loop(links: Links) -> bool:
    """Rule 38: a directed cycle among the links (iterative depth-first search with colours)."""
    on_path, done = set[str](), set[str]()
    for root in links:
        if root in done:
            continue
        on_path.add(root)
        stack = [(root, iter(links.get(root, ())))]
        while stack:
            node, successors = stack[-1]
            nxt = next(successors, None)
            if nxt is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
            elif nxt in on_path:
                return True
            elif nxt not in done:
                on_path.add(nxt)
                stack.append((nxt, iter(links.get(nxt, ()))))
    return False
