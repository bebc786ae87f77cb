"""The steerflow CLI run in-process against an API server, the way the CLI tests drive it.

Every helper takes the API's base URL, then the command words and options as a user types them
(`sf(url, "port-pair", "create", ...)`); `tests/unit/test_nb_schema.py` knows them as CLI runners.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from steerflow.cli.main import app

runner = CliRunner()


def sf(url: str, *args: str) -> Result:
    """Run `steerflow --endpoint URL ARGS...` in-process (no token: the server's admin)."""
    return runner.invoke(app, ["--endpoint", url, *args], env={"STEERFLOW_TOKEN": ""})


def sf_ok(url: str, *args: str) -> str:
    """Run a command that must succeed; its standard output."""
    result = sf(url, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def sf_json(url: str, *args: str) -> Any:
    """Run a command that must succeed with `-f json`; its output parsed."""
    return json.loads(sf_ok(url, *args, "-f", "json"))


def sf_quiet(url: str, *args: str) -> None:
    """Run a set/unset/delete that must succeed and print nothing, as in the openstack CLI."""
    result = sf(url, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", ""), result.output


def sf_fails(url: str, *args: str) -> str:
    """Run a command that must fail like an API error does: exit 1, nothing on stdout and one `Error:`
    line on stderr; returns that line."""
    result = sf(url, *args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def make_ports(url: str, device: str, *names: str) -> dict[str, dict[str, Any]]:
    """A network `net-DEVICE`, its subnet `sub-DEVICE` (10.9.0.0/24) and ports of `device` on it; the
    ports by name."""
    net = sf_json(url, "network", "create", f"net-{device}")
    sf_json(url, "subnet", "create", "--network", net["id"], "--subnet-range", "10.9.0.0/24", f"sub-{device}")
    return {
        n: sf_json(url, "port", "create", "--network", f"net-{device}", "--device", device, n) for n in names
    }
