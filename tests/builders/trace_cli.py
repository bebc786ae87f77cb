"""`steerflow trace --json` run in-process on an NB store, and its walker with a function model, the way
the functional tests compare trace's path with the packets'."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from steerflow.cli.main import app
from steerflow.nbdb.api import NorthboundStore
from steerflow.trace.fabric import Fabric as TraceFabric
from steerflow.trace.fabric import FunctionModel
from steerflow.trace.probe import probe
from steerflow.trace.run import TUNNEL_OFPORT, snapshot_docs

runner = CliRunner()


def trace_json(nb_url: str, *args: str) -> dict[str, Any]:
    """`steerflow trace --nb URL --json ARGS...`, which must succeed; its output parsed."""
    result = runner.invoke(app, ["trace", "--nb", nb_url, "--json", *args])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def traced_functions(
    store: NorthboundStore, source: str, to: str, dport: int, function: FunctionModel
) -> list[str]:
    """The port pairs steerflow trace's walker crosses for `source`'s UDP to `to`:`dport`, with the
    functions doing `function` (what the CLI cannot know: a NAT, say)."""
    docs = snapshot_docs(store)
    sent = probe(docs, source, to, dport=dport)
    return list(TraceFabric(docs, TUNNEL_OFPORT).walk(sent.packet, sent.chassis, function).functions())
