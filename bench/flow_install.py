"""Cold flow install and warm restart: the Reconciler from `Flow` values vs `ovs-ofctl --bundle add-flows`.

Each run pair starts two fresh private userspace switches (tests/builders/ovs_fixtures.py) and installs the
same N flows into each:

- ovs-ofctl: `ovs-ofctl -O OpenFlow13 --bundle add-flows` of the flows' text (`str(flow)`), timed
  until it exits;
- ours: `Reconciler.apply()` of the desired state (a dict of `Flow` values, as the compiler makes),
  timed from the call to its return: connect, read the (empty) switch, diff, encode, one bundle,
  commit, barrier. Nothing is serialized before the clock starts.

Then a warm restart: a new channel and a new Reconciler against the programmed switch apply the same
desired state (read the switch, decode, diff); it must send zero flow-mods. After every run both
switches' tables are dumped and compared.

    .venv/bin/python bench/flow_install.py [--flows 100000] [--tables 10] [--shape ip|l2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import figures
from tests.builders.ovs_fixtures import OvsSandbox, ovs_missing, ovs_sandbox

from steerflow.flows.types import Flow, FlowKey, Group, Match, Output, SetField
from steerflow.reconcile.ofctrl import Reconciler
from steerflow.southbound.openflow import OpenFlowChannel

PRIORITY = 100


@dataclass(frozen=True)
class Desired:
    flows: dict[FlowKey, Flow]
    groups: dict[int, Group]


def ip_flow(i: int, tables: int) -> Flow:
    """Flow i: a distinct (table, ipv4_dst) to one of four ports, as the original channel bench."""
    dst = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    match = Match.of(eth_type=0x0800, ipv4_dst=dst)
    return Flow(i % tables, PRIORITY, match, (Output(1 + i % 4),), cookie=0x0300000000000000 | i)


def l2_flow(i: int, tables: int) -> Flow:
    """Flow i: an L2 lookup entry (network in metadata, destination MAC) setting the port, then goto."""
    mac = f"02:00:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
    match = Match.of(metadata=1 + i % 50, eth_dst=mac)
    return Flow(i % tables, PRIORITY, match, (SetField("reg7", 1 + i),), goto=tables, cookie=i)


SHAPES = {"ip": ip_flow, "l2": l2_flow}


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def installed_flows(sandbox: OvsSandbox) -> list[str]:
    text = sandbox.ofctl("dump-flows", "--no-stats")
    return sorted(line.strip() for line in text.splitlines() if "actions=" in line)


def run_ovs_ofctl(flow_file: Path) -> tuple[float, list[str]]:
    with ovs_sandbox() as sandbox:
        argv = ["ovs-ofctl", "-O", "OpenFlow13", "--bundle", "add-flows", sandbox.mgmt_target, str(flow_file)]
        start = time.perf_counter()
        subprocess.run(argv, env=sandbox.env, check=True)
        elapsed = time.perf_counter() - start
        return elapsed, installed_flows(sandbox)


@dataclass(frozen=True)
class OurRun:
    cold: float
    cold_mods: int
    warm: float
    warm_mods: int
    table: list[str]


async def _apply_once(target: str, desired: Desired) -> tuple[float, int]:
    """A new channel and Reconciler: connect, apply, barrier. Returns (seconds, flow-mods sent)."""
    start = time.perf_counter()
    channel = OpenFlowChannel(target)
    await channel.connect()
    result = await Reconciler(channel).apply(desired, 1)
    elapsed = time.perf_counter() - start
    await channel.close()
    return elapsed, result.flow_mods_sent


def run_reconciler(desired: Desired) -> OurRun:
    with ovs_sandbox() as sandbox:
        gc.collect()
        cold, cold_mods = asyncio.run(_apply_once(sandbox.mgmt_target, desired))
        gc.collect()
        warm, warm_mods = asyncio.run(_apply_once(sandbox.mgmt_target, desired))
        return OurRun(cold, cold_mods, warm, warm_mods, installed_flows(sandbox))


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", type=int, default=100_000, help="number of flows (default 100000)")
    ap.add_argument("--tables", type=int, default=10, help="spread flows over this many tables")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="ip", help="flow shape (default ip)")
    ap.add_argument("--repeat", type=int, default=5, help="run pairs (ovs-ofctl, then ours); default 5")
    figures.add_json_option(ap)
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    reason = ovs_missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    n, make = args.flows, SHAPES[args.shape]
    progress(f"building {n} {args.shape} flows over {args.tables} tables")
    flows = [make(i, args.tables) for i in range(n)]
    desired = Desired({f.key: f for f in flows}, {})
    with tempfile.NamedTemporaryFile("w", suffix=".flows", delete=False) as f:
        f.write("\n".join(str(flow) for flow in flows) + "\n")
    flow_file = Path(f.name)
    ofctl_times: list[float] = []
    ours: list[OurRun] = []
    try:
        for r in range(1, args.repeat + 1):
            t_ofctl, seen_ofctl = run_ovs_ofctl(flow_file)
            ofctl_times.append(t_ofctl)
            progress(f"run {r}/{args.repeat} ovs-ofctl --bundle: {t_ofctl:.3f}s ({n / t_ofctl:,.0f} flows/s)")
            run = run_reconciler(desired)
            ours.append(run)
            progress(
                f"run {r}/{args.repeat} Reconciler cold:    {run.cold:.3f}s ({n / run.cold:,.0f} flows/s), "
                f"warm restart {run.warm:.3f}s with {run.warm_mods} flow-mods"
            )
            if len(run.table) != n or run.table != seen_ofctl or run.cold_mods != n:
                print(
                    f"MISMATCH: ours installed {len(run.table)}, ovs-ofctl {len(seen_ofctl)}", file=sys.stderr
                )
                return 1
    finally:
        flow_file.unlink()
    report(n, args.shape, ofctl_times, ours)
    write_json(args.json, n, ofctl_times, ours)
    return 0


def write_json(path: Path | None, n: int, ofctl_times: list[float], ours: list[OurRun]) -> None:
    """Install times and rates; the ratio is ovs-ofctl's time over ours (above 1: ours is faster)."""
    cold, warm = [r.cold for r in ours], [r.warm for r in ours]
    figs = {
        "ovs-ofctl --bundle add-flows_s": statistics.median(ofctl_times),
        "Reconciler cold_s": statistics.median(cold),
        "Reconciler warm restart_s": statistics.median(warm),
        "ovs-ofctl flows_per_s": n / statistics.median(ofctl_times),
        "Reconciler flows_per_s": n / statistics.median(cold),
        "warm restart flow-mods": max(r.warm_mods for r in ours),
    }
    pairs = statistics.median(o / u for o, u in zip(ofctl_times, cold, strict=True))
    ratios = {"cold install speed vs ovs-ofctl (median of pairs)": pairs,
              "cold install speed vs ovs-ofctl (best vs best)": min(ofctl_times) / min(cold)}  # fmt: skip
    runs = {"ovs-ofctl_s": ofctl_times, "cold_s": cold, "warm_s": warm}
    figures.write(path, figs, ratios, flows=n, runs=runs)


def report(n: int, shape: str, ofctl_times: list[float], ours: list[OurRun]) -> None:
    """Medians and bests; best-of is the least disturbed by other load on a shared machine."""
    cold = [r.cold for r in ours]
    ofctl, mine = statistics.median(ofctl_times), statistics.median(cold)
    pairs = statistics.median(o / u for o, u in zip(ofctl_times, cold, strict=True))
    warm = [r.warm for r in ours]
    print(f"flows: {n} ({shape}), {len(ours)} run pairs (identical flow tables verified after every run)")
    best_ofctl = min(ofctl_times)
    print(f"ovs-ofctl --bundle add-flows : median {ofctl:.3f}s {n / ofctl:>9,.0f}/s  best {best_ofctl:.3f}s")
    print(f"Reconciler.apply (cold)      : median {mine:.3f}s {n / mine:>9,.0f}/s  best {min(cold):.3f}s")
    best = best_ofctl / min(cold)
    print(f"ratio ovs-ofctl/ours         : median of pairs {pairs:.2f}x, best vs best {best:.2f}x")
    mods = sorted({r.warm_mods for r in ours})
    print(
        f"warm restart (new Reconciler): median {statistics.median(warm):.3f}s, best {min(warm):.3f}s, "
        f"flow-mods sent {mods}"
    )


if __name__ == "__main__":
    sys.exit(main())
