"""Idle NB traffic at N chassis: what a watcher of the store sees when nothing changes but liveness, and
the `?wait` time of a trivial write; run once per code under test (`--src`), back to back.

A lab of `--chassis` emulated chassis (each an ovsdb-server, an ovs-vswitchd and a real `steerflow
agent`, `--heartbeat` s between beats) on one embedded NB store, with a `steerflow api` over it. Once
every chassis is alive and the agents have reported, a watcher in this process follows the store for
`--window` seconds and counts the revisions and the events it is handed, by kind: at idle, before beats
left the watched documents, that is N/heartbeat `chassis_status` commits a second, each delivered to
every watcher (N agents, the API's waiters). Deliveries/s = events/s x (N agents + 1 API server).
Then `--waits` networks are POSTed with `?wait=30` one after the other: POST -> 201 with
`X-Steerflow-Applied: true` (every live chassis applied it), p50 and max.

Both codes run the same lab definition: `--src DIR` is the steerflow source tree this process and its
agents and API import (default: this checkout's src), e.g. main's and a branch's, one after the other:

    sudo .venv/bin/python bench/idle_beats.py --src /work/main/src --chassis 5,10 [--window 15]
        [--heartbeat 3] [--waits 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _src() -> str:
    """`--src`, read before steerflow is imported: this process and its children run that code."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--src", default=str(ROOT / "src"))
    return str(Path(pre.parse_known_args()[0].src).resolve())


SRC = _src()
sys.path[:0] = [SRC]
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)

from steerflow.demo.procs import AgentProcess, ApiProcess, free_port, start_agent  # noqa: E402
from steerflow.lab import Lab  # noqa: E402
from steerflow.lab.cleanup import destroy  # noqa: E402
from steerflow.model import schema  # noqa: E402
from steerflow.nbdb.embedded import EmbeddedStore  # noqa: E402
from steerflow.nbdb.status import chassis_liveness  # noqa: E402

PREFIX = "sfbidle"
RUN_DIR = Path("/tmp/steerflow-bench-idle")


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def wait_alive(store: EmbeddedStore, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        lives = chassis_liveness(store)
        if sum(life.alive for life in lives.values()) >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sum(life.alive for life in lives.values())} of {count} chassis alive")
        time.sleep(0.2)


def idle_traffic(store: EmbeddedStore, window: float) -> dict[str, Any]:
    """Revisions and events a watcher of `store` gets in `window` seconds, by kind, per second."""
    since = first = store.revision()
    kinds: Counter[str] = Counter()
    wakes = 0
    started = time.monotonic()
    while (left := started + window - time.monotonic()) > 0:
        batch = store.watch(since, timeout=min(left, 0.5))
        if batch.revision != since:
            wakes += 1
        kinds.update(e.kind for e in batch.events)
        since = batch.revision
    elapsed = time.monotonic() - started
    return {
        "seconds": round(elapsed, 1),
        "revisions_per_s": round((since - first) / elapsed, 2),
        "events_per_s": round(sum(kinds.values()) / elapsed, 2),
        "wakes_per_s": round(wakes / elapsed, 2),
        "events_by_kind": dict(kinds),
    }


def timed_waits(api: ApiProcess, count: int) -> list[float]:
    """`count` networks POSTed with ?wait, one after the other: ms until every live chassis applied."""
    host, port = api.endpoint.removeprefix("http://").split(":")
    out: list[float] = []
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        for n in range(count):
            body = json.dumps({schema.NETWORK: {"name": f"idle-{n}-{time.time_ns()}"}})
            started = time.perf_counter()
            conn.request("POST", "/v2.0/networks?wait=30", body, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status != 201 or answer.getheader("X-Steerflow-Applied") != "true":
                raise RuntimeError(
                    f"POST ?wait answered {answer.status}, applied {answer.getheader('X-Steerflow-Applied')}"
                )
            out.append(elapsed)
            time.sleep(0.2)  # one write at a time, the lab idle in between
    finally:
        conn.close()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    destroy(PREFIX, RUN_DIR / "lab")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    nb = RUN_DIR / "nb.db"
    for stale in RUN_DIR.glob("nb.db*"):
        stale.unlink()
    nb_url = f"file://{nb}"
    store = EmbeddedStore(nb)
    lab = Lab(RUN_DIR / "lab", PREFIX)
    api = ApiProcess(nb_url, free_port(), RUN_DIR / "api.log")
    agents: list[AgentProcess] = []
    steps: dict[str, Any] = {}
    try:
        api.start()
        for want in map(int, args.chassis.split(",")):
            while len(agents) < want:
                n = len(agents) + 1
                chassis = lab.add_chassis(f"ch{n}", f"198.51.100.{10 + n}", create_br_int=False)
                extra = ("--heartbeat", str(args.heartbeat))
                agents.append(start_agent(chassis, nb_url, RUN_DIR / f"agent-ch{n}.log", extra=extra))
            wait_alive(store, want)
            time.sleep(args.settle)  # the joins' reports die down
            progress(f"{want} chassis: watching the idle store for {args.window:g} s")
            idle = idle_traffic(store, args.window)
            idle["deliveries_per_s"] = round(idle["events_per_s"] * (want + 1), 1)
            waits = timed_waits(api, args.waits)
            step = {
                "idle": idle,
                "wait_ms": {"p50": round(statistics.median(waits), 1), "max": round(max(waits), 1)},
                "load_average": round(os.getloadavg()[0], 1),
            }
            progress(f"{want} chassis: {json.dumps(step)}")
            steps[str(want)] = step
    finally:
        for agent in agents:
            agent.stop()
        api.stop()
        lab.teardown()
        store.close()
    return {"src": SRC, "heartbeat": args.heartbeat, "steps": steps}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=str(ROOT / "src"), help="the steerflow sources to run")
    ap.add_argument("--chassis", default="5,10", help="chassis counts, growing")
    ap.add_argument("--heartbeat", type=float, default=3.0, help="the agents' --heartbeat")
    ap.add_argument("--window", type=float, default=15.0, help="seconds the idle store is watched")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after every chassis is alive")
    ap.add_argument("--waits", type=int, default=10, help="?wait writes timed per step")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("cannot run: the lab needs root (network namespaces, OVS daemons)", file=sys.stderr)
        return 2
    result = run(args)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
