"""One compilation: every module's flows and groups for one chassis, indexed for the reconciler."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from steerflow.compiler.chain import chain_flows
from steerflow.compiler.chain_view import Chain, Docs, build_chains
from steerflow.compiler.encap import driver
from steerflow.compiler.l2 import l2_flows, l2_groups
from steerflow.compiler.view import ChassisView, build_view
from steerflow.flows.types import Flow, FlowKey, Group
from steerflow.reconcile.diff import index_flows


@dataclass(frozen=True)
class DesiredState:
    """What the switch of one chassis must hold, exactly."""

    flows: dict[FlowKey, Flow]
    groups: dict[int, Group]


def compile_nb(objects: Docs, chassis: str, tunnel_ofport: int) -> DesiredState:
    """Pure: NB documents (kind -> id -> value) to the desired state of `chassis`."""
    view = build_view(objects, chassis, tunnel_ofport)
    return compile_chassis(view, build_chains(objects, view))


def compile_chassis(view: ChassisView, chains: tuple[Chain, ...] = ()) -> DesiredState:
    """Pure: the same view always gives an equal state."""
    flows = [*l2_flows(view), *chain_flows(view, chains, driver)]
    return DesiredState(flows=index_flows(flows), groups=_index_groups(l2_groups(view)))


def _index_groups(groups: Iterable[Group]) -> dict[int, Group]:
    indexed: dict[int, Group] = {}
    for group in groups:
        if group.group_id in indexed:
            raise ValueError(f"group id {group.group_id} compiled twice")
        indexed[group.group_id] = group
    return indexed
