"""The artefacts an operator installs: the wheel, installed into a clean virtualenv (no editable install,
no source tree on the path), runs `steerflow --version` and an API + CLI smoke over real HTTP; it holds
every file the package has; the systemd units pass `systemd-analyze verify` with it as their ExecStart.

One wheel and one venv for the module (about 60 s, most of it pip installing the dependencies from its
cache)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders.api_server import free_port

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "packaging" / "systemd"
INSTALLED_PREFIX = "/opt/steerflow"  # where the units expect the venv (docs/deploy.md)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path  # an empty directory outside the source tree, the commands' cwd

    def steerflow(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(self.venv / "bin" / "steerflow"), *args], cwd=self.workdir, env=env or clean_env(),
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout


def clean_env() -> dict[str, str]:
    """The environment without anything pointing at the source tree or our settings."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("STEERFLOW_")}
    return {**env, "PATH": "/usr/local/bin:/usr/bin:/bin"}


def build_wheel(into: Path) -> Path:
    """The wheel of a copy of the source (the build's egg-info and build/ stay out of the tree)."""
    source = into / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps"]
    subprocess.run([*pip, "-w", str(into / "dist"), str(source)], check=True, timeout=300, env=clean_env())
    (wheel,) = (into / "dist").glob("steerflow-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(base)
    venv = base / "venv"
    # the interpreter's own base python, not ours: no site-packages of the test venv leak in
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base_python), "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)]
    subprocess.run(pip, check=True, timeout=600, env=clean_env())
    workdir = base / "elsewhere"
    workdir.mkdir()
    yield Installed(wheel, venv, workdir)


def test_the_wheel_holds_every_file_of_the_package(installed: Installed) -> None:
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "src/steerflow"], capture_output=True, text=True, check=True
    ).stdout.split()
    expected = {path.removeprefix("src/") for path in tracked}
    with zipfile.ZipFile(installed.wheel) as wheel:
        packaged = {name for name in wheel.namelist() if name.startswith("steerflow/")}
    assert expected - packaged == set()  # web assets, templates, schemas, py.typed included


def test_version_from_the_clean_venv(installed: Installed) -> None:
    assert installed.steerflow("--version") == "steerflow 0.1.0\n"
    probe = [str(installed.venv / "bin" / "python"), "-c", "import steerflow; print(steerflow.__file__)"]
    where = subprocess.run(probe, cwd=installed.workdir, env=clean_env(), capture_output=True, text=True)
    assert where.stdout.startswith(str(installed.venv / "lib"))  # the installed copy, not the source tree


def test_api_and_cli_smoke_from_the_clean_venv(installed: Installed, tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    config = tmp_path / "steerflow.toml"
    config.write_text(f'[store]\nurl = "{(tmp_path / "nb.db").as_uri()}"\n[api]\nport = {port}\n')
    assert installed.steerflow("--config", str(config), "config", "check").startswith(f"{config}: valid\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify.sock"))
        manager.settimeout(60)
        env = {**clean_env(), "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
        argv = [
            str(installed.venv / "bin" / "steerflow"),
            "--config",
            str(config),
            "api",
            "--log-format",
            "json",
        ]
        with (tmp_path / "api.log").open("wb") as log:
            api = subprocess.Popen(argv, cwd=installed.workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert manager.recv(4096).startswith(b"READY=1")
            cli = ("--endpoint", endpoint)
            installed.steerflow(*cli, "network", "create", "net1")
            installed.steerflow(
                *cli, "subnet", "create", "--network", "net1", "--subnet-range", "10.0.0.0/24", "s1"
            )
            for name in ("p-in", "p-out"):
                installed.steerflow(*cli, "port", "create", "--network", "net1", "--device", "vm-sf", name)
            installed.steerflow(*cli, "port-pair", "create", "--ingress", "p-in", "--egress", "p-out", "pp1")
            installed.steerflow(*cli, "port-pair-group", "create", "--port-pair", "pp1", "ppg1")
            installed.steerflow(*cli, "port-chain", "create", "--port-pair-group", "ppg1", "chain1")
            assert installed.steerflow(*cli, "port-chain", "list", "-f", "value", "-c", "name") == "chain1\n"
            with urllib.request.urlopen(f"{endpoint}/docs", timeout=10) as page:  # Swagger UI, offline
                assert page.status == 200 and b"swagger" in page.read().lower()
        finally:
            api.terminate()
            api.wait(timeout=20)
    assert '"message": "configuration from ' in (tmp_path / "api.log").read_text()
    nb = (tmp_path / "nb.db").as_uri()
    assert installed.steerflow("nb", "version", "--nb", nb).startswith(
        "NB schema version 2 (this steerflow: 2): up to date"
    )


def test_the_units_verify_with_the_installed_command(installed: Installed, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing (run.sh installs the systemd package)")
    units = []
    for unit in sorted(UNITS.glob("*.service")):
        text = unit.read_text()
        assert f"ExecStart={INSTALLED_PREFIX}/bin/steerflow " in text
        copy = tmp_path / unit.name
        copy.write_text(text.replace(INSTALLED_PREFIX, str(installed.venv)))
        units.append(str(copy))
    assert [Path(u).name for u in units] == ["steerflow-agent.service", "steerflow-api.service"]
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
