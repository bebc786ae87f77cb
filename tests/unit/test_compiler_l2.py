"""The L2 fabric compiler: what one chassis installs for local, remote and unbound ports."""

from typing import Any

from steerflow.compiler.compile import compile_chassis
from steerflow.compiler.l2 import FLOOD_GROUP_BASE, LOCAL_FLOOD_GROUP_BASE
from steerflow.compiler.tables import EGRESS, INGRESS_PORT, PORT_SECURITY
from steerflow.compiler.view import build_view
from steerflow.flows import Flow, Match, Output, SetField
from steerflow.model import schema
from steerflow.reconcile.diff import diff_flows
from tests.builders.l2_docs import TUNNEL, l2_nb


def _flows_of(table: int, nb: dict[str, Any] | None = None, chassis: str = "ch1") -> list[Flow]:
    state = compile_chassis(build_view(nb or l2_nb(), chassis, TUNNEL))
    return [f for f in state.flows.values() if f.table == table]


def test_recompiling_the_same_input_is_identical() -> None:
    first = compile_chassis(build_view(l2_nb(), "ch1", TUNNEL))
    second = compile_chassis(build_view(l2_nb(), "ch1", TUNNEL))
    assert first == second
    assert len(diff_flows(first.flows, second.flows)) == 0


def test_only_local_ports_are_bound_on_ingress() -> None:
    in_ports = sorted(f.match.get("in_port").value for f in _flows_of(INGRESS_PORT) if f.match.get("in_port"))  # type: ignore[union-attr]
    assert in_ports == [5, 6, TUNNEL, TUNNEL]


def test_local_destinations_are_output_and_remote_ones_tunnelled() -> None:
    egress = {
        (f.match.get("metadata").value, f.match.get("reg7").value): f  # type: ignore[union-attr]
        for f in _flows_of(EGRESS)
        if f.match.get("reg5") is None
    }
    assert egress[10, 1].actions == (Output(5),)  # p1 on this chassis
    assert egress[20, 1].actions == (Output(6),)  # p3: same key, other network
    guard = [f for f in _flows_of(EGRESS) if f.match.get("reg5") is not None]
    assert [(str(f.match), f.actions, f.priority) for f in guard] == [
        ("metadata=0xa,reg5=1/1,reg7=2", (), 110)
    ]
    assert egress[10, 2].actions == (
        SetField("tun_ipv4_dst", "198.51.100.12"),
        SetField("tunnel_id", 10),
        Output(TUNNEL),
    )


def test_unbound_port_gets_no_egress() -> None:
    keys = [f.match.get("reg7").value for f in _flows_of(EGRESS)]  # type: ignore[union-attr]
    assert 3 not in keys


def test_port_security_only_where_enabled() -> None:
    sec = _flows_of(PORT_SECURITY)
    by_network = {n: [f for f in sec if f.match.get("metadata").value == n] for n in (10, 20)}  # type: ignore[union-attr]
    assert [(str(f.match), f.goto) for f in by_network[20]] == [("metadata=0x14,reg6=1", 20)]
    drops = [f for f in by_network[10] if f.goto is None]
    assert [str(f.match) for f in drops] == ["metadata=0xa,reg6=1"]  # p1's catch-all drop
    allowed = {f.match for f in by_network[10] if f.goto is not None}
    own_ipv4 = Match.of(
        metadata=10, reg6=1, eth_src="02:00:00:00:00:01", eth_type=0x800, ipv4_src="203.0.113.1"
    )
    assert own_ipv4 in allowed


def test_flood_groups_reach_local_ports_and_remote_chassis() -> None:
    state = compile_chassis(build_view(l2_nb(), "ch1", TUNNEL))
    flood = state.groups[FLOOD_GROUP_BASE + 10]
    local_only = state.groups[LOCAL_FLOOD_GROUP_BASE + 10]
    assert [b.actions[-1] for b in flood.buckets] == [Output(5), Output(TUNNEL)]
    assert [b.actions for b in local_only.buckets] == [(Output(5),)]


def test_moving_a_port_changes_only_its_flows() -> None:
    before = compile_chassis(build_view(l2_nb(), "ch1", TUNNEL))
    moved = l2_nb()
    moved[schema.PORT_BINDING]["p2"] = {"port_id": "p2", schema.CHASSIS: "ch1", "ofport": 9}
    after = compile_chassis(build_view(moved, "ch1", TUNNEL))
    changes = diff_flows(after.flows, before.flows)
    assert [str(f) for f in changes.modifies] == [
        f"cookie={changes.modifies[0].cookie:#x},table=60,priority=100,metadata=0xa,reg7=2,actions=output:9"
    ]
    assert [(f.table, f.priority) for f in changes.deletes] == [(EGRESS, 110)]  # the loop guard
    assert {f.table for f in changes.adds} == {INGRESS_PORT, PORT_SECURITY}
