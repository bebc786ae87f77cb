"""Incremental compilation equals compiling from scratch, after any sequence of NB changes.

Random SFC models over one universe of ports, pairs, groups, classifiers and chains (present or not,
bound anywhere, aware of either header or unaware, symmetric or not, sharing functions) follow each
other; the `ChassisCompiler` is told only which documents changed, and after every step its state must
equal `compile_nb` of the same documents, and its delta must name every flow that changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.compiler import compile as compiler_module
from steerflow.compiler.chain_view import Chain, DocReader
from steerflow.compiler.compile import ChassisCompiler, compile_nb
from steerflow.compiler.tables import CLASSIFY, SFC_DISPATCH
from steerflow.flows import Flow, FlowKey
from steerflow.model import schema
from tests.builders.random_docs import (
    CHASSIS,
    TUNNEL,
    Docs,
    changed_between,
    fixed_docs,
    histories,
    models,
    numbered_port,
)


def _differences(a: dict[FlowKey, Flow], b: dict[FlowKey, Flow]) -> set[FlowKey]:
    return {key for key in set(a) | set(b) if a.get(key) != b.get(key)}


@settings(max_examples=150, deadline=None)
@given(histories(), st.sampled_from(CHASSIS))
def test_incremental_compilation_equals_compiling_from_scratch(steps: list[Docs], chassis: str) -> None:
    compiler = ChassisCompiler(chassis, TUNNEL)
    compiler.compile(steps[0])
    for before, after in itertools.pairwise(steps):
        held = dict(compiler.state.flows)
        delta = compiler.compile(after, changed_between(before, after))
        scratch = compile_nb(after, chassis, TUNNEL)
        assert dict(compiler.state.flows) == dict(scratch.flows)
        assert dict(compiler.state.groups) == dict(scratch.groups)
        assert delta.everything or _differences(held, dict(scratch.flows)) <= delta.flows


@settings(max_examples=30, deadline=None)
@given(models())
def test_nothing_changed_compiles_nothing(docs: Docs) -> None:
    compiler = ChassisCompiler("ch1", TUNNEL)
    compiler.compile(docs)
    delta = compiler.compile(docs, set())
    assert not delta.flows and not delta.groups and not delta.everything


@settings(max_examples=30, deadline=None)
@given(models())
def test_a_network_renamed_compiles_nothing_and_a_key_changed_everything(docs: Docs) -> None:
    """A rename is nothing a flow reads (it recompiled every flow and chain on every chassis); a new
    segmentation id is read by every port's flows."""
    compiler = ChassisCompiler("ch1", TUNNEL)
    compiler.compile(docs)
    renamed = {
        **docs,
        schema.NETWORK: {**docs[schema.NETWORK], "net1": {**docs[schema.NETWORK]["net1"], "name": "x"}},
    }
    delta = compiler.compile(renamed, {(schema.NETWORK, "net1")})
    assert not delta.flows and not delta.groups and not delta.everything
    rekeyed = {
        **renamed,
        schema.NETWORK: {**renamed[schema.NETWORK], "net1": {"id": "net1", schema.SEGMENTATION_ID: 9}},
    }
    assert compiler.compile(rekeyed, {(schema.NETWORK, "net1")}).everything
    assert dict(compiler.state.flows) == dict(compile_nb(rekeyed, "ch1", TUNNEL).flows)


def _one_chain(source: str | None) -> Docs:
    docs = fixed_docs()
    docs[schema.PORT] = {f"p{i}": numbered_port(i, 1) for i in range(4)}
    docs[schema.PORT_BINDING] = {
        f"p{i}": {"port_id": f"p{i}", schema.CHASSIS: "ch2", "ofport": i + 1} for i in (2, 3)
    }
    params = {"correlation": None, "weight": 1}
    pair = {
        "id": "pp0",
        "ingress": "p2",
        "egress": "p3",
        schema.PAIR_KEY: 1,
        "service_function_parameters": params,
    }
    docs[schema.PORT_PAIR] = {"pp0": pair}
    docs[schema.PORT_PAIR_GROUP] = {"g0": {"id": "g0", "port_pairs": ["pp0"]}}
    fc = {"id": "fc0", "ethertype": "IPv4", "protocol": "udp", "logical_source_port": source}
    docs[schema.FLOW_CLASSIFIER] = {"fc0": fc}
    chain = {"id": "c0", "chain_id": 1, "port_pair_groups": ["g0"], "flow_classifiers": ["fc0"]}
    docs[schema.PORT_CHAIN] = {
        "c0": {**chain, "project_id": "p1", schema.HOP_LABELS: {"g0": 100}, schema.EXIT_LABEL: 101}
    }
    return docs


def _classify_flows(flows: Mapping[FlowKey, Flow]) -> set[FlowKey]:
    return {key for key, flow in flows.items() if flow.table == CLASSIFY and flow.goto == SFC_DISPATCH}


def _assert_binding_p0_on_ch1_is_classified_incrementally(before: Docs) -> None:
    compiler = ChassisCompiler("ch1", TUNNEL)
    compiler.compile(before)
    assert not _classify_flows(compiler.state.flows)  # no port of the network lives on ch1 yet
    after = {k: dict(v) for k, v in before.items()}
    after[schema.PORT_BINDING]["p0"] = {"port_id": "p0", schema.CHASSIS: "ch1", "ofport": 1}
    delta = compiler.compile(after, {(schema.PORT_BINDING, "p0")})
    classified = _classify_flows(compiler.state.flows)
    assert classified and classified <= delta.flows
    assert dict(compiler.state.flows) == dict(compile_nb(after, "ch1", TUNNEL).flows)


def test_a_port_bound_here_is_classified_by_a_chain_without_source_port() -> None:
    _assert_binding_p0_on_ch1_is_classified_incrementally(_one_chain(source=None))


def test_a_port_bound_here_is_classified_by_the_reverse_of_a_symmetric_chain_without_destination() -> None:
    before = _one_chain(source="p1")  # the reverse direction classifies from every local port
    before[schema.PORT_CHAIN]["c0"] |= {
        "chain_parameters": {"correlation": "mpls", "symmetric": True},
        schema.REVERSE_HOP_LABELS: {"g0": 200},
        schema.REVERSE_EXIT_LABEL: 201,
    }
    _assert_binding_p0_on_ch1_is_classified_incrementally(before)


def _resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The chain documents the compiler resolves from now on, in order."""
    seen: list[str] = []
    real = compiler_module.resolve_chain

    def resolve(doc: Mapping[str, Any], reader: DocReader) -> Chain | None:
        seen.append(str(doc["id"]))
        return real(doc, reader)

    monkeypatch.setattr(compiler_module, "resolve_chain", resolve)
    return seen


def _add_function(docs: Docs, chassis: str) -> set[tuple[str, str]]:
    """Ports p4, p5 bound on `chassis` and a pair of them (a function created there); what changed."""
    for i in (4, 5):
        docs[schema.PORT][f"p{i}"] = numbered_port(i, 1)
        docs[schema.PORT_BINDING][f"p{i}"] = {"port_id": f"p{i}", schema.CHASSIS: chassis, "ofport": i + 1}
    pair = {"id": "pp1", "ingress": "p4", "egress": "p5", schema.PAIR_KEY: 2}
    docs[schema.PORT_PAIR]["pp1"] = pair | {"service_function_parameters": {"correlation": None}}
    return {(kind, f"p{i}") for kind in (schema.PORT, schema.PORT_BINDING) for i in (4, 5)} | {
        (schema.PORT_PAIR, "pp1")
    }


@pytest.mark.parametrize(("where", "again"), [("ch2", []), ("ch1", ["c0"])])
def test_a_function_created_elsewhere_resolves_no_chain_without_source_port(
    where: str, again: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chassis joining with its functions must not make every agent resolve every chain whose
    classifier has no source port (20 s on the classifying chassis of 10,000 chains): only a function
    whose ports are local changes what such a classifier takes."""
    docs = _one_chain(source=None)
    docs[schema.PORT_BINDING]["p0"] = {"port_id": "p0", schema.CHASSIS: "ch1", "ofport": 1}
    compiler = ChassisCompiler("ch1", TUNNEL)
    compiler.compile(docs)
    after = {k: dict(v) for k, v in docs.items()}
    changed = _add_function(after, where)
    resolved = _resolved(monkeypatch)
    compiler.compile(after, changed)
    assert resolved == again
    assert dict(compiler.state.flows) == dict(compile_nb(after, "ch1", TUNNEL).flows)


def test_a_port_created_elsewhere_joins_the_origins_of_an_md2_chain_without_source_port() -> None:
    """NSH MD2 headers name the packet's origin port, on any chassis: a port created on another
    chassis of the chain's network is an origin of a chain classifying every port."""
    docs = _one_chain(source=None)
    docs[schema.PORT_CHAIN]["c0"]["chain_parameters"] = {"correlation": "nsh", "nsh_md_type": 2}
    docs[schema.PORT_PAIR]["pp0"]["service_function_parameters"] = {"correlation": "nsh"}
    compiler = ChassisCompiler("ch2", TUNNEL)  # the function's chassis: its forwarder pushes headers
    compiler.compile(docs)
    after = {k: dict(v) for k, v in docs.items()}
    after[schema.PORT]["p6"] = numbered_port(6, 1)
    after[schema.PORT_BINDING]["p6"] = {"port_id": "p6", schema.CHASSIS: "ch1", "ofport": 9}
    held = dict(compiler.state.flows)
    delta = compiler.compile(after, {(schema.PORT, "p6"), (schema.PORT_BINDING, "p6")})
    scratch = dict(compile_nb(after, "ch2", TUNNEL).flows)
    assert dict(compiler.state.flows) == scratch
    assert _differences(held, scratch) and _differences(held, scratch) <= delta.flows
