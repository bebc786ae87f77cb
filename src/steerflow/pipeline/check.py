"""Flows held to the pipeline declaration: declared match fields, targets and priority bands.

Pure. `check` reads compiled flows (and the groups they use) against `tables.PIPELINE` and says, per
offending flow, what it does that its table does not declare: a field it matches, a table it goes or
resubmits to, a priority outside every band. The compiler's tests run it on every scenario, so the
declaration (and docs/pipeline.md, generated from it) is what the switch really holds.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from steerflow.flows.types import Action, Clone, Ct, Flow, Group, GroupAction, Resubmit
from steerflow.pipeline.tables import HEADER, PIPELINE, Table


@dataclass(frozen=True)
class Violation:
    """One thing a flow does that its table does not declare."""

    table: str  # the table's name, or its number when the table is not declared at all
    priority: int
    match: str  # ovs-ofctl syntax
    problem: str

    def __str__(self) -> str:
        return f"{self.table} priority {self.priority} [{self.match}]: {self.problem}"


def check(
    flows: Iterable[Flow],
    groups: Iterable[Group] = (),
    pipeline: Sequence[Table] = PIPELINE,
    header_fields: Collection[str] = frozenset(),
) -> list[Violation]:
    """Every violation of the declaration by `flows`; a group's resubmits count for each table whose
    flows use the group; `header_fields` are what a table declaring `HEADER` may match besides its own
    (the encapsulation drivers': `compiler.encap.header_fields()`). Empty: all is as declared."""
    tables = {t.id: t for t in pipeline}
    by_group = {g.group_id: g for g in groups}
    found: list[Violation] = []
    for flow in flows:
        table = tables.get(flow.table)
        if table is None:
            found.append(_violation(str(flow.table), flow, "its table is not declared"))
            continue
        found.extend(
            _violation(table.name, flow, p) for p in _problems(table, flow, tables, by_group, header_fields)
        )
    return found


def _violation(table: str, flow: Flow, problem: str) -> Violation:
    return Violation(table, flow.priority, str(flow.match), problem)


def _problems(
    table: Table,
    flow: Flow,
    tables: Mapping[int, Table],
    groups: Mapping[int, Group],
    header_fields: Collection[str],
) -> Iterator[str]:
    reads_header = HEADER in table.matches
    for field in flow.match.fields:
        if field.name not in table.matches and not (reads_header and field.name in header_fields):
            yield f"matches {field.name}, which {table.name} does not declare"
    if table.band_of(flow.priority) is None:
        bands = ", ".join(str(b) for b in table.bands) or "none"
        yield f"priority {flow.priority} is in none of {table.name}'s bands ({bands})"
    if flow.goto is not None:
        target = _name(tables, flow.goto)
        if target not in table.next_tables:
            yield f"goes to {target}, which {table.name} does not declare as next"
    for via, target_id in _sends(flow.actions, groups):
        target = _name(tables, target_id)
        if target not in table.resubmits:
            yield f"{via} to {target}, which {table.name} does not declare as a resubmit target"


def _sends(actions: Iterable[Action], groups: Mapping[int, Group]) -> Iterator[tuple[str, int]]:
    """The tables `actions` send the packet to and come back from: (how, table number)."""
    for action in actions:
        if isinstance(action, Resubmit):
            yield "resubmits", action.table
        elif isinstance(action, Ct) and action.table is not None:
            yield "recirculates (ct)", action.table
        elif isinstance(action, Clone):
            for how, table in _sends(action.actions, groups):
                yield f"clone {how}", table
        elif isinstance(action, GroupAction) and action.group_id in groups:
            for bucket in groups[action.group_id].buckets:
                for how, table in _sends(bucket.actions, {}):
                    yield f"group {action.group_id} {how}", table


def _name(tables: Mapping[int, Table], table_id: int) -> str:
    table = tables.get(table_id)
    return str(table_id) if table is None else table.name
