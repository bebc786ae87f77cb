"""Every flow the compiler emits, in every scenario, is as the pipeline declares; the checker catches
each kind of departure from the declaration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from steerflow.compiler.compile import DesiredState
from steerflow.compiler.encap import header_fields
from steerflow.compiler.tables import (
    ARP_RESPONDER,
    CLASSIFY,
    EGRESS,
    L2_LOOKUP,
    SFC_DISPATCH,
    SFC_ENCAP,
    SFC_RETURN,
    SFC_RETURN_CT,
)
from steerflow.flows.types import (
    Action,
    Bucket,
    Clone,
    Ct,
    Flow,
    Group,
    GroupAction,
    Match,
    Output,
    Resubmit,
    SetField,
)
from steerflow.pipeline.check import Violation, check
from steerflow.pipeline.tables import BY_ID, HEADER, PIPELINE
from tests.builders.pipeline_scenarios import HEADERS, compiled_states, rollout_states, scenarios

SCENARIOS = {s.name: s for s in scenarios()}


def _report(state: DesiredState) -> list[str]:
    return [str(v) for v in check(state.flows.values(), state.groups.values(), header_fields=header_fields())]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_compiled_flow_is_as_the_pipeline_declares(name: str) -> None:
    for chassis, state in compiled_states(SCENARIOS[name]):
        assert state.flows, f"{name} compiles nothing on {chassis}"
        problems = _report(state)
        assert not problems, f"{name} on {chassis}:\n" + "\n".join(problems)


@pytest.mark.parametrize("header", HEADERS)
def test_every_rollout_view_is_as_the_pipeline_declares(header: str) -> None:
    for step, state in rollout_states(header):
        problems = _report(state)
        assert not problems, f"{header} chain moved, {step}:\n" + "\n".join(problems)


def test_the_scenarios_use_everything_the_declaration_allows() -> None:
    """The declaration says no more than the compiler does: every field, band and target of every table
    is used by some scenario (so the scenarios cover every kind of flow, and a dead entry shows)."""
    declared = {
        (t.name, what, item)
        for t in PIPELINE
        for what, items in (
            ("match", t.matches),
            ("goto", t.next_tables),
            ("resubmit", t.resubmits),
            ("band", tuple(b.name for b in t.bands)),
        )
        for item in items
    }
    states = [state for s in SCENARIOS.values() for _, state in compiled_states(s)]
    used = {use for state in states for flow in state.flows.values() for use in _uses(flow)}
    assert declared - used == set()


def _uses(flow: Flow) -> set[tuple[str, str, str]]:
    table = BY_ID[flow.table]
    found = {(table.name, "match", f.name if f.name in table.matches else HEADER) for f in flow.match.fields}
    band = table.band_of(flow.priority)
    found |= {(table.name, "band", band.name)} if band is not None else set()
    if flow.goto is not None:
        found.add((table.name, "goto", BY_ID[flow.goto].name))
    for target in _targets(flow.actions):
        found.add((table.name, "resubmit", BY_ID[target].name))
    return found


def _targets(actions: tuple[Action, ...]) -> Iterator[int]:
    """The tables `actions` resubmit to (or recirculate to), a clone's included."""
    for action in actions:
        if isinstance(action, Clone):
            yield from _targets(action.actions)
        elif isinstance(action, Resubmit | Ct) and action.table is not None:
            yield action.table


# ---- the checker itself ------------------------------------------------------------------------------

_HOP = Match.of(reg2=100)


def test_a_flow_as_declared_passes() -> None:
    flow = Flow(SFC_DISPATCH, 100, _HOP, (SetField("reg4", 5),), goto=SFC_ENCAP)
    assert check([flow]) == []


def test_a_header_field_is_declared_only_by_the_drivers_that_match_it() -> None:
    """SFC_RETURN reads a service header: a field is fine there once a driver declares it (a third
    party's `vlan_vid`), never in a table that reads no header."""
    back = Flow(SFC_RETURN, 100, Match.of(reg6=3, vlan_vid=0x1005), (Resubmit(SFC_DISPATCH),))
    assert [v.problem for v in check([back])] == ["matches vlan_vid, which SFC_RETURN does not declare"]
    assert check([back], header_fields={"vlan_vid"}) == []
    elsewhere = Flow(SFC_DISPATCH, 100, _HOP.extend(vlan_vid=0x1005), goto=SFC_ENCAP)
    assert len(check([elsewhere], header_fields={"vlan_vid"})) == 1
    assert {"mpls_label", "nsh_spi"} <= header_fields()  # the drivers steerflow ships declare theirs


def test_an_undeclared_match_field_is_reported_with_table_priority_and_match() -> None:
    flow = Flow(SFC_DISPATCH, 100, _HOP.extend(eth_dst="02:00:00:00:00:01"), goto=SFC_ENCAP)
    assert check([flow]) == [
        Violation(
            "SFC_DISPATCH",
            100,
            "eth_dst=02:00:00:00:00:01,reg2=0x64",
            "matches eth_dst, which SFC_DISPATCH does not declare",
        )
    ]
    assert str(check([flow])[0]).startswith("SFC_DISPATCH priority 100 [eth_dst=02:00:00:00:00:01,reg2=0x64]")


def test_a_goto_to_an_undeclared_table_is_reported() -> None:
    flow = Flow(SFC_DISPATCH, 100, _HOP, goto=EGRESS)
    assert [v.problem for v in check([flow])] == [
        "goes to EGRESS, which SFC_DISPATCH does not declare as next"
    ]


def test_a_goto_to_a_table_that_does_not_exist_is_reported() -> None:
    flow = Flow(SFC_DISPATCH, 100, _HOP, goto=77)
    assert [v.problem for v in check([flow])] == ["goes to 77, which SFC_DISPATCH does not declare as next"]


def test_a_resubmit_and_a_ct_recirculation_to_undeclared_tables_are_reported() -> None:
    back = Flow(SFC_RETURN_CT, 100, Match.of(ct_mark=100), (Resubmit(CLASSIFY), Ct(zone=1, table=SFC_RETURN)))
    assert [v.problem for v in check([back])] == [
        "resubmits to CLASSIFY, which SFC_RETURN_CT does not declare as a resubmit target",
        "recirculates (ct) to SFC_RETURN, which SFC_RETURN_CT does not declare as a resubmit target",
    ]


def test_a_resubmit_declared_only_as_a_goto_is_reported() -> None:
    flow = Flow(CLASSIFY, 0, Match(), (Resubmit(ARP_RESPONDER),))
    assert len(check([flow])) == 1


def test_a_group_resubmitting_where_the_using_table_may_not_is_reported() -> None:
    group = Group(7, "all", (Bucket((Output(3),)), Bucket((Resubmit(SFC_DISPATCH),))))
    flood = Flow(L2_LOOKUP, 80, Match.of(metadata=10), (GroupAction(7),))
    assert [v.problem for v in check([flood], [group])] == [
        "group 7 resubmits to SFC_DISPATCH, which L2_LOOKUP does not declare as a resubmit target"
    ]
    fine = Group(7, "all", (Bucket((Output(3),)),))
    assert check([flood], [fine]) == []


@pytest.mark.parametrize("priority", [99, 101, 0, 65535])
def test_a_priority_outside_every_band_is_reported(priority: int) -> None:
    flow = Flow(SFC_DISPATCH, priority, _HOP, goto=SFC_ENCAP)
    assert [v.problem for v in check([flow])] == [
        f"priority {priority} is in none of SFC_DISPATCH's bands (hop or exit 100)"
    ]


def test_a_flow_in_an_undeclared_table_is_reported() -> None:
    flow = Flow(99, 1, Match.of(reg2=1))
    assert check([flow]) == [Violation("99", 1, "reg2=1", "its table is not declared")]


def test_one_flow_breaking_several_rules_reports_each() -> None:
    flow = Flow(EGRESS, 7, Match.of(ipv4_dst="10.0.0.1", reg7=2), (Resubmit(CLASSIFY),), goto=EGRESS)
    assert len(check([flow])) == 4
