"""Run every benchmark of bench/ in one go, bounded, and keep the results with the date and the machine.

Each benchmark runs as its own process (full size, or `--quick`: small sizes for a smoke run), its
output shown as it comes, prefixed with its name, and stopped (by pid) at its time budget. The results
go to `bench/results/<UTC date-time>-<host>.json`: the machine (host, CPUs, load average, kernel,
Python), then per benchmark its command line, exit code, wall time and output (benchmarks that write
JSON, like nb_fanout, also their figures). Benchmarks that build a lab of network namespaces need root;
without it they are recorded as skipped. Every figure a benchmark prints is already a ratio against a
baseline measured in its own run (docs/benchmarks.md).

    .venv/bin/python bench/run.py [--quick] [--only nb_fanout,cli_startup] [--out bench/results]

Not yet: plots (matplotlib is not a dependency) and a `steerflow bench` command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT)]))}


@dataclass(frozen=True)
class Bench:
    name: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    budget: float  # seconds (full run); a quick run gets a tenth, at least a minute
    root: bool = False
    writes_json: bool = False


BENCHES = (
    Bench("nb_fanout", (), ("--watchers", "1,8", "--writes", "50", "--seconds", "2"), 600, writes_json=True),
    Bench("cli_startup", (), ("--repeat", "3"), 300),
    Bench("flow_install", (), ("--flows", "10000", "--repeat", "1"), 600, root=True),
    Bench(
        "chain_convergence",
        ("--budget", "300"),
        ("--chassis", "2", "--chains", "10", "--adds", "3", "--background", "100", "--budget", "30"),
        900,
        root=True,
    ),
    Bench("chain_dataplane", (), ("--seconds", "1", "--repeat", "1"), 600, root=True),
    Bench("scale", (), ("--quick", "--fanout-stores", "embedded,redis"), 900, root=True, writes_json=True),
)


def machine() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def run_one(bench: Bench, quick: bool, workdir: Path) -> dict[str, Any]:
    """Run one benchmark, echoing its output; its record for the results file."""
    argv = [sys.executable, str(HERE / f"{bench.name}.py"), *(bench.quick if quick else bench.full)]
    figures = workdir / f"{bench.name}.json"
    if bench.writes_json:
        argv += ["--json", str(figures)]
    budget = max(60.0, bench.budget / 10) if quick else bench.budget
    if bench.root and os.geteuid() != 0:
        print(f"[{bench.name}] skipped: needs root", flush=True)
        return {"argv": argv, "skipped": "needs root"}
    print(f"[{bench.name}] {' '.join(argv[1:])} (budget {budget:.0f} s)", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    # past its budget a benchmark gets SIGTERM (they remove what they started on it), then SIGKILL
    watchdog = threading.Timer(budget, _stop, args=(proc,))
    watchdog.start()
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            print(f"[{bench.name}] {line}", end="", flush=True)
        rc = proc.wait()
    finally:
        watchdog.cancel()
    record: dict[str, Any] = {"argv": argv, "rc": rc, "seconds": round(time.monotonic() - started, 1)}
    record["output"] = lines[-200:]
    if bench.writes_json and figures.exists():
        record["figures"] = json.loads(figures.read_text())
    print(f"[{bench.name}] exit {rc} after {record['seconds']} s", flush=True)
    return record


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    unknown = set((args.only or "").split(",")) - {b.name for b in BENCHES} - {""}
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; known: {[b.name for b in BENCHES]}")
    when = datetime.now(UTC)
    results: dict[str, Any] = {"date": when.isoformat(), "quick": args.quick, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="steerflow-bench-") as tmp:
        results["benches"] = {b.name: run_one(b, args.quick, Path(tmp)) for b in chosen}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{when:%Y-%m-%dT%H%M%SZ}-{socket.gethostname()}.json"
    path.write_text(json.dumps(results, indent=1))
    failed = [name for name, r in results["benches"].items() if r.get("rc", 0) != 0]
    print(f"results: {path}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
