"""Start-up of the steerflow CLI's resource commands vs bare Python and vs importing httpx, in one run.

Starts `steerflow api --nb memory://` on a free port, creates a few networks with subnets (so `network
list` resolves subnet names like a user's table does), then times whole processes, interleaved so
that machine load hits every command alike:

- baselines: `python -c pass` (the interpreter alone) and `python -c "import httpx"` (one HTTP library);
- `steerflow network list --help` (no request), `steerflow network list` (table: 2 requests) and
  `steerflow network list -f json` (1 request) against the running API.

It prints each command's median and minimum wall time, its median CPU time (user + system: what the
wall time is on an idle machine, these processes being single-threaded; on a loaded machine the wall
time also counts waiting for a CPU), each median wall time over both baselines, and whether the
resource commands' median CPU time stays within the start-up budget (0.2 s). No root needed.

    .venv/bin/python bench/cli_startup.py [--repeat 20] [--networks 5]
"""

from __future__ import annotations

import argparse
import os
import resource
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import figures

from steerflow.client import SteerflowClient
from steerflow.model import schema

BUDGET = 0.2  # seconds, a resource command's start-up (issue 9)
SRC = str(Path(__file__).resolve().parent.parent / "src")
PY = sys.executable
CLI = (PY, "-m", "steerflow.cli")
LIST = ("network", "list")  # not the NB schema: the command words of `steerflow network list`
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
            net = client.create(schema.NETWORK, {"name": f"net{i}"})
            cidr = f"10.{i}.0.0/24"
            client.create(
                schema.SUBNET, {"name": f"sub{i}", "network_id": net["id"], "cidr": cidr, "ip_version": 4}
            )


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds from fork to exit
    cpu: float  # the process's user + system seconds: what wall would be on an idle machine (1 thread)


def timed(argv: Sequence[str]) -> Sample:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=ENV)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(elapsed, cpu)


def cases(url: str) -> list[Case]:
    return [
        Case("python -c pass", (PY, "-c", "pass"), False),
        Case("python -c 'import httpx'", (PY, "-c", "import httpx"), False),
        Case("steerflow network list --help", (*CLI, *LIST, "--help"), True),
        Case("steerflow network list", (*CLI, "--endpoint", url, *LIST), True),
        Case("steerflow network list -f json", (*CLI, "--endpoint", url, *LIST, "-f", "json"), True),
    ]


def measure(all_cases: Sequence[Case], repeat: int) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {c.name: [] for c in all_cases}
    for case in all_cases:  # warm the page cache and the bytecode caches first
        timed(case.argv)
    for _ in range(repeat):
        for case in all_cases:
            samples[case.name].append(timed(case.argv))
    return samples


def report(all_cases: Sequence[Case], samples: dict[str, list[Sample]]) -> bool:
    """Print the table; True when every resource command's median CPU time is within the budget."""
    wall = {name: statistics.median(s.wall for s in values) for name, values in samples.items()}
    cpu = {name: statistics.median(s.cpu for s in values) for name, values in samples.items()}
    bare, httpx = wall[all_cases[0].name], wall[all_cases[1].name]
    load = os.getloadavg()[0]
    print(f"{'command':34} {'wall med':>8} {'wall min':>8} {'cpu med':>8} {'/ python':>9} {'/ httpx':>8}")
    within = True
    for case in all_cases:
        name = case.name
        print(
            f"{name:34} {wall[name] * 1000:6.0f}ms {min(s.wall for s in samples[name]) * 1000:6.0f}ms "
            f"{cpu[name] * 1000:6.0f}ms {wall[name] / bare:8.1f}x {wall[name] / httpx:7.2f}x"
        )
        within &= not case.resource_command or cpu[name] <= BUDGET
    verdict = "within" if within else "OVER"
    print(
        f"resource commands' start-up (median CPU time) {verdict} the {BUDGET:.1f} s budget; "
        f"{os.cpu_count()} cpus, load average {load:.1f} (wall times grow with the load, CPU time hardly)"
    )
    return within


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20, help="timed runs of each command")
    ap.add_argument("--networks", type=int, default=5, help="networks (each with a subnet) to list")
    figures.add_json_option(ap)
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    with running_api() as url:
        populate(url, args.networks)
        all_cases = cases(url)
        samples = measure(all_cases, args.repeat)
    within = report(all_cases, samples)
    write_json(args.json, all_cases, samples, within)
    return 0 if within else 1


def write_json(
    path: Path | None, all_cases: Sequence[Case], samples: dict[str, list[Sample]], ok: bool
) -> None:
    """Median wall and CPU ms per command; ratios of median wall time over both baselines."""
    wall = {name: statistics.median(s.wall for s in values) for name, values in samples.items()}
    bare, httpx = wall[all_cases[0].name], wall[all_cases[1].name]
    figs = {f"{name} wall_ms": wall[name] * 1000 for name in wall}
    for name, values in samples.items():
        figs[f"{name} cpu_ms"] = statistics.median(s.cpu for s in values) * 1000
    ratios = {f"{c.name} / python -c pass": wall[c.name] / bare for c in all_cases if c.resource_command}
    ratios |= {f"{c.name} / import httpx": wall[c.name] / httpx for c in all_cases if c.resource_command}
    walls = {name: [s.wall * 1000 for s in values] for name, values in samples.items()}
    figures.write(path, figs, ratios, samples_ms=walls, within_budget=ok, budget_ms=BUDGET * 1000)


if __name__ == "__main__":
    sys.exit(main())
