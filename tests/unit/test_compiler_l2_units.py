"""A port's change recompiles that port's L2 flows only (a bulk bind on many chassis: one port set per
binding write, not the whole fabric per write)."""

from typing import Any

import pytest

from steerflow.compiler import compile as compiler_module
from steerflow.compiler.compile import ChassisCompiler, compile_nb
from steerflow.flows import Flow, FlowKey
from steerflow.model import schema
from tests.builders.l2_docs import NET_A, TUNNEL, l2_nb, l2_port

PORTS = 60


def _many() -> dict[str, dict[str, dict[str, Any]]]:
    docs = l2_nb()
    for i in range(PORTS):
        pid = f"q{i:03d}"
        docs[schema.PORT][pid] = l2_port(
            pid, NET_A, 100 + i, f"02:00:00:00:01:{i:02x}", f"203.0.113.{100 + i}"
        )
    return docs


def _bind(docs: dict[str, dict[str, dict[str, Any]]], ids: list[str], chassis: str) -> None:
    for n, pid in enumerate(ids):
        docs[schema.PORT_BINDING][pid] = {"port_id": pid, schema.CHASSIS: chassis, "ofport": 20 + n}


def _changed_keys(a: dict[FlowKey, Flow], b: dict[FlowKey, Flow]) -> set[FlowKey]:
    return {key for key in set(a) | set(b) if a.get(key) != b.get(key)}


@pytest.mark.parametrize("host", ["ch1", "ch2"])  # the ports bound here, then bound elsewhere
def test_a_binding_recompiles_only_the_ports_it_binds(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _many()
    compiler = ChassisCompiler("ch1", TUNNEL)
    compiler.compile(docs)
    compiled: list[str] = []
    real = compiler_module.port_flows
    monkeypatch.setattr(
        compiler_module, "port_flows", lambda view, port: compiled.append(port.id) or real(view, port)
    )
    held = dict(compiler.state.flows)
    bound = ["q001", "q002", "q003"]
    _bind(docs, bound, host)
    delta = compiler.compile(docs, {(schema.PORT_BINDING, pid) for pid in bound})
    assert sorted(compiled) == bound
    scratch = compile_nb(docs, "ch1", TUNNEL)
    assert dict(compiler.state.flows) == dict(scratch.flows)
    assert dict(compiler.state.groups) == dict(scratch.groups)
    assert delta.flows == _changed_keys(held, dict(scratch.flows)) and delta.flows


def test_a_new_chassis_recompiles_every_port() -> None:
    docs = _many()
    compiler = ChassisCompiler("ch1", TUNNEL)
    compiler.compile(docs)
    docs[schema.CHASSIS]["ch3"] = {"name": "ch3", "underlay_ip": "198.51.100.13"}
    _bind(docs, ["q010"], "ch3")
    compiler.compile(docs, {(schema.CHASSIS, "ch3"), (schema.PORT_BINDING, "q010")})
    assert dict(compiler.state.flows) == dict(compile_nb(docs, "ch1", TUNNEL).flows)


def test_a_deleted_port_takes_its_flows_with_it() -> None:
    docs = _many()
    _bind(docs, ["q005"], "ch2")
    compiler = ChassisCompiler("ch1", TUNNEL)
    compiler.compile(docs)
    del docs[schema.PORT]["q005"], docs[schema.PORT_BINDING]["q005"]
    delta = compiler.compile(docs, {(schema.PORT, "q005"), (schema.PORT_BINDING, "q005")})
    assert dict(compiler.state.flows) == dict(compile_nb(docs, "ch1", TUNNEL).flows)
    assert delta.flows
