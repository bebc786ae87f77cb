"""`steerflow bench`: run the benchmark suite (bench/run.py) of a steerflow source checkout.

The runner stays in bench/, not in the package: the benchmarks build their labs with tests/builders
(fabric, OVS sandboxes) and start `python -m steerflow` from the checkout's sources, none of which an
installed wheel ships. So the command finds a checkout (`--checkout`, else the current directory or one
of its parents, else the one an editable install runs from) and hands over to its bench/run.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

RUNNER = Path("bench") / "run.py"
CHECKOUT_ENV = "STEERFLOW_CHECKOUT"


def find_checkout(given: Path | None) -> Path:
    """The checkout whose bench/run.py to run; a clear error when there is none."""
    if given is not None:
        candidates = [given]
    else:
        here = Path.cwd().resolve()
        installed = Path(__file__).resolve().parents[3]  # <checkout>/src/steerflow/cli/bench_cmd.py
        candidates = [here, *here.parents, installed]
    for root in candidates:
        if (root / RUNNER).is_file():
            return root
    where = given or "the current directory, its parents, or this installation"
    raise click.ClickException(
        f"no {RUNNER} in {where}: the benchmarks run from a steerflow source checkout (they use its "
        f"tests/builders, which the wheel does not ship); cd into one or pass --checkout DIR"
    )


@click.command(
    help="Run every benchmark of a source checkout (bench/run.py), bounded (30 min, --quick 3 min): "
    "JSON results and PNG plots to bench/results/. The lab benchmarks need root."
)
@click.option("--quick", is_flag=True, help="Small sizes: a smoke run of at most 3 minutes.")
@click.option("--only", metavar="NAMES", help="Comma-separated benchmark names (default: all).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Results directory.")
@click.option(
    "--checkout", type=click.Path(file_okay=False, path_type=Path), envvar=CHECKOUT_ENV,
    help="The steerflow source checkout (default: found from the current directory).",
)  # fmt: skip
def bench(quick: bool, only: str | None, out: Path | None, checkout: Path | None) -> None:
    root = find_checkout(checkout)
    argv = [sys.executable, str(root / RUNNER)]
    argv += ["--quick"] if quick else []
    argv += ["--only", only] if only else []
    argv += ["--out", str(out.resolve())] if out else []
    # the runner in our place: its exit code, and Ctrl-C reaching it, are the command's
    os.chdir(root)
    os.execv(sys.executable, argv)
