"""Compiler invariants over random topologies: pure, and A -> B -> A lands exactly on A."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.compiler.compile import DesiredState, compile_chassis
from steerflow.compiler.view import build_view
from steerflow.flows import Flow, FlowKey
from steerflow.model import schema
from steerflow.reconcile.diff import diff, diff_flows

CHASSIS = ("ch1", "ch2", "ch3")


@st.composite
def topologies(draw: st.DrawFn) -> dict[str, dict[str, dict[str, Any]]]:
    n_networks = draw(st.integers(1, 3))
    networks = {f"net{i}": {"id": f"net{i}", schema.SEGMENTATION_ID: i + 1} for i in range(n_networks)}
    ports: dict[str, dict[str, Any]] = {}
    bindings: dict[str, dict[str, Any]] = {}
    for i in range(draw(st.integers(0, 8))):
        pid = f"port{i}"
        ports[pid] = {
            "id": pid,
            "network_id": f"net{draw(st.integers(0, n_networks - 1))}",
            schema.TUNNEL_KEY: i + 1,
            "mac_address": f"02:00:00:00:00:{i + 1:02x}",
            "fixed_ips": [{"subnet_id": "s", "ip_address": f"203.0.113.{i + 1}"}],
            "port_security_enabled": draw(st.booleans()),
        }
        where = draw(st.sampled_from((None, *CHASSIS)))
        if where is not None:
            bindings[pid] = {"port_id": pid, schema.CHASSIS: where, "ofport": i + 1}
    chassis = {c: {"name": c, "underlay_ip": f"198.51.100.{11 + n}"} for n, c in enumerate(CHASSIS)}
    return {
        schema.NETWORK: networks,
        schema.PORT: ports,
        schema.PORT_BINDING: bindings,
        schema.CHASSIS: chassis,
    }


def _compile(nb: dict[str, Any]) -> DesiredState:
    return compile_chassis(build_view(nb, "ch1", 100))


def _apply(installed: dict[FlowKey, Flow], desired: DesiredState) -> dict[FlowKey, Flow]:
    changes = diff_flows(desired.flows, installed)
    after = {k: f for k, f in installed.items() if f not in changes.deletes}
    after.update({f.key: f for f in changes.adds + changes.modifies})
    return after


@settings(max_examples=60, deadline=None)
@given(topologies())
def test_compiling_twice_gives_equal_states_and_an_empty_diff(nb: dict[str, Any]) -> None:
    first, second = _compile(nb), _compile(nb)
    assert first == second
    assert len(diff(first.flows, second.flows, first.groups, second.groups)) == 0


@settings(max_examples=60, deadline=None)
@given(topologies(), topologies())
def test_a_then_b_then_a_gives_exactly_a(a: dict[str, Any], b: dict[str, Any]) -> None:
    state_a, state_b = _compile(a), _compile(b)
    installed = _apply({}, state_a)
    installed = _apply(installed, state_b)
    assert installed == state_b.flows
    assert _apply(installed, state_a) == state_a.flows
