"""Run every benchmark of bench/ in one go, bounded, and keep the results with the date and the machine.

Each benchmark runs as its own process in its own session (full size, or `--quick`: small sizes for a
smoke run), its output shown as it comes, prefixed with its name. At its time budget it gets SIGINT (its
`finally` blocks tear its lab down), then SIGKILL to its session; the whole suite is cut at 30 minutes
(`--quick`: 3). The results go to `bench/results/<UTC date-time>-<host>.json`: the machine (host, CPUs,
load average, kernel, Python), then per benchmark its command line, exit code, status (ok,
missed-target, stopped, skipped, crashed: only a crash fails the run), wall time, output, and the
figures, ratios and samples it wrote with `--json` (bench/figures.py). Benchmarks that build a lab of
network namespaces need root; without it they are recorded as skipped. Every ratio is against a
baseline measured in the same run (docs/benchmarks.md).

    .venv/bin/python bench/run.py [--quick] [--only nb_fanout,cli_startup] [--out bench/results]

`steerflow bench [--quick] [--only ...]` runs this file of the checkout it finds. At the end the plots
of the results are drawn next to them (bench/plot.py; matplotlib: the `bench` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
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
    budget: float  # seconds of a full run; the whole suite is also cut at TOTAL
    quick_budget: float = 30.0  # seconds of a --quick run
    root: bool = False


# Cheap ones first: when the suite's total budget runs out, what is cut is the end of the list.
BENCHES = (
    Bench("cli_startup", ("--repeat", "10"), ("--repeat", "2"), 240, 60),  # CLI starts are slow under load
    Bench("nb_fanout", (), ("--watchers", "1,4", "--writes", "20", "--seconds", "2"), 300, 45),
    Bench("flow_install", ("--repeat", "3"), ("--flows", "10000", "--repeat", "1"), 300, 15, root=True),
    Bench("function_failover", (), ("--runs", "1", "--flows", "4"), 300, 35, root=True),
    Bench("chain_dataplane", (), ("--seconds", "1", "--repeat", "1"), 420, 35, root=True),
    Bench(
        "chain_convergence",
        ("--budget", "240"),
        ("--chassis", "2", "--chains", "10", "--adds", "3", "--background", "100", "--budget", "20"),
        720,
        35,
        root=True,
    ),
    Bench("ovn_compare", (), ("--quick",), 600, 60, root=True),
    Bench("scale", (), ("--quick", "--fanout-stores", "embedded,redis"), 900, 60, root=True),
)
TOTAL = {False: 1800.0, True: 180.0}  # seconds of the whole suite: full, --quick
GRACE = {False: 60.0, True: 20.0}  # seconds a bench stopped at its budget gets to tear its lab down


def machine() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def run_one(bench: Bench, quick: bool, workdir: Path, left: float) -> dict[str, Any]:
    """Run one benchmark within `left` seconds, echoing its output; its record for the results file."""
    figures = workdir / f"{bench.name}.json"
    argv = [sys.executable, str(HERE / f"{bench.name}.py"), *(bench.quick if quick else bench.full)]
    argv += ["--json", str(figures)]
    room = left - GRACE[quick]  # the stop of a bench past its budget fits in the suite's time too
    budget = min(bench.quick_budget if quick else bench.budget, room)
    if room < 5:
        print(f"[{bench.name}] skipped: the suite's {TOTAL[quick]:.0f} s are spent", flush=True)
        return {"argv": argv, "status": "skipped", "skipped": "suite budget spent"}
    if bench.root and os.geteuid() != 0:
        print(f"[{bench.name}] skipped: needs root", flush=True)
        return {"argv": argv, "status": "skipped", "skipped": "needs root"}
    print(f"[{bench.name}] {' '.join(argv[1:])} (budget {budget:.0f} s)", flush=True)
    started = time.monotonic()
    # its own session: what it starts (servers, watcher processes) can be found and stopped with it
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, start_new_session=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=_echo, args=(bench.name, proc, lines), daemon=True)
    reader.start()
    stopped = False
    try:
        rc = proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        stopped = True
        rc = _stop(proc, GRACE[quick])
    except KeyboardInterrupt:
        _stop(proc, GRACE[quick])
        raise
    finally:
        _kill_session(proc.pid)  # a child it left behind would keep our pipe open
        reader.join(timeout=10)
    record: dict[str, Any] = {"argv": argv, "rc": rc, "seconds": round(time.monotonic() - started, 1)}
    record["status"] = status(rc, stopped, lines)
    if stopped:
        record["stopped"] = f"at its budget of {budget:.0f} s"
    record["output"] = lines[-200:]
    if figures.exists():  # figures, ratios and the bench's details, next to the run's facts
        record |= json.loads(figures.read_text())
    print(f"[{bench.name}] exit {rc} after {record['seconds']} s: {record['status']}", flush=True)
    return record


def status(rc: int, stopped: bool, lines: list[str]) -> str:
    """ok; missed-target (exit 1: a figure over its target); stopped (its budget); or crashed (the rest).

    Only a crash fails the suite: a run has no thresholds, and a bench stopped at its budget on a
    loaded machine still leaves what it printed.
    """
    if stopped:
        return "stopped"
    if rc == 0:
        return "ok"
    crashed = any(line.startswith("Traceback (most recent call last)") for line in lines)
    return "missed-target" if rc == 1 and not crashed else "crashed"


def _echo(name: str, proc: subprocess.Popen[str], lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        print(f"[{name}] {line}", end="", flush=True)


def _stop(proc: subprocess.Popen[str], grace: float) -> int:
    """SIGINT first: the bench's `finally` blocks tear its lab down; SIGKILL to its session if it hangs."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_session(proc.pid)
        return proc.wait()


def _kill_session(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def plots(results: Path) -> None:
    """The PNGs of bench/plot.py next to the results; only a hint when matplotlib is missing."""
    sys.path.insert(0, str(ROOT))  # run as a script, bench/ is on the path but not the checkout
    try:
        from bench import plot
    except ImportError as exc:  # matplotlib: the `bench` extra
        print(f"no plots ({exc}): pip install -e '.[bench]', then bench/plot.py {results}")
        return
    for png in plot.render(results):
        print(f"plot: {png}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    # started in the background of a script (`cmd &`), we and our benches would ignore SIGINT, the
    # signal that stops a bench with its teardown; a handler is reset to the default across exec
    signal.signal(signal.SIGINT, signal.default_int_handler)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    unknown = set((args.only or "").split(",")) - {b.name for b in BENCHES} - {""}
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; known: {[b.name for b in BENCHES]}")
    when = datetime.now(UTC)
    results: dict[str, Any] = {"date": when.isoformat(), "quick": args.quick, "machine": machine()}
    deadline = time.monotonic() + TOTAL[args.quick]
    results["benches"] = {}
    with tempfile.TemporaryDirectory(prefix="steerflow-bench-") as tmp:
        for i, bench in enumerate(chosen, 1):
            left = deadline - time.monotonic()
            print(f"== {i}/{len(chosen)} {bench.name} ({left:.0f} s of the suite left)", flush=True)
            results["benches"][bench.name] = run_one(bench, args.quick, Path(tmp), left)
    results["seconds"] = round(TOTAL[args.quick] - (deadline - time.monotonic()), 1)
    results["load_average_after"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{when:%Y-%m-%dT%H%M%SZ}-{socket.gethostname()}.json"
    path.write_text(json.dumps(results, indent=1))
    failed = [name for name, r in results["benches"].items() if r.get("status") == "crashed"]
    print(f"results: {path}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    plots(path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
