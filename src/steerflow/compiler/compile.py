"""One compilation: every module's flows and groups for one chassis, indexed for the reconciler."""

from __future__ import annotations

from dataclasses import dataclass

from steerflow.compiler.l2 import l2_flows, l2_groups
from steerflow.compiler.view import ChassisView
from steerflow.flows.types import Flow, FlowKey, Group
from steerflow.reconcile.diff import index_flows


@dataclass(frozen=True)
class DesiredState:
    """What the switch of one chassis must hold, exactly."""

    flows: dict[FlowKey, Flow]
    groups: dict[int, Group]


def compile_chassis(view: ChassisView) -> DesiredState:
    """Pure: the same view always gives an equal state."""
    groups: dict[int, Group] = {}
    for group in l2_groups(view):
        if group.group_id in groups:
            raise ValueError(f"group id {group.group_id} compiled twice")
        groups[group.group_id] = group
    return DesiredState(flows=index_flows(l2_flows(view)), groups=groups)
