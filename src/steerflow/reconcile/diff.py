"""The pure diff of desired vs installed flows and groups, in the order a switch must apply it.

Flows are addressed by `FlowKey` (table, priority, match): a key only in desired is an add, only in
installed a delete-strict, in both with different behaviour a modify-strict (never delete-then-add, so
no packet sees a gap). Groups are added/modified before the flows that may point at them and deleted
only after the flows that used them are gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from steerflow.flows.types import Flow, FlowKey, Group


@dataclass(frozen=True)
class FlowChanges:
    adds: tuple[Flow, ...] = ()
    modifies: tuple[Flow, ...] = ()
    deletes: tuple[Flow, ...] = ()

    def __len__(self) -> int:
        return len(self.adds) + len(self.modifies) + len(self.deletes)


@dataclass(frozen=True)
class GroupChanges:
    adds: tuple[Group, ...] = ()
    modifies: tuple[Group, ...] = ()
    deletes: tuple[Group, ...] = ()

    def __len__(self) -> int:
        return len(self.adds) + len(self.modifies) + len(self.deletes)


@dataclass(frozen=True)
class Changes:
    """Everything to send, in send order: group adds/mods, flow changes, then group deletes."""

    groups: GroupChanges
    flows: FlowChanges

    def __len__(self) -> int:
        return len(self.groups) + len(self.flows)


def diff_flows(desired: Mapping[FlowKey, Flow], installed: Mapping[FlowKey, Flow]) -> FlowChanges:
    adds = tuple(f for k, f in desired.items() if k not in installed)
    modifies = tuple(f for k, f in desired.items() if k in installed and not f.same_behaviour(installed[k]))
    deletes = tuple(f for k, f in installed.items() if k not in desired)
    return FlowChanges(adds, modifies, deletes)


def diff_groups(desired: Mapping[int, Group], installed: Mapping[int, Group]) -> GroupChanges:
    adds = tuple(g for gid, g in desired.items() if gid not in installed)
    modifies = tuple(g for gid, g in desired.items() if gid in installed and installed[gid] != g)
    deletes = tuple(g for gid, g in installed.items() if gid not in desired)
    return GroupChanges(adds, modifies, deletes)


def diff(
    desired_flows: Mapping[FlowKey, Flow],
    installed_flows: Mapping[FlowKey, Flow],
    desired_groups: Mapping[int, Group],
    installed_groups: Mapping[int, Group],
) -> Changes:
    return Changes(
        groups=diff_groups(desired_groups, installed_groups),
        flows=diff_flows(desired_flows, installed_flows),
    )
