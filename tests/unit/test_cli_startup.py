"""What a resource command's start-up loads (the 0.2 s budget, measured by bench/cli_startup.py), and the
root options that never reach the API: `--version`, shell completion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from steerflow.cli.main import app

# What made the start-up slow before: typer (and the pydantic it coerces options with), rich, the
# agent's, lab's and demo's modules; a resource command needs none of them.
HEAVY = ("typer", "pydantic", "rich", "httpx", "yaml", "steerflow.agent", "steerflow.lab", "steerflow.demo")
LOADED = (
    "import sys\n"
    "from steerflow.cli.main import app\n"
    "app(sys.argv[1:], prog_name='steerflow', standalone_mode=False)\n"
    f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
)


def heavy_modules_loaded(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def test_a_resource_command_loads_only_its_own_modules() -> None:
    # not the NB schema: the command words of `steerflow network list`
    assert heavy_modules_loaded("network", "list", "--help") == "[]"
    assert heavy_modules_loaded("port-chain", "create", "--help") == "[]"
    assert heavy_modules_loaded("--help") == "[]"


def test_install_completion_adds_one_line_to_the_shell_rc(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash"}
    for _ in range(2):  # a second install changes nothing
        result = CliRunner().invoke(app, ["--install-completion"], env=env)
        assert result.exit_code == 0, result.output
    line = 'eval "$(_STEERFLOW_COMPLETE=bash_source steerflow)"'
    assert (tmp_path / ".bashrc").read_text().splitlines().count(line) == 1
    fish = CliRunner().invoke(app, ["--install-completion"], env={**env, "SHELL": "/usr/bin/fish"})
    assert fish.exit_code == 0, fish.output
    script = (tmp_path / ".config/fish/completions/steerflow.fish").read_text()
    assert "_STEERFLOW_COMPLETE=fish_complete" in script


def test_completion_for_an_unknown_shell_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--install-completion"], env={"HOME": str(tmp_path), "SHELL": "/bin/tcsh"}
    )
    assert result.exit_code == 2 and "--show-completion" in result.output
    assert list(tmp_path.iterdir()) == []
    shown = CliRunner().invoke(app, ["--show-completion", "ksh"])
    assert shown.exit_code == 2 and "bash, zsh, fish" in shown.output
