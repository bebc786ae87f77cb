"""Make-before-break across chassis (`compiler.rollout`): a changed chain goes into force only once the
chassis it newly sends to have installed it, and what it stops using lingers for a grace period.

The compiler is driven as an agent drives it: NB documents with `chassis_status` reports, the revision
of the last change and the (monotonic) time are inputs.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.compiler.chain_view import DELIVERY_VNI_BASE
from steerflow.compiler.compile import ChassisCompiler, compile_nb
from steerflow.compiler.rollout import RolloutTimes
from steerflow.compiler.tables import CLASSIFY, INGRESS_PORT, SFC_DISPATCH
from steerflow.flows import Flow, FlowKey
from steerflow.model import schema
from steerflow.nbdb.concerns import ConcernLog
from tests.builders.random_docs import CHASSIS, TUNNEL, changed_between, fixed_docs, histories, numbered_port

Docs = dict[str, dict[str, dict[str, Any]]]
TIMES = RolloutTimes(ready_timeout=5.0, grace=2.0)


def _pair(i: int, ingress: int, egress: int) -> dict[str, Any]:
    params = {"correlation": None, "weight": 1}
    return {"id": f"pp{i}", "ingress": f"p{ingress}", "egress": f"p{egress}", schema.PAIR_KEY: i + 1,
            "service_function_parameters": params}  # fmt: skip


def _world() -> Docs:
    """Client p0 on ch1, server p1 on ch3; function pp0 (p2, p3) on ch2, pp1 (p4, p5) on ch3."""
    docs = fixed_docs()
    docs[schema.PORT] = {f"p{i}": numbered_port(i, 1) for i in range(6)}
    where = {0: "ch1", 1: "ch3", 2: "ch2", 3: "ch2", 4: "ch3", 5: "ch3"}
    docs[schema.PORT_BINDING] = {
        f"p{i}": {"port_id": f"p{i}", schema.CHASSIS: c, "ofport": i + 1} for i, c in where.items()
    }
    docs[schema.PORT_PAIR] = {"pp0": _pair(0, 2, 3), "pp1": _pair(1, 4, 5)}
    docs[schema.PORT_PAIR_GROUP] = {
        "g0": {"id": "g0", "port_pairs": ["pp0"]},
        "g1": {"id": "g1", "port_pairs": ["pp1"]},
    }
    fc = {"id": "fc0", "ethertype": "IPv4", "protocol": "udp", "logical_source_port": "p0"}
    docs[schema.FLOW_CLASSIFIER] = {"fc0": fc}
    return docs


def _with_chain(docs: Docs, groups: list[str], classifiers: tuple[str, ...] = ("fc0",)) -> Docs:
    after = {kind: dict(values) for kind, values in docs.items()}
    chain = {"id": "c0", "chain_id": 1, "port_pair_groups": groups, "flow_classifiers": list(classifiers),
             "project_id": "p1", schema.HOP_LABELS: {"g0": 100, "g1": 110},
             schema.EXIT_LABEL: 199}  # fmt: skip
    after[schema.PORT_CHAIN] = {"c0": chain}
    return after


def _reported(docs: Docs, installed: Mapping[str, int]) -> Docs:
    after = {kind: dict(values) for kind, values in docs.items()}
    after[schema.CHASSIS_STATUS] = {
        c: {"id": c, "applied_revision": r, "installed_revision": r} for c, r in installed.items()
    }
    return after


def _entries(flows: Mapping[FlowKey, Flow]) -> set[FlowKey]:
    return {key for key, flow in flows.items() if flow.table == CLASSIFY and flow.goto == SFC_DISPATCH}


def _deliveries(flows: Mapping[FlowKey, Flow]) -> set[int]:
    """The function instances (pair keys) this switch delivers tunnelled packets to."""
    found = set()
    for flow in flows.values():
        tunnel_id = {f.name: f.value for f in flow.match.fields}.get("tunnel_id")
        if flow.table == INGRESS_PORT and isinstance(tunnel_id, int) and tunnel_id >= DELIVERY_VNI_BASE:
            found.add(tunnel_id - DELIVERY_VNI_BASE)
    return found


def _compiler(chassis: str, docs: Docs) -> ChassisCompiler:
    compiler = ChassisCompiler(chassis, TUNNEL, times=TIMES)
    compiler.compile(docs, revision=1, now=0.0)
    return compiler


def test_a_new_chain_enters_only_once_the_function_chassis_installed_it() -> None:
    before = _world()
    after = _with_chain(before, ["g0"])
    sender = _compiler("ch1", before)
    sender.compile(after, changed_between(before, after), revision=10, now=1.0)
    assert not _entries(sender.state.flows), "classified before ch2 can deliver"
    assert sender.waiting and sender.in_force_revision(10) == 9
    sender.compile(_reported(after, {"ch2": 9, "ch3": 10}), set(), revision=10, now=1.1)
    assert not _entries(sender.state.flows), "ch2 has not reported revision 10"
    delta = sender.compile(_reported(after, {"ch2": 10}), set(), revision=10, now=1.2)
    assert _entries(sender.state.flows) and _entries(sender.state.flows) <= delta.flows
    assert not sender.waiting and sender.in_force_revision(10) == 10
    assert dict(sender.state.flows) == dict(compile_nb(after, "ch1", TUNNEL).flows)


def test_the_function_chassis_installs_its_delivery_at_once() -> None:
    before = _world()
    after = _with_chain(before, ["g0"])
    host = _compiler("ch2", before)
    host.compile(after, changed_between(before, after), revision=10, now=1.0)
    assert _deliveries(host.state.flows) == {1}
    assert not host.waiting and host.in_force_revision(10) == 10


def test_an_inserted_hop_waits_and_the_chain_keeps_its_old_path_meanwhile() -> None:
    one = _with_chain(_world(), ["g0"])
    two = _with_chain(_world(), ["g0", "g1"])
    g0_host = _compiler("ch2", one)
    old = dict(g0_host.state.flows)
    g0_host.compile(two, changed_between(one, two), revision=20, now=1.0)
    held = dict(g0_host.state.flows)
    assert {k: f for k, f in held.items() if k in old} == old, (
        "the path in force changed before ch3 was ready"
    )
    assert g0_host.in_force_revision(20) == 19
    g0_host.compile(_reported(two, {"ch3": 20}), set(), revision=20, now=1.5)
    assert dict(g0_host.state.flows) == dict(compile_nb(two, "ch2", TUNNEL).flows)


def test_a_removed_hop_goes_at_once_but_its_delivery_lingers_for_the_grace() -> None:
    two = _with_chain(_world(), ["g0", "g1"])
    one = _with_chain(_world(), ["g1"])
    g0_host = _compiler("ch2", two)
    assert _deliveries(g0_host.state.flows) == {1}
    g0_host.compile(one, changed_between(two, one), revision=30, now=10.0)
    assert not g0_host.waiting and g0_host.in_force_revision(30) == 30
    assert _deliveries(g0_host.state.flows) == {1}, "packets still heading to pp0 would be dropped"
    assert g0_host.next_deadline() == 10.0 + TIMES.grace
    g0_host.compile(one, set(), revision=30, now=10.0 + TIMES.grace)
    assert _deliveries(g0_host.state.flows) == set()
    assert dict(g0_host.state.flows) == dict(compile_nb(one, "ch2", TUNNEL).flows)
    assert g0_host.next_deadline() is None


def test_a_new_classifier_places_nothing_new_so_it_applies_at_once() -> None:
    before = _with_chain(_world(), ["g0"])
    before[schema.FLOW_CLASSIFIER]["fc1"] = {
        **before[schema.FLOW_CLASSIFIER]["fc0"],
        "id": "fc1",
        "protocol": "tcp",
    }
    after = _with_chain(before, ["g0"], ("fc0", "fc1"))
    sender = _compiler("ch1", before)
    sender.compile(after, changed_between(before, after), revision=40, now=1.0)
    assert not sender.waiting
    assert dict(sender.state.flows) == dict(compile_nb(after, "ch1", TUNNEL).flows)


def test_a_chassis_that_never_reports_holds_a_chain_back_only_until_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = _world()
    after = _with_chain(before, ["g0"])
    sender = _compiler("ch1", before)
    sender.compile(after, changed_between(before, after), revision=10, now=1.0)
    assert sender.next_deadline() == 1.0 + TIMES.ready_timeout
    with caplog.at_level(logging.WARNING):
        sender.compile(after, set(), revision=10, now=1.0 + TIMES.ready_timeout)
    assert _entries(sender.state.flows)
    assert "without ch2's report" in caplog.text


def test_a_change_undone_before_it_went_into_force_leaves_nothing_waiting() -> None:
    one = _with_chain(_world(), ["g0"])
    two = _with_chain(_world(), ["g0", "g1"])
    sender = _compiler("ch1", one)
    sender.compile(two, changed_between(one, two), revision=50, now=1.0)
    assert sender.waiting
    sender.compile(one, changed_between(two, one), revision=51, now=1.1)
    assert not sender.waiting and sender.in_force_revision(51) == 51
    assert dict(sender.state.flows) == dict(compile_nb(one, "ch1", TUNNEL).flows)


@settings(max_examples=80, deadline=None)
@given(histories(), st.sampled_from(CHASSIS), st.data())
def test_once_every_chassis_reported_and_the_grace_passed_the_state_is_the_nb_compiled(
    steps: list[Docs], chassis: str, data: st.DataObject
) -> None:
    """Whatever reports arrive (or not) between changes, a rollout settles on the NB compiled from
    scratch; while it runs, the in-force revision never passes a change still waiting."""
    compiler = ChassisCompiler(chassis, TUNNEL, times=TIMES)
    compiler.compile(steps[0], revision=1, now=0.0)
    now = 0.0
    for revision, (before, after) in enumerate(itertools.pairwise(steps), start=2):
        now += data.draw(st.sampled_from((0.0, 0.5, 3.0)))
        reports = {c: data.draw(st.sampled_from((revision - 1, revision))) for c in CHASSIS}
        changed = changed_between(before, after)
        compiler.compile(_reported(after, reports), changed, revision=revision, now=now)
        assert compiler.in_force_revision(revision) <= revision
        if compiler.waiting:
            assert compiler.in_force_revision(revision) < revision
    final, revision = steps[-1], len(steps)
    compiler.compile(_reported(final, dict.fromkeys(CHASSIS, revision)), set(), revision=revision, now=now)
    assert not compiler.waiting
    compiler.compile(final, set(), revision=revision, now=now + TIMES.grace)
    assert compiler.next_deadline() is None
    assert dict(compiler.state.flows) == dict(compile_nb(final, chassis, TUNNEL).flows)


def test_a_chassis_neither_classifying_nor_hosting_a_function_holds_nothing_of_the_chain() -> None:
    before = _world()
    after = _with_chain(before, ["g0"])  # from p0 on ch1 through pp0 on ch2; ch3 only hosts the server
    assert dict(compile_nb(after, "ch3", TUNNEL).flows) == dict(compile_nb(before, "ch3", TUNNEL).flows)
    assert dict(compile_nb(after, "ch2", TUNNEL).flows) != dict(compile_nb(before, "ch2", TUNNEL).flows)


def _checked(docs: Docs, pairs: list[str], failed: tuple[str, ...] = ()) -> Docs:
    """g0 with `pairs`, health-checked and failing closed; `failed`: instances reported unhealthy."""
    after = {kind: dict(values) for kind, values in docs.items()}
    params = {"health_check": {"type": "datapath"}, "fail_mode": "closed"}
    g0 = {"id": "g0", "port_pairs": pairs, "port_pair_group_parameters": params}
    after[schema.PORT_PAIR_GROUP] = {**after[schema.PORT_PAIR_GROUP], "g0": g0}
    after[schema.FUNCTION_HEALTH] = {p: {"id": p, schema.CHASSIS: "ch2", "healthy": False} for p in failed}
    return after


def _hop_drops(flows: Mapping[FlowKey, Flow]) -> bool:
    """Whether hop 100 (g0) drops what is dispatched to it (fail-closed, no healthy instance)."""
    return any(
        flow.table == SFC_DISPATCH and not flow.actions and flow.goto is None
        and {f.name: f.value for f in flow.match.fields}.get("reg2") == 100
        for flow in flows.values()
    )  # fmt: skip


def test_a_failed_instance_leaves_at_once_even_while_a_config_change_waits_for_a_lagging_chassis() -> None:
    one = _checked(_with_chain(_world(), ["g0"]), ["pp0"])
    sender = _compiler("ch1", one)
    assert not _hop_drops(sender.state.flows)
    grown = _checked(one, ["pp0", "pp1"])  # pp1 on ch3, which never reports: pending until the timeout
    sender.compile(grown, changed_between(one, grown), revision=10, now=1.0)
    assert sender.waiting
    failed = _checked(grown, ["pp0", "pp1"], failed=("pp0",))
    sender.compile(failed, changed_between(grown, failed), revision=11, now=1.1)
    assert _hop_drops(sender.state.flows), "the failed instance stayed in force behind the waiting change"
    assert sender.waiting, "the config change itself still waits for ch3"
    healed = _checked(grown, ["pp0", "pp1"])
    sender.compile(healed, changed_between(failed, healed), revision=12, now=1.2)
    assert not _hop_drops(sender.state.flows)


def test_a_chassis_that_reported_every_revision_concerning_it_is_not_waited_for() -> None:
    """Agents report only the revisions that concern them (`nbdb.concerns`): ch2 installed revision 10
    (its function joined the chain), revision 11 concerned only ch1, so the chain staged at 11 goes
    into force on ch1 without a report of 11 that would never come."""
    before = _world()
    after = _with_chain(before, ["g0"])
    log = ConcernLog()
    log.note(1, None)
    log.note(10, frozenset({"ch1", "ch2"}))
    log.note(11, frozenset({"ch1"}))
    sender = ChassisCompiler("ch1", TUNNEL, times=TIMES, concerns=log)
    sender.compile(_reported(before, {"ch2": 9}), revision=1, now=0.0)
    sender.compile(_reported(after, {"ch2": 9}), changed_between(before, after), revision=11, now=1.0)
    assert not _entries(sender.state.flows), "ch2 has not reported the revision that placed its function"
    sender.compile(_reported(after, {"ch2": 10}), set(), revision=11, now=1.1)
    assert _entries(sender.state.flows) and not sender.waiting
