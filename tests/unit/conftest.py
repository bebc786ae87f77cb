"""Every compilation in the unit tests is held to the pipeline declaration (`pipeline.check`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from steerflow.compiler.chain_view import Dependency, Docs
from steerflow.compiler.compile import ChassisCompiler, Delta
from steerflow.compiler.encap import header_fields
from steerflow.pipeline.check import check

_compile = ChassisCompiler.compile


def _compile_checked(
    self: ChassisCompiler, objects: Docs, changed: Collection[Dependency] | None = None, **when: Any
) -> Delta:
    """`ChassisCompiler.compile`, then the flows it changed checked (all of them after a full compile)."""
    delta = _compile(self, objects, changed, **when)
    flows = self.state.flows
    keys = flows.keys() if delta.everything else delta.flows
    problems = check(
        (flows[k] for k in keys if k in flows), self.state.groups.values(), header_fields=header_fields()
    )
    assert not problems, "compiled flows the pipeline does not declare:\n" + "\n".join(map(str, problems))
    return delta


@pytest.fixture(autouse=True)
def _flows_as_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ChassisCompiler, "compile", _compile_checked)
