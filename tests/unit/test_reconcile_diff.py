"""The reconciler's diff: adds, modify-strict (never delete+add), delete-strict, and group ordering."""

import pytest

from steerflow.flows import Bucket, Flow, Group, GroupAction, Match, Output, SetField
from steerflow.flows.types import index_flows
from steerflow.reconcile.diff import diff, diff_flows


def _flow(table: int, port: int, out: int) -> Flow:
    return Flow(table, 100, Match.of(in_port=port), (Output(out),))


def test_identical_states_give_no_changes() -> None:
    state = index_flows([_flow(0, 1, 2), _flow(0, 2, 1)])
    assert len(diff_flows(state, dict(state))) == 0


def test_changed_actions_are_a_modify_not_delete_and_add() -> None:
    installed = index_flows([_flow(0, 1, 2)])
    desired = index_flows([_flow(0, 1, 3)])
    changes = diff_flows(desired, installed)
    assert changes.modifies == (_flow(0, 1, 3),)
    assert changes.adds == () and changes.deletes == ()


def test_add_and_delete_by_key() -> None:
    installed = index_flows([_flow(0, 1, 2)])
    desired = index_flows([_flow(0, 2, 2)])
    changes = diff_flows(desired, installed)
    assert changes.adds == (_flow(0, 2, 2),)
    assert changes.deletes == (_flow(0, 1, 2),)


def test_a_then_b_then_a_round_trips() -> None:
    a = index_flows([_flow(0, 1, 2), _flow(1, 5, 6)])
    b = index_flows([_flow(0, 1, 3), _flow(2, 7, 8)])
    state = dict(a)
    for target in (b, a):
        changes = diff_flows(target, state)
        for f in changes.deletes:
            del state[f.key]
        for f in changes.adds + changes.modifies:
            state[f.key] = f
        assert state == target


def test_matches_are_canonical() -> None:
    assert Match.of(eth_dst="02:AA:00:00:00:01", in_port=1) == Match.of(
        in_port=1, eth_dst="02:aa:00:00:00:01"
    )
    assert Match.of(ipv6_src="2001:db8:0::1") == Match.of(ipv6_src="2001:db8::1")


def test_conflicting_flows_for_one_key_are_rejected() -> None:
    with pytest.raises(ValueError, match="share table/priority/match"):
        index_flows([_flow(0, 1, 2), _flow(0, 1, 3)])


def test_groups_diff() -> None:
    g1 = Group(1, "select", (Bucket((SetField("reg7", 5), Output(3))),))
    g1b = Group(1, "select", (Bucket((Output(4),), weight=3),))
    g2 = Group(2, "all", (Bucket((GroupAction(1),)),))
    changes = diff(index_flows([]), index_flows([]), {1: g1b}, {1: g1, 2: g2})
    assert changes.groups.modifies == (g1b,)
    assert changes.groups.deletes == (g2,)


def test_flow_renders_in_ofctl_syntax() -> None:
    flow = Flow(10, 200, Match.of(in_port=1, reg6=(5, 0xFFFF)), (SetField("reg7", 3),), goto=20, cookie=0x1)
    assert str(flow) == (
        "cookie=0x1,table=10,priority=200,in_port=1,reg6=5/0xffff,actions=set_field:3->reg7,goto_table:20"
    )
