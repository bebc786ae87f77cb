"""Function health: the group parameters, balance with failed instances, fail-open and fail-closed hops."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steerflow.api.errors import HTTPBadRequest
from steerflow.compiler.balance import healthy_owners, slot_owners
from steerflow.compiler.compile import ChassisCompiler, compile_nb
from steerflow.compiler.tables import SFC_DISPATCH
from steerflow.model import schema
from steerflow.nbdb.health import CheckSettings, HealthCounter, check_settings, is_healthy, report_health
from steerflow.nbdb.memory import MemoryStore
from steerflow.ofsim import Packet, Switch
from steerflow.pipeline.cookies import CookieKind, cookie, owner
from tests.builders.chain_docs import CLIENT, SERVER, TUNNEL, add_second_instance, chain_nb
from tests.builders.sfc_world import ALICE, World, rejects

CHECK = {"type": "icmp", "interval_ms": 100, "failures": 2}


# ---- balance ------------------------------------------------------------------------------------------


def _ids(n: int, seed: int) -> tuple[str, ...]:
    return tuple(str(uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}/{i}")) for i in range(n))


@given(
    weights=st.lists(st.integers(1, 5), min_size=2, max_size=8),
    seed=st.integers(0, 1000),
    data=st.data(),
)
def test_a_failed_instance_s_slots_go_to_healthy_ones_and_no_other_slot_moves(
    weights: list[int], seed: int, data: st.DataObject
) -> None:
    ids = _ids(len(weights), seed)
    healthy = tuple(data.draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids))))
    if not any(healthy):
        healthy = (True, *healthy[1:])
    before = slot_owners(ids, tuple(weights))
    after = healthy_owners(ids, tuple(weights), healthy)
    assert len(after) == len(before)
    for slot, (was, now) in enumerate(zip(before, after, strict=True)):
        assert healthy[now], f"slot {slot} still owned by a failed instance"
        if healthy[was]:
            assert now == was  # flows hashed to healthy instances do not move
    if all(healthy):
        assert after == before


def test_the_failed_instance_s_slots_are_shared_by_the_healthy_ones_weights() -> None:
    ids = _ids(3, 7)
    before = slot_owners(ids, (1, 1, 2))
    after = healthy_owners(ids, (1, 1, 2), (True, False, True))
    inherited = [after[s] for s, was in enumerate(before) if was == 1]
    assert inherited and set(inherited) <= {0, 2}
    assert abs(inherited.count(2) - 2 * inherited.count(0)) <= 2  # 1:2, within rounding
    assert healthy_owners(ids, (1, 1, 2), (True, True, True)) == before  # back when healthy


def test_no_healthy_instance_cannot_own_slots() -> None:
    with pytest.raises(ValueError, match="no healthy instance"):
        healthy_owners(_ids(2, 0), (1, 1), (False, False))


# ---- compiled: a two-instance group on ch1 ---------------------------------------------------------------


def _nb(params: dict[str, Any] | None = None, failed: tuple[str, ...] = ()) -> dict[str, Any]:
    """client -> {pp1 (ofport 3), pp2 (ofport 5)} on ch1 -> server on ch2; `failed` reported unhealthy."""
    nb = chain_nb(correlation=None, sf_chassis="ch1")
    nb[schema.PORT]["client"]["port_security_enabled"] = False  # many sources from one port
    add_second_instance(nb)
    group = nb[schema.PORT_PAIR_GROUP]["ppg1"]
    if params is not None:
        group["port_pair_group_parameters"] = params
    nb[schema.FUNCTION_HEALTH] = {
        pid: {"id": pid, schema.CHASSIS: "ch1", "healthy": pid not in failed} for pid in ("pp1", "pp2")
    }
    return nb


def _switch(nb: dict[str, Any]) -> Switch:
    state = compile_nb(nb, "ch1", TUNNEL)
    return Switch(state.flows.values(), state.groups.values(), reject_overlaps=True)


def _flows() -> list[Packet]:
    return [
        Packet.of(
            in_port=1,
            eth_src=CLIENT,
            eth_dst=SERVER,
            eth_type=0x0800,
            ip_proto=17,
            ipv4_src=f"203.0.113.{i}",
            ipv4_dst="203.0.113.2",
            udp_src=5000 + i,
            udp_dst=7,
        )
        for i in range(10, 250)
    ]


def _ports(sw: Switch, packets: list[Packet]) -> list[tuple[int, ...]]:
    return [sw.run(p).ports for p in packets]


def test_a_failed_instance_s_flows_move_to_the_healthy_one_and_the_others_stay() -> None:
    packets = _flows()
    before = _ports(_switch(_nb({"health_check": CHECK})), packets)
    assert {p for (p,) in before} == {3, 5}
    after = _ports(_switch(_nb({"health_check": CHECK}, failed=("pp1",))), packets)
    for was, now in zip(before, after, strict=True):
        assert now == (5,)  # all on pp2 now, pp2's own flows included (they never moved)
        assert was in ((3,), (5,))
    back = _ports(_switch(_nb({"health_check": CHECK})), packets)
    assert back == before


def test_an_unchecked_group_ignores_health_reports() -> None:
    packets = _flows()
    assert _ports(_switch(_nb(None, failed=("pp1", "pp2"))), packets) == _ports(_switch(_nb(None)), packets)


def test_fail_open_skips_the_hop_and_fail_closed_drops_under_the_group_s_cookie() -> None:
    packet = _flows()[0]
    opened = _switch(_nb({"health_check": CHECK}, failed=("pp1", "pp2"))).run(packet)
    assert opened.ports == (TUNNEL,)  # straight on to the server's chassis, no function crossed
    nb = _nb({"health_check": CHECK, "fail_mode": "closed"}, failed=("pp1", "pp2"))
    closed = _switch(nb).run(packet)
    assert closed.dropped
    last = closed.hops[-1]
    assert last.table == SFC_DISPATCH and last.flow is not None
    assert owner(last.flow.cookie, nb) == (schema.PORT_PAIR_GROUP, "ppg1", CookieKind.HOP)


def test_an_unreported_instance_counts_as_healthy() -> None:
    nb = _nb({"health_check": CHECK, "fail_mode": "closed"})
    del nb[schema.FUNCTION_HEALTH]
    assert not _switch(nb).run(_flows()[0]).dropped


def test_a_health_change_recompiles_that_group_s_hop_incrementally_and_nothing_else() -> None:
    before = _nb({"health_check": CHECK})
    compiler = ChassisCompiler("ch1", TUNNEL)
    compiler.compile(before)
    after = _nb({"health_check": CHECK}, failed=("pp1",))
    delta = compiler.compile(after, {(schema.FUNCTION_HEALTH, "pp1")})
    assert not delta.everything and delta.flows
    assert dict(compiler.state.flows) == dict(compile_nb(after, "ch1", TUNNEL).flows)
    hop = cookie(CookieKind.HOP, "ppg1")
    assert {compiler.state.flows[k].cookie for k in delta.flows if k in compiler.state.flows} == {hop}
    unrelated = compiler.compile(after, {(schema.FUNCTION_HEALTH, "pp-elsewhere")})
    assert not unrelated.flows and not unrelated.everything


# ---- the API --------------------------------------------------------------------------------------------


def test_health_parameters_are_stored_with_their_defaults_and_absent_ones_stay_absent() -> None:
    w = World()
    plain = w.group()
    assert set(plain["port_pair_group_parameters"]) == {"lb_fields", "ppg_n_tuple_mapping"}
    g = w.group(
        port_pair_group_parameters={"health_check": {"type": "tcp", "tcp_port": "80"}, "fail_mode": "closed"}
    )
    params = g["port_pair_group_parameters"]
    assert params["health_check"] == {"type": "tcp", "tcp_port": 80, "interval_ms": 200, "failures": 3}
    assert params["fail_mode"] == "closed"
    assert w.group(port_pair_group_parameters={"health_check": None})["port_pair_group_parameters"][
        "health_check"
    ] == {"type": "none"}


@pytest.mark.parametrize(
    "params",
    [
        {"health_check": {"type": "http"}},
        {"health_check": {"interval_ms": 100}},
        {"health_check": {"type": "icmp", "interval_ms": 10}},
        {"health_check": {"type": "icmp", "failures": 0}},
        {"health_check": {"type": "icmp", "failures": "many"}},
        {"health_check": {"type": "tcp"}},
        {"health_check": {"type": "icmp", "tcp_port": 22}},
        {"health_check": {"type": "tcp", "tcp_port": 70000}},
        {"health_check": {"type": "icmp", "timeout": 1}},
        {"health_check": "icmp"},
        {"fail_mode": "half"},
    ],
)
def test_bad_health_parameters_are_a_400_and_write_nothing(params: dict[str, Any]) -> None:
    w = World()
    pair = w.pair()["id"]
    e = rejects(
        w,
        HTTPBadRequest,
        400,
        w.ppg.create,
        ALICE,
        {"port_pairs": [pair], "port_pair_group_parameters": params},
    )
    assert "port_pair_group_parameters" in str(e)


# ---- reports ------------------------------------------------------------------------------------------


def test_an_instance_fails_after_the_group_s_count_of_failed_probes_in_a_row_and_one_success_heals() -> None:
    counter = HealthCounter(failures=3)
    assert [counter.record(ok) for ok in (False, False, True, False, False)] == [False] * 5
    assert counter.healthy
    assert counter.record(False) is True and not counter.healthy  # the third in a row
    assert counter.record(False) is False and not counter.healthy
    assert counter.record(True) is True and counter.healthy


def test_a_report_is_written_only_when_the_health_changes() -> None:
    store = MemoryStore()
    assert (
        not report_health(store, "pp1", "ch1", True) or store.get(schema.FUNCTION_HEALTH, "pp1") is not None
    )
    revision = store.revision()
    assert report_health(store, "pp1", "ch1", True) is False and store.revision() == revision
    assert report_health(store, "pp1", "ch1", False) is True
    report = store.get(schema.FUNCTION_HEALTH, "pp1")
    assert report is not None and not is_healthy(report.value)
    assert report_health(store, "pp1", "ch1", False) is False
    assert report_health(store, "pp1", "ch2", False) is True  # the instance moved: its new agent reports


def test_check_settings_read_the_group_s_parameters() -> None:
    w = World()
    g = w.group(port_pair_group_parameters={"health_check": {"type": "tcp", "tcp_port": 22, "failures": 2}})
    assert check_settings(g) == CheckSettings("tcp", 200, 2, 22)
    assert check_settings(w.group()) is None
    assert check_settings(w.group(port_pair_group_parameters={"health_check": None})) is None


def test_health_parameters_are_read_only_like_the_rest_of_the_group_parameters() -> None:
    w = World()
    g = w.group()
    update = {"port_pair_group_parameters": {"fail_mode": "closed"}}
    e = rejects(w, HTTPBadRequest, 400, w.ppg.update, ALICE, g["id"], update)
    assert "read-only" in str(e)


def test_a_report_from_a_chassis_the_instance_is_no_longer_bound_on_is_stale_and_ignored() -> None:
    packets = _flows()
    nb = _nb({"health_check": CHECK}, failed=("pp1",))
    assert {p for (p,) in _ports(_switch(nb), packets)} == {5}
    nb[schema.FUNCTION_HEALTH]["pp1"][schema.CHASSIS] = "ch9"  # reported where it was bound before
    assert {p for (p,) in _ports(_switch(nb), packets)} == {3, 5}


def test_deleting_a_port_pair_deletes_its_health_report() -> None:
    w = World()
    pair = w.pair()
    report_health(w.store, pair["id"], "ch1", False)
    w.pp.delete(ALICE, pair["id"])
    assert w.store.get(schema.FUNCTION_HEALTH, pair["id"]) is None
    other = w.pair()
    w.pp.delete(ALICE, other["id"])  # never reported: nothing else to delete
