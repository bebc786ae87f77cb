"""FlowUnion: the lowest unit holding a key wins it, whatever the order of replaces; changes are exact."""

import random

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
