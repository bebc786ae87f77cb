"""Start-up of the steerflow CLI's resource commands vs bare Python and vs importing httpx, in one run.

Starts `steerflow api --nb memory://` on a free port, creates a few networks with subnets (so `network
list` resolves subnet names like a user's table does), then times whole processes, interleaved so
that machine load hits every command alike:

- baselines: `python -c pass` (the interpreter alone) and `python -c "import httpx"` (one HTTP library);
- `steerflow network list --help` (no request), `steerflow network list` (table: 2 requests) and
  `steerflow network list -f json` (1 request) against the running API.

It prints the median and minimum of each, each command's median over both baselines, and whether the
resource commands' median stays within the start-up budget (0.2 s). No root needed.

    .venv/bin/python bench/cli_startup.py [--repeat 20] [--networks 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from steerflow.client import SteerflowClient

BUDGET = 0.2  # seconds, a resource command's start-up (issue 9)
SRC = str(Path(__file__).resolve().parent.parent / "src")
PY = sys.executable
CLI = (PY, "-m", "steerflow.cli")
# the commands run this checkout's sources, like the client the bench itself imports
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))}


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    resource_command: bool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_api() -> Iterator[str]:
    """`steerflow api` over a memory store on a free port; always stopped (by its pid)."""
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "api", "--nb", "memory://", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with SteerflowClient(url) as client:
            client.wait_ready(30, alive=lambda: proc.poll() is None)
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


def populate(url: str, networks: int) -> None:
    with SteerflowClient(url) as client:
        for i in range(networks):
            net = client.create("network", {"name": f"net{i}"})
            cidr = f"10.{i}.0.0/24"
            client.create(
                "subnet", {"name": f"sub{i}", "network_id": net["id"], "cidr": cidr, "ip_version": 4}
            )


def timed(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=ENV)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def cases(url: str) -> list[Case]:
    return [
        Case("python -c pass", (PY, "-c", "pass"), False),
        Case("python -c 'import httpx'", (PY, "-c", "import httpx"), False),
        Case("steerflow network list --help", (*CLI, "network", "list", "--help"), True),
        Case("steerflow network list", (*CLI, "--endpoint", url, "network", "list"), True),
        Case(
            "steerflow network list -f json", (*CLI, "--endpoint", url, "network", "list", "-f", "json"), True
        ),
    ]


def measure(all_cases: Sequence[Case], repeat: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {c.name: [] for c in all_cases}
    for case in all_cases:  # warm the page cache and the bytecode caches first
        timed(case.argv)
    for _ in range(repeat):
        for case in all_cases:
            samples[case.name].append(timed(case.argv))
    return samples


def report(all_cases: Sequence[Case], samples: dict[str, list[float]]) -> bool:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    bare, httpx = medians[all_cases[0].name], medians[all_cases[1].name]
    print(f"{'command':34} {'median':>8} {'min':>8} {'/ python':>9} {'/ httpx':>8}")
    within = True
    for case in all_cases:
        median = medians[case.name]
        print(
            f"{case.name:34} {median * 1000:6.0f}ms {min(samples[case.name]) * 1000:6.0f}ms "
            f"{median / bare:8.1f}x {median / httpx:7.2f}x"
        )
        within &= not case.resource_command or median <= BUDGET
    verdict = "within" if within else "OVER"
    print(f"resource commands' median start-up {verdict} the {BUDGET:.1f} s budget ({os.cpu_count()} cpus)")
    return within


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20, help="timed runs of each command")
    ap.add_argument("--networks", type=int, default=5, help="networks (each with a subnet) to list")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    with running_api() as url:
        populate(url, args.networks)
        all_cases = cases(url)
        samples = measure(all_cases, args.repeat)
    return 0 if report(all_cases, samples) else 1


if __name__ == "__main__":
    sys.exit(main())
