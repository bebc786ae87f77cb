"""PNG plots of a bench/run.py results file: per benchmark, its ratios and its latency distributions.

For every benchmark that wrote ratios: a bar per ratio against the line at 1.0 (the baseline measured in
the same run); for every benchmark that wrote samples (`samples_ms`): their distribution, one box and
its points per series. Each plot carries the machine, the date and the load average of the run, since
on a shared machine the load moves every figure. The PNGs go next to the results file (or to `--out`),
named `<results file stem>-<bench>-ratios.png` / `-latency.png`.

    .venv/bin/python bench/plot.py bench/results/<date>-<host>.json [--out DIR]

Needs matplotlib (`pip install -e '.[bench]'`; run.sh installs it).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

# How to read each benchmark's ratios (which side of 1.0 is better); others get the generic note.
READING = {
    "cli_startup": "wall time over `python -c pass` and over `python -c 'import httpx'`: below 1 is faster",
    "nb_fanout": "store / Redis: latency below 1 is faster; creates/s above 1 is faster",
    "flow_install": "ovs-ofctl's time over the Reconciler's: above 1, steerflow installs faster",
    "function_failover": "failover with probes over failover with detection free (same lab, same run)",
    "chain_dataplane": "throughput above 1 is faster; CPU per GB below 1 is cheaper",
    "chain_convergence": "add-one with the background chains over add-one with none (target: below 2)",
}
GENERIC = "ratio against the baseline measured in the same run (docs/benchmarks.md)"


def caption(results: dict[str, Any]) -> str:
    m = results["machine"]
    load = " ".join(f"{x:.1f}" for x in m["load_average"])
    after = results.get("load_average_after")
    load += f" at the start, {' '.join(f'{x:.1f}' for x in after)} at the end" if after else ""
    kind = "--quick" if results.get("quick") else "full run"
    return f"{results['date'][:16]}Z, {kind}, {m['host']}: {m['cpus']} CPUs, load average {load}"


def _finish(fig: Any, ax: Axes, title: str, note: str, path: Path) -> Path:
    ax.set_title(title, fontsize=9, loc="left")
    fig.text(0.01, 0.01, note, fontsize=7.5, color="#444444", va="bottom")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ratio_plot(name: str, ratios: dict[str, float], note: str, path: Path) -> Path:
    labels = list(ratios)
    values = [ratios[k] for k in labels]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.42 * len(labels)))
    ax.barh(range(len(labels)), values, color="#3b7dd8", height=0.6)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    if max(values) / max(min(values), 1e-9) > 20:
        ax.set_xscale("log")
    for i, v in enumerate(values):
        ax.annotate(f"{v:.2f}x", (v, i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel("ratio (dashed line: the baseline, 1.0)")
    return _finish(fig, ax, f"{name}\n{READING.get(name, GENERIC)}", note, path)


def latency_plot(name: str, samples: dict[str, list[float]], note: str, path: Path) -> Path:
    labels = [k for k, v in samples.items() if v]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.5 * len(labels)))
    ax.boxplot([samples[k] for k in labels], orientation="horizontal", widths=0.5, showfliers=False)
    jitter = random.Random(0)  # the same picture from the same file
    for i, k in enumerate(labels, 1):
        ys = [i + jitter.uniform(-0.15, 0.15) for _ in samples[k]]
        ax.scatter(samples[k], ys, s=8, alpha=0.5, color="#3b7dd8")
    ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax.invert_yaxis()
    flat = [x for k in labels for x in samples[k]]
    if flat and min(flat) > 0 and max(flat) / min(flat) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("ms (box: quartiles and median; points: every sample)")
    return _finish(fig, ax, f"{name}\nhow the samples spread", note, path)


def render(results_path: Path, out: Path | None = None) -> list[Path]:
    """Every plot of one results file; the paths written."""
    results = json.loads(results_path.read_text())
    out = out or results_path.parent
    out.mkdir(parents=True, exist_ok=True)
    note = caption(results)
    made: list[Path] = []
    for name, record in results["benches"].items():
        if record.get("ratios"):
            path = out / f"{results_path.stem}-{name}-ratios.png"
            made.append(ratio_plot(name, record["ratios"], note, path))
        if record.get("samples_ms"):
            path = out / f"{results_path.stem}-{name}-latency.png"
            made.append(latency_plot(name, record["samples_ms"], note, path))
    return made


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="a results file of bench/run.py")
    ap.add_argument("--out", type=Path, help="directory of the PNGs (default: the results file's)")
    args = ap.parse_args()
    for path in render(args.results, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
