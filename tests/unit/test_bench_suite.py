"""The benchmark suite's runner (bench/run.py, `steerflow bench`): bounded, teardown on stop, its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench import run

CLI = (sys.executable, "-m", "steerflow.cli", "bench")


def fake_bench(folder: Path, name: str, body: str) -> run.Bench:
    (folder / f"{name}.py").write_text(body)
    return run.Bench(name, (), (), budget=2, quick_budget=2)


@pytest.fixture
def bench_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(run, "HERE", tmp_path)
    monkeypatch.setattr(run, "GRACE", {False: 5.0, True: 5.0})
    return tmp_path


def test_a_bench_past_its_budget_is_interrupted_and_tears_down(bench_dir: Path) -> None:
    marker = bench_dir / "torn-down"
    body = (
        "import time\n"
        "try:\n"
        "    print('working', flush=True)\n"
        "    time.sleep(60)\n"
        "finally:\n"
        f"    open({str(marker)!r}, 'w').close()\n"
    )
    bench = fake_bench(bench_dir, "hangs", body)
    started = time.monotonic()
    record = run.run_one(bench, quick=True, workdir=bench_dir, left=100)
    assert time.monotonic() - started < 10
    assert record["status"] == "stopped" and record["output"][0] == "working"
    assert marker.exists()


def test_a_child_left_behind_is_killed_and_does_not_hold_the_runner(bench_dir: Path) -> None:
    pidfile = bench_dir / "child.pid"
    body = (
        "import subprocess, sys\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "import json\n"
        "json.dump({'figures': {'x_ms': 1.0}, 'ratios': {'x': 0.5}}, open(sys.argv[-1], 'w'))\n"
    )
    started = time.monotonic()
    record = run.run_one(fake_bench(bench_dir, "orphans", body), quick=True, workdir=bench_dir, left=100)
    assert time.monotonic() - started < 10
    assert record["status"] == "ok" and record["ratios"] == {"x": 0.5}
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pidfile.read_text()}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # killed, then reaped by init
    state = Path(f"/proc/{pidfile.read_text()}/stat")
    assert not state.exists() or state.read_text().split()[2] == "Z"


def test_only_a_crash_fails_the_suite(bench_dir: Path) -> None:
    crashed = run.run_one(fake_bench(bench_dir, "boom", "raise SystemExit(1/0)\n"), True, bench_dir, 100)
    missed = run.run_one(fake_bench(bench_dir, "over", "raise SystemExit(1)\n"), True, bench_dir, 100)
    assert (crashed["status"], missed["status"]) == ("crashed", "missed-target")
    spent = run.run_one(fake_bench(bench_dir, "late", "pass\n"), True, bench_dir, left=6)
    assert spent["status"] == "skipped"


def test_steerflow_bench_runs_the_checkouts_runner(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(run.ROOT) / "src")}
    done = subprocess.run([*CLI, "--only", "nope"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "unknown benchmark(s) nope" in done.stderr
    elsewhere = subprocess.run([*CLI, "--checkout", str(tmp_path)], env=env, capture_output=True, text=True)
    assert elsewhere.returncode == 1 and "no bench/run.py in" in elsewhere.stderr


def test_a_quick_run_writes_figures_ratios_and_plots(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        str(run.HERE / "run.py"),
        "--quick",
        "--only",
        "cli_startup",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    [path] = tmp_path.glob("*.json")
    results = json.loads(path.read_text())
    assert set(results["machine"]) >= {"host", "cpus", "load_average"}
    record = results["benches"]["cli_startup"]
    assert record["status"] == "ok"
    assert record["ratios"]["steerflow network list / python -c pass"] > 1  # a CLI is more than `pass`
    assert sorted(p.name.removeprefix(path.stem) for p in tmp_path.glob("*.png")) == [
        "-cli_startup-latency.png",
        "-cli_startup-ratios.png",
    ]
