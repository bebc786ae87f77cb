"""What an agent's start loads: not the installed distributions' metadata (pbr's version lookup in
ovsdbapp's package, the encapsulation entry points), which cost every restart ~15 ms and 2.5 MB."""

from __future__ import annotations

import subprocess
import sys

METADATA = ("importlib.metadata", "pbr", "email", "zipfile")
AGENT_START = (
    "import sys\n"
    "from steerflow.agent.agent import Agent\n"
    "from steerflow.compiler.rollout import RolloutTimes\n"
    f"print(sorted(m for m in sys.modules if m.startswith({METADATA!r})))\n"
    "import ovsdbapp\n"
    "print(ovsdbapp.__version__)\n"
)


def test_the_agent_starts_without_reading_distribution_metadata() -> None:
    done = subprocess.run(
        [sys.executable, "-c", AGENT_START], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded, version = done.stdout.splitlines()[-2:]
    assert loaded == "[]"
    assert version[0].isdigit()  # ovsdbapp's own __version__ still answers, read when asked


def test_the_encapsulations_are_read_when_first_asked() -> None:
    from steerflow.model.correlations import installed_correlations

    assert {"mpls", "nsh"} <= set(installed_correlations())
