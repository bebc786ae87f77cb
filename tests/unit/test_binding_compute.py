"""The pure port-binding rules: compute_bindings and the NB writes of a plan."""

from __future__ import annotations

from steerflow.agent.binding import (
    Action,
    BindingPlan,
    LocalClaim,
    PortBinding,
    binding_ops,
    compute_bindings,
)
from steerflow.model import schema
from steerflow.nbdb.api import Delete, JsonDict, Put
from steerflow.southbound.ovsdb import LocalPort

P1 = "11111111-1111-4111-8111-111111111111"
P2 = "22222222-2222-4222-8222-222222222222"
MAC1 = "fa:16:3e:00:00:01"


def nb_port(port_id: str, host: str = "", status: str = "DOWN") -> JsonDict:
    return {"id": port_id, "mac_address": MAC1, "binding:host_id": host, "status": status}


def iface(port_id: str = P1, ofport: int | None = 5, name: str = "tap1", seen_at: int = 0) -> LocalClaim:
    port = LocalPort(name=name, iface_id=port_id, ofport=ofport, mac=MAC1, uuid=f"uuid-{name}")
    return LocalClaim(port, seen_at)


def bound(
    chassis: str, ofport: int = 5, name: str = "tap1", claimed_at: int = 3, port_id: str = P1
) -> PortBinding:
    return PortBinding(port_id, chassis, ofport, name, MAC1, claimed_at)


def plan_for(
    chassis: str,
    local: list[LocalClaim],
    ports: list[JsonDict],
    bindings: list[PortBinding] = [],  # noqa: B006 - never mutated
    revision: int = 10,
) -> BindingPlan:
    return compute_bindings(
        chassis, local, {p["id"]: p for p in ports}, {b.port_id: b for b in bindings}, revision
    )


def only_change(plan: BindingPlan) -> tuple[Action, PortBinding | None]:
    assert len(plan.changes) == 1, plan
    return plan.changes[0].action, plan.changes[0].binding


def test_a_ready_interface_for_a_known_port_is_bound_here_with_its_ofport() -> None:
    plan = plan_for("hv1", [iface()], [nb_port(P1)], revision=10)
    assert only_change(plan) == (Action.BIND, PortBinding(P1, "hv1", 5, "tap1", MAC1, claimed_at=10))


def test_a_bind_writes_the_binding_and_marks_the_port_active() -> None:
    ports = {P1: nb_port(P1)}
    ops = binding_ops(plan_for("hv1", [iface()], list(ports.values())), ports)
    binding = PortBinding(P1, "hv1", 5, "tap1", MAC1, claimed_at=10)
    assert ops == [
        Put(schema.PORT_BINDING, P1, binding.to_dict()),
        Put(schema.PORT, P1, {**ports[P1], "status": "ACTIVE"}),
    ]


def test_nothing_changes_when_the_binding_already_says_so() -> None:
    plan = plan_for("hv1", [iface()], [nb_port(P1, status="ACTIVE")], [bound("hv1")])
    assert plan == BindingPlan()
    assert binding_ops(plan, {P1: nb_port(P1, status="ACTIVE")}) == []


def test_an_ofport_change_updates_our_binding_and_keeps_its_claim_time() -> None:
    plan = plan_for("hv1", [iface(ofport=42)], [nb_port(P1)], [bound("hv1", ofport=5, claimed_at=3)])
    assert only_change(plan) == (Action.UPDATE, bound("hv1", ofport=42, claimed_at=3))
    assert "ofport 5 -> 42" in plan.changes[0].reason


def test_an_interface_without_an_ofport_is_not_bound() -> None:
    assert plan_for("hv1", [iface(ofport=None)], [nb_port(P1)]) == BindingPlan()


def test_our_binding_goes_when_the_interface_loses_its_ofport_and_the_port_goes_down() -> None:
    ports = {P1: nb_port(P1, status="ACTIVE")}
    plan = plan_for("hv1", [iface(ofport=None)], list(ports.values()), [bound("hv1")])
    assert only_change(plan) == (Action.UNBIND, None)
    assert binding_ops(plan, ports) == [
        Delete(schema.PORT_BINDING, P1),
        Put(schema.PORT, P1, {**ports[P1], "status": "DOWN"}),
    ]


def test_our_binding_goes_when_the_interface_is_unplugged() -> None:
    plan = plan_for("hv1", [], [nb_port(P1)], [bound("hv1")])
    assert only_change(plan) == (Action.UNBIND, None)
    assert "gone" in plan.changes[0].reason


def test_our_binding_goes_when_the_nb_port_is_deleted_and_the_port_is_not_resurrected() -> None:
    plan = plan_for("hv1", [iface()], [], [bound("hv1")])
    assert only_change(plan) == (Action.UNBIND, None)
    assert plan.unknown == (iface().port,)
    assert binding_ops(plan, {}) == [Delete(schema.PORT_BINDING, P1)]


def test_an_iface_id_naming_no_nb_port_is_reported_not_bound() -> None:
    plan = plan_for("hv1", [iface(port_id=P2)], [nb_port(P1)])
    assert plan.changes == ()
    assert [p.iface_id for p in plan.unknown] == [P2]


def test_another_chassis_binding_is_left_alone_when_our_interface_is_older() -> None:
    plan = plan_for("hv1", [iface(seen_at=3)], [nb_port(P1)], [bound("hv2", claimed_at=3)])
    assert plan.changes == ()
    assert plan.skipped == ((P1, "bound on chassis hv2 by a newer claim"),)


def test_an_interface_plugged_after_the_other_claim_takes_the_binding() -> None:
    plan = plan_for("hv1", [iface(seen_at=7)], [nb_port(P1)], [bound("hv2", claimed_at=3)], revision=9)
    action, binding = only_change(plan)
    assert action is Action.BIND
    assert binding == PortBinding(P1, "hv1", 5, "tap1", MAC1, claimed_at=9)
    assert plan.changes[0].previous == bound("hv2", claimed_at=3)


def test_the_old_chassis_does_not_steal_back_the_port_it_lost() -> None:
    # hv1 claimed at 3 after seeing its interface at 2; hv2's newer interface took the port at revision 9.
    plan = plan_for("hv1", [iface(seen_at=2)], [nb_port(P1)], [bound("hv2", claimed_at=9)], revision=12)
    assert plan.changes == ()


def test_the_old_chassis_does_not_delete_a_binding_it_no_longer_holds() -> None:
    assert plan_for("hv1", [], [nb_port(P1)], [bound("hv2")]) == BindingPlan()


def test_a_host_id_naming_another_chassis_is_the_requested_chassis() -> None:
    plan = plan_for("hv1", [iface(seen_at=7)], [nb_port(P1, host="hv2")])
    assert plan.changes == ()
    assert plan.skipped == ((P1, "binding:host_id requests chassis hv2"),)


def test_a_host_id_naming_this_chassis_takes_the_port_whatever_the_claim_times() -> None:
    plan = plan_for("hv1", [iface(seen_at=0)], [nb_port(P1, host="hv1")], [bound("hv2", claimed_at=9)])
    assert only_change(plan)[0] is Action.BIND
    assert "requests this chassis" in plan.changes[0].reason


def test_our_binding_keeps_following_the_interface_when_the_host_id_moves_elsewhere() -> None:
    # the VM has not left yet: releasing now would cut its traffic before the new chassis has it
    plan = plan_for("hv1", [iface(ofport=8)], [nb_port(P1, host="hv2")], [bound("hv1")])
    assert only_change(plan) == (Action.UPDATE, bound("hv1", ofport=8))


def test_two_interfaces_with_one_iface_id_keep_the_bound_one_and_report_the_other() -> None:
    local = [iface(name="tap0", ofport=9, seen_at=0), iface(name="tap1", ofport=5, seen_at=4)]
    plan = plan_for("hv1", local, [nb_port(P1)], [bound("hv1", name="tap1")])
    assert plan.changes == ()
    assert [p.name for p in plan.duplicates] == ["tap0"]


def test_two_new_interfaces_with_one_iface_id_bind_the_oldest() -> None:
    local = [iface(name="tap9", ofport=9, seen_at=2), iface(name="tap1", ofport=5, seen_at=4)]
    _, binding = only_change(plan_for("hv1", local, [nb_port(P1)]))
    assert binding is not None and binding.interface == "tap9"


def test_a_port_binding_round_trips_through_its_stored_form() -> None:
    b = bound("hv1", claimed_at=17)
    assert PortBinding.from_dict(b.to_dict()) == b
    assert b.to_dict()["id"] == P1
