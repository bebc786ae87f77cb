"""Counters with traffic: what N chassis' counters reports cost the watchers of an embedded NB store.

`--chassis` writer threads each write their chassis' counters report (`nbdb.counters.report_counters`,
`--chains` chains' worth: classifier, hop, instance and exit counters, as an agent's) every `--interval`
seconds with every counter moved (traffic everywhere); `--watchers` threads, each on a handle of its
own, follow the store as agents and waiters do. Over `--window` seconds: revisions/s, events/s each
watcher is handed, and the process' CPU seconds per second (writers + watchers + the store). Run once
per code under test (`--src`), back to back, e.g. main's and a branch's:

    .venv/bin/python bench/counters_fanout.py --src /work/main/src [--chassis 5] [--chains 2000]
        [--watchers 10] [--window 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

# `--src` picked as idle_beats.py picks it, before steerflow is imported: this process runs that code
from bench.idle_beats import SRC  # noqa: E402

from steerflow.nbdb.counters import Tally, report_counters  # noqa: E402
from steerflow.nbdb.embedded import EmbeddedStore  # noqa: E402


def tally(chains: int, tick: int) -> Tally:
    """A report of `chains` chains of one hop, every counter at `tick` packets of 100 bytes."""
    counted = [tick, tick * 100]
    roles = ("classifiers", "hops", "instances", "chains")
    return {role: {f"{role[:2]}-{n:08d}-{'0' * 24}": counted for n in range(chains)} for role in roles}


def write_reports(path: Path, chassis: str, args: argparse.Namespace, stop: threading.Event) -> None:
    store = EmbeddedStore(path)
    tick = 0
    while not stop.is_set():
        tick += 1
        report_counters(store, chassis, tally(args.chains, tick))
        stop.wait(args.interval)
    store.close()


def follow(path: Path, since: int, stop: threading.Event, seen: list[int]) -> None:
    """Follow the store as an agent does, counting the events it is handed."""
    store = EmbeddedStore(path)
    while not stop.is_set():
        batch = store.watch(since, timeout=0.2)
        seen[0] += len(batch.events)
        since = batch.revision
    store.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nb.db"
        start = EmbeddedStore(path)
        base = start.revision()
        stop = threading.Event()
        seen = [[0] for _ in range(args.watchers)]
        threads = [threading.Thread(target=follow, args=(path, base, stop, s)) for s in seen]
        writers = [(path, f"ch{n}", args, stop) for n in range(args.chassis)]
        threads += [threading.Thread(target=write_reports, args=writer) for writer in writers]
        cpu, wall = time.process_time(), time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.window)
        stop.set()
        for thread in threads:
            thread.join()
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        revisions = start.revision() - base
        start.close()
    return {
        "src": SRC,
        "chassis_count": args.chassis,
        "chains": args.chains,
        "watchers": args.watchers,
        "report_bytes": len(json.dumps(tally(args.chains, 1))),
        "revisions_per_s": round(revisions / wall, 2),
        "events_per_s_per_watcher": round(sum(s[0] for s in seen) / len(seen) / wall, 2),
        "cpu_s_per_s": round(cpu / wall, 3),
        "load_avg": os.getloadavg()[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=str(ROOT / "src"), help="the steerflow sources to run")
    ap.add_argument("--chassis", type=int, default=5, help="chassis writing counters")
    ap.add_argument("--chains", type=int, default=2000, help="chains counted in each chassis' report")
    ap.add_argument("--watchers", type=int, default=10, help="store followers (agents, waiters)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between a chassis' reports")
    ap.add_argument("--window", type=float, default=10.0, help="seconds measured")
    ap.add_argument("--json", type=Path, help="also write the result there")
    args = ap.parse_args()
    text = json.dumps(run(args), indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
