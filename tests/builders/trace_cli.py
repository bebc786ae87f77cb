"""`steerflow trace --json` run in-process on an NB store, the way the trace tests compare paths."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from steerflow.cli.main import app

runner = CliRunner()


def trace_json(nb_url: str, *args: str) -> dict[str, Any]:
    """`steerflow trace --nb URL --json ARGS...`, which must succeed; its output parsed."""
    result = runner.invoke(app, ["trace", "--nb", nb_url, "--json", *args])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc
