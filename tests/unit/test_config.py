"""The configuration file: precedence (flags > environment > file > defaults), validation, masking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from steerflow.cli import config
from steerflow.cli.main import app

FILE = """\
[store]
url = "redis://:hunter2@10.0.0.5:6379/0"

[api]
host = "0.0.0.0"
port = 9797

[agent]
chassis = "hv1"
encap_ip = "192.0.2.11"
ovsdb = "unix:/run/openvswitch/db.sock"

[liveness]
heartbeat = 2
down_after = 7.5

[rollout]
ready_timeout = 3.0

[log]
format = "json"
level = "info,steerflow.agent=debug"
"""
# every environment variable a case may set, cleared for the others
ENVIRONMENT = (
    "STEERFLOW_NB", "STEERFLOW_API_PORT", "STEERFLOW_CHASSIS_DOWN_AFTER", "STEERFLOW_AGENT_BRIDGE",
    "STEERFLOW_LOG_FORMAT", "STEERFLOW_CONFIG", "STEERFLOW_LIVENESS_HEARTBEAT",
)  # fmt: skip


def resolved(command: str, args: list[str], root: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The parameters `steerflow ROOT COMMAND ARGS` would run with, and where each came from (click's
    own resolution, as the daemon gets it, without running the daemon)."""
    with app.make_context("steerflow", [*root, command, *args]) as ctx:
        name, cmd, rest = app.resolve_command(ctx, [command, *args])
        assert cmd is not None and name is not None
        with cmd.make_context(name, rest, parent=ctx) as sub:
            sources = {k: config.SOURCES[s] for k in sub.params if (s := sub.get_parameter_source(k))}
            return dict(sub.params), sources


PORT = "port"  # not the NB schema: steerflow api's --port
CHASSIS = "chassis"  # not the NB schema: steerflow agent's --chassis
AGENT_FLAGS = ["--chassis", "c", "--encap-ip", "192.0.2.1", "--ovsdb", "unix:/x"]
CASES = [
    # (command, flags, environment, with the file, parameter, expected value, expected source)
    ("api", [], {}, False, PORT, 9696, "default"),
    ("api", [], {}, True, PORT, 9797, "file"),
    ("api", [], {"STEERFLOW_API_PORT": "9898"}, True, PORT, 9898, "environment"),
    ("api", ["--port", "9999"], {"STEERFLOW_API_PORT": "9898"}, True, PORT, 9999, "flag"),
    ("api", [], {}, True, "host", "0.0.0.0", "file"),
    ("api", [], {}, False, "nb", None, "default"),
    ("api", [], {"STEERFLOW_NB": "memory://"}, True, "nb", "memory://", "environment"),
    ("api", ["--nb", "file:///x.db"], {"STEERFLOW_NB": "memory://"}, True, "nb", "file:///x.db", "flag"),
    ("api", [], {}, True, "chassis_down_after", 7.5, "file"),
    ("api", [], {"STEERFLOW_CHASSIS_DOWN_AFTER": "4"}, True, "chassis_down_after", 4.0, "environment"),
    ("api", [], {}, True, "log_format", "json", "file"),
    ("api", [], {"STEERFLOW_LOG_FORMAT": "text"}, True, "log_format", "text", "environment"),
    ("agent", AGENT_FLAGS, {}, True, CHASSIS, "c", "flag"),
    ("agent", [], {}, True, CHASSIS, "hv1", "file"),
    ("agent", [], {}, True, "nb", "redis://:hunter2@10.0.0.5:6379/0", "file"),
    ("agent", [], {}, True, "heartbeat_interval", 2.0, "file"),
    ("agent", [], {"STEERFLOW_LIVENESS_HEARTBEAT": "1.5"}, True, "heartbeat_interval", 1.5, "environment"),
    ("agent", [], {}, True, "ready_timeout", 3.0, "file"),
    ("agent", [], {}, True, "retire_grace", 5.0, "default"),
    ("agent", [], {}, True, "bridge", "br-int", "default"),
    ("agent", [], {"STEERFLOW_AGENT_BRIDGE": "br-sfc"}, True, "bridge", "br-sfc", "environment"),
    ("agent", [], {}, True, "log_level", "info,steerflow.agent=debug", "file"),
    ("agent", AGENT_FLAGS, {}, False, "datapath", None, "default"),
    ("wait", [], {}, True, "down_after", 7.5, "file"),
    ("wait", [], {}, True, "nb", "redis://:hunter2@10.0.0.5:6379/0", "file"),
]


@pytest.mark.parametrize(("command", "flags", "env", "with_file", "param", "value", "source"), CASES)
def test_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, flags: list[str], env: dict[str, str],
    with_file: bool, param: str, value: object, source: str,
) -> None:  # fmt: skip
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, raw in env.items():
        monkeypatch.setenv(name, raw)
    path = tmp_path / "steerflow.toml"
    path.write_text(FILE)
    params, sources = resolved(command, flags, ["--config", str(path)] if with_file else [])
    assert (params[param], sources[param]) == (value, source)


def test_the_file_is_found_through_its_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "steerflow.toml"
    path.write_text(FILE)
    monkeypatch.setenv("STEERFLOW_CONFIG", str(path))
    params, sources = resolved("api", [], [])
    assert (params[PORT], sources[PORT]) == (9797, "file")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[api]\nhost = "h"\nprot = 3\n', ":3: unknown key 'prot' in [api] (known: host, port, token_file)"),
        ('[api]\nport = "9696"\n', ":2: [api] port must be an integer, not '9696'"),
        ("[api]\nport = true\n", ":2: [api] port must be an integer, not True"),
        ("[rollout]\nready_timeout = 'soon'\n", ":2: [rollout] ready_timeout must be a number, not 'soon'"),
        ("[agent]\n\n[agnet]\nchassis = 'c'\n", ":3: unknown section [agnet] (known: store, api, agent,"),
        ("[api\n", ": not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 5)"),
        ("api = 3\n", ": api must be a [section] of keys"),
        # held to the option the value feeds: its range, choices, or check
        ("[liveness]\n\ndown_after = 0\n", ":3: [liveness] down_after: 0.0 is not in the range x>0."),
        ("[log]\nformat = 'xml'\n", ":2: [log] format: 'xml' is not one of 'text', 'json'."),
        ("[log]\nlevel = 'loud'\n", ":2: [log] level: bad log level 'loud': LEVEL or MODULE=LEVEL"),
    ],
)
def test_bad_files_are_named_by_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    """`config check` says what is wrong and where (exit 1); a daemon given the file refuses to start
    with the same line (exit 2)."""
    path = tmp_path / "steerflow.toml"
    path.write_text(text)
    checked = CliRunner().invoke(app, ["config", "check", str(path)])
    assert checked.exit_code == 1
    assert checked.stderr.startswith(f"Error: {path}{message}")
    refused = CliRunner().invoke(app, ["--config", str(path), "api", "--port", "1"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"Error: {path}{message}") and len(refused.stderr.splitlines()) == 1


def test_a_daemon_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "steerflow.toml"
    path.write_text("[agent]\nchasis = 'c'\n")
    done = CliRunner().invoke(app, ["--config", str(path), "agent"])
    assert done.exit_code == 2
    assert done.stderr == f"Error: {path}:2: unknown key 'chasis' in [agent] (known: chassis, encap_ip, " + (
        "ovsdb, bridge, datapath, openflow, metrics, stats_interval)\n"
    )


def test_a_missing_file_given_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    done = CliRunner().invoke(app, ["--config", str(missing), "config", "check"])
    assert done.exit_code == 1
    assert done.stderr == f"Error: cannot read the configuration file {missing}: No such file or directory\n"


def test_resource_commands_never_read_the_file(tmp_path: Path) -> None:
    path = tmp_path / "steerflow.toml"
    path.write_text("not toml at all [")
    # not the NB schema: a command word
    done = CliRunner().invoke(app, ["--config", str(path), "network", "--help"])
    assert done.exit_code == 0, done.output


def test_check_prints_effective_settings_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEERFLOW_API_PORT", "9898")
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"s3cret-token": {"project_id": "p1", "roles": ["admin"]}}')
    path = tmp_path / "steerflow.toml"
    path.write_text(FILE.replace("port = 9797", f'port = 9797\ntoken_file = "{tokens}"'))
    done = CliRunner().invoke(app, ["config", "check", str(path), "--json"])
    assert done.exit_code == 0, done.output
    assert "hunter2" not in done.stdout and "s3cret" not in done.stdout
    rows = {row["setting"]: row for row in json.loads(done.stdout)["settings"]}
    assert rows["store.url"]["value"] == "redis://:***@10.0.0.5:6379/0"
    assert (rows["api.port"]["value"], rows["api.port"]["source"]) == (9898, "$STEERFLOW_API_PORT")
    assert (rows["api.token_file"]["value"], rows["api.token_file"]["source"]) == (str(tokens), "file")
    assert (rows["agent.bridge"]["value"], rows["agent.bridge"]["source"]) == ("br-int", "default")
    assert rows["liveness.down_after"]["value"] == 7.5
    text = CliRunner().invoke(app, ["config", "check", str(path)])
    assert text.stdout.splitlines()[0] == f"{path}: valid"
    assert "  api.port               9898  [$STEERFLOW_API_PORT]" in text.stdout.splitlines()


def test_check_refuses_a_bad_environment_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEERFLOW_API_PORT", "ninety")
    done = CliRunner().invoke(app, ["config", "check", "--json"])
    assert done.exit_code == 1
    assert done.stderr.startswith("Error: $STEERFLOW_API_PORT: 'ninety' is not a valid integer")


def test_describe_masks_the_store_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "steerflow.toml"
    path.write_text(FILE)
    with app.make_context("steerflow", ["--config", str(path), "api"]) as ctx:
        _, cmd, rest = app.resolve_command(ctx, ["api"])
        assert isinstance(cmd, click.Command)
        with cmd.make_context("api", rest, parent=ctx) as sub:
            line = config.describe(sub)
    assert "hunter2" not in line
    assert f"configuration from {path}: " in line
    assert "nb='redis://:***@10.0.0.5:6379/0'(file)" in line and "port=9797(file)" in line


def test_the_packaged_example_is_valid_and_sets_every_section() -> None:
    example = Path(__file__).resolve().parents[2] / "packaging" / "steerflow.toml"
    loaded = config.load(example)
    assert {name.partition(".")[0] for name in loaded.values} == set(config.SECTIONS)
