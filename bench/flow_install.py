"""Cold flow install benchmark: OpenFlowChannel bundles of cached bytes vs `ovs-ofctl --bundle add-flows`.

Each run starts a fresh private userspace switch (tests/ovs_fixtures.py), installs the same N flows
(distinct ipv4_dst matches spread over several tables) and waits until the switch has applied them
(our bundle commit + barrier; ovs-ofctl's exit). Flows are serialized with os-ken once, before the
clock starts, as the reconciler caches message bytes; that cost is reported on its own.

    .venv/bin/python bench/flow_install.py [--flows 100000] [--tables 10] [--batch 0] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ovs_fixtures import OvsSandbox, ovs_missing, ovs_sandbox

from steerflow.southbound.ofcodec import DATAPATH, ofp, parser, serialize
from steerflow.southbound.openflow import OpenFlowChannel

PRIORITY = 100
T = TypeVar("T")


def flow_spec(i: int, tables: int) -> tuple[int, str, int]:
    """Flow i: (table, ipv4_dst, output port); every (table, ipv4_dst) is distinct."""
    return i % tables, f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 1 + i % 4


def flow_text(i: int, tables: int) -> str:
    table, dst, port = flow_spec(i, tables)
    return f"table={table},priority={PRIORITY},ip,nw_dst={dst},actions=output:{port}"


def flow_bytes(i: int, tables: int) -> bytes:
    table, dst, port = flow_spec(i, tables)
    actions = [parser.OFPActionOutput(port)]
    mod = parser.OFPFlowMod(
        DATAPATH,
        table_id=table,
        priority=PRIORITY,
        buffer_id=ofp.OFP_NO_BUFFER,
        match=parser.OFPMatch(eth_type=0x0800, ipv4_dst=dst),
        instructions=[parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)],
    )
    return serialize(mod)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(n: int, tables: int, make: Callable[[int, int], T], what: str) -> tuple[list[T], float]:
    start = time.perf_counter()
    out: list[T] = []
    step = max(n // 10, 1)
    for i in range(n):
        out.append(make(i, tables))
        if (i + 1) % step == 0:
            progress(f"  {what}: {i + 1}/{n}")
    return out, time.perf_counter() - start


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


async def _install(target: str, frames: list[bytes], batch: int) -> float:
    channel = OpenFlowChannel(target)
    start = time.perf_counter()
    await channel.connect()
    size = batch or len(frames)
    for first in range(0, len(frames), size):
        await channel.bundle(frames[first : first + size])
    await channel.barrier()
    elapsed = time.perf_counter() - start
    await channel.close()
    return elapsed


def run_channel(frames: list[bytes], batch: int) -> tuple[float, list[str]]:
    with ovs_sandbox() as sandbox:
        elapsed = asyncio.run(_install(sandbox.mgmt_target, frames, batch))
        return elapsed, installed_flows(sandbox)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", type=int, default=100_000, help="number of flows (default 100000)")
    ap.add_argument("--tables", type=int, default=10, help="spread flows over this many tables")
    ap.add_argument("--batch", type=int, default=0, help="flows per bundle; 0 = one bundle (default)")
    ap.add_argument("--repeat", type=int, default=5, help="run pairs (ovs-ofctl, then ours); default 5")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    reason = ovs_missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    n, tables = args.flows, args.tables
    progress(f"building {n} flows over {tables} tables")
    texts, _ = build(n, tables, flow_text, "text")
    frames, serialize_s = build(n, tables, flow_bytes, "os-ken serialize")
    with tempfile.NamedTemporaryFile("w", suffix=".flows", delete=False) as f:
        f.write("\n".join(texts) + "\n")
    flow_file = Path(f.name)
    ofctl_times: list[float] = []
    ours_times: list[float] = []
    try:
        for r in range(1, args.repeat + 1):
            t_ofctl, seen_ofctl = run_ovs_ofctl(flow_file)
            ofctl_times.append(t_ofctl)
            progress(f"run {r}/{args.repeat} ovs-ofctl --bundle: {t_ofctl:.3f}s ({n / t_ofctl:,.0f} flows/s)")
            t_ours, seen_ours = run_channel(frames, args.batch)
            ours_times.append(t_ours)
            progress(f"run {r}/{args.repeat} OpenFlowChannel:    {t_ours:.3f}s ({n / t_ours:,.0f} flows/s)")
            if len(seen_ours) != n or seen_ours != seen_ofctl:
                print(
                    f"MISMATCH: ours installed {len(seen_ours)}, ovs-ofctl {len(seen_ofctl)}", file=sys.stderr
                )
                return 1
    finally:
        flow_file.unlink()
    report(n, ofctl_times, ours_times, serialize_s)
    return 0


def report(n: int, ofctl_times: list[float], ours_times: list[float], serialize_s: float) -> None:
    """Medians and bests; best-of is the least disturbed by other load on a shared machine."""
    ofctl, ours = statistics.median(ofctl_times), statistics.median(ours_times)
    best_ofctl, best_ours = min(ofctl_times), min(ours_times)
    pairs = statistics.median(o / u for o, u in zip(ofctl_times, ours_times, strict=True))
    print(f"flows: {n}, {len(ours_times)} run pairs (identical flow tables verified after every run)")
    print(f"ovs-ofctl --bundle add-flows : median {ofctl:.3f}s {n / ofctl:>9,.0f}/s  best {best_ofctl:.3f}s")
    print(f"OpenFlowChannel.bundle       : median {ours:.3f}s {n / ours:>9,.0f}/s  best {best_ours:.3f}s")
    best = best_ofctl / best_ours
    print(f"ratio ovs-ofctl/ours         : median of pairs {pairs:.2f}x, best vs best {best:.2f}x")
    print(
        f"os-ken serialization (cached, outside the clock): {serialize_s:.2f}s = {n / serialize_s:,.0f} msg/s"
    )
    print(f"ratio if that serialization were on the clock   : {ofctl / (ours + serialize_s):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
