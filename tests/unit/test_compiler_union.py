"""FlowUnion: the lowest unit holding a key wins it, whatever the order of replaces; changes are exact."""

import random

import pytest

from steerflow.compiler import union as union_module
from steerflow.compiler.union import FlowUnion, UnitId
from steerflow.flows.types import Flow, FlowKey, Match, Output

CHAIN_A: UnitId = (3, 1, "chain-a")
CHAIN_B: UnitId = (3, 2, "chain-b")
INSTANCE: UnitId = (2, 0, "instance")


def flow(port: int, out: int) -> Flow:
    return Flow(table=0, priority=10, match=Match.of(in_port=port), actions=(Output(out),))


def test_a_key_two_units_hold_goes_to_the_lower_and_back() -> None:
    union = FlowUnion()
    key = flow(1, 0).key
    assert union.replace(CHAIN_B, [flow(1, 20)]) == {key}
    assert union.replace(CHAIN_A, [flow(1, 10)]) == {key}
    assert union.flows[key] == flow(1, 10)
    assert union.replace(CHAIN_B, [flow(1, 21)]) == set()  # the loser changed: the switch does not
    assert union.replace(CHAIN_A, []) == {key}
    assert union.flows[key] == flow(1, 21)
    assert union.replace(CHAIN_B, []) == {key}
    assert key not in union.flows


def test_the_same_flow_held_twice_stays_while_any_unit_holds_it() -> None:
    union = FlowUnion()
    shared = flow(5, 6)
    union.replace(CHAIN_A, [shared, flow(1, 2)])
    assert union.replace(CHAIN_B, [shared]) == set()
    assert union.replace(CHAIN_A, [flow(1, 2)]) == set()
    assert union.flows[shared.key] == shared
    assert union.replace(CHAIN_B, []) == {shared.key}
    assert dict(union.flows) == {flow(1, 2).key: flow(1, 2)}


def expected(units: dict[UnitId, list[Flow]]) -> dict[FlowKey, Flow]:
    """From scratch: per key, the first flow of the lowest unit compiling it."""
    out: dict[FlowKey, Flow] = {}
    for unit in sorted(units, reverse=True):
        firsts: dict[FlowKey, Flow] = {}
        for f in units[unit]:
            firsts.setdefault(f.key, f)
        out.update(firsts)
    return out


def test_random_replaces_equal_the_union_from_scratch() -> None:
    rng = random.Random(7)
    union = FlowUnion()
    units: dict[UnitId, list[Flow]] = {}
    ids: list[UnitId] = [(rng.randrange(4), n, f"u{n}") for n in range(8)]
    for _ in range(400):
        unit = rng.choice(ids)
        flows = [flow(rng.randrange(6), rng.randrange(3)) for _ in range(rng.randrange(5))]
        before = expected(units)
        units[unit] = flows
        after = expected(units)
        changed = union.replace(unit, flows)
        assert dict(union.flows) == after
        assert changed == {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def test_flows_of_any_unit_share_one_object_per_equal_field_and_action() -> None:
    union = FlowUnion()
    union.replace(CHAIN_A, [flow(1, 7), flow(2, 7)])
    union.replace(CHAIN_B, [Flow(table=3, priority=1, match=Match.of(in_port=1), actions=(Output(8),))])
    a1, a2 = (union.flows[flow(port, 0).key] for port in (1, 2))
    b = union.flows[(3, 1, Match.of(in_port=1))]
    assert (a1, a2) == (flow(1, 7), flow(2, 7))
    assert a1.actions[0] is a2.actions[0]
    assert a1.match.fields[0] is b.match.fields[0]
    assert next(k for k in union.flows if k == a1.key)[2] is a1.match  # a key names its flow's match


def test_a_unit_compiled_again_keeps_the_flows_it_held() -> None:
    union = FlowUnion()
    union.replace(CHAIN_A, [flow(1, 7), flow(2, 7)])
    held = union.flows[flow(1, 0).key]
    assert union.replace(CHAIN_A, [flow(1, 7), flow(2, 8)]) == {flow(2, 0).key}
    assert union.flows[flow(1, 0).key] is held


def test_values_no_flow_uses_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(union_module, "_MIN_VALUES", 4)
    union = FlowUnion()
    union.replace(CHAIN_A, [flow(port, 100 + port) for port in range(4)])  # 8 values, all used: limit 16
    union.replace(CHAIN_A, [flow(0, 100)])  # the values of ports 1-3 are no longer used
    union.replace(CHAIN_B, [flow(port, port) for port in range(10, 15)])  # 18 values: past the limit
    values = union._values
    ports = (0, *range(10, 15))
    assert set(values._fields) == {f for p in ports for f in Match.of(in_port=p).fields}
    assert set(values._actions) == {Output(p) for p in (100, *range(10, 15))}
    union.replace(CHAIN_B, [flow(0, 100)])
    assert union.flows[flow(0, 0).key].actions[0] is values._actions[Output(100)]
