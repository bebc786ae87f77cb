"""Scaling curve: chain POST -> applied, agent memory and CPU, flows per chassis at 1, 5, 10, 20 chassis
with 10,000 chains present; NB fan-out at 1, 8, 32 watchers and 1,000 writes/s; where an agent's memory goes.

One lab grows step by step (`--steps 1,5,10,20`): chassis ch1 is the classifying chassis and hosts
`--ch1-functions` functions (MPLS-aware port pairs, each its own group); every later chassis is kept
light (one ovsdb-server, one ovs-vswitchd, one agent, `--functions` functions). Before the first step
`--background` chains, each through a distinct list of 1-3 of ch1's groups, are bulk-created in-process
(bench/chain_convergence.py's Bench: lifted quotas, classifier per chain) and applied: ch1's switch holds
their ~100,000 flows, and every agent's NB cache holds all of them whatever chassis it runs on.

At each step: the new chassis' agents start (they load the whole NB), their functions are bound; then
`--chains` chains are each POSTed with `?wait` (clock: POST -> `X-Steerflow-Applied: true`, every live
chassis has applied the revision) and deleted again, each through a group on ch1, one on the newest
chassis and one on another (so the affected chassis span the lab); during those, each agent's CPU is
sampled; then its RSS, the highest RSS sampled (every 0.5 s) during the step and its peak RSS since it
started (VmHWM) from /proc, and each switch's flow count (`ovs-ofctl dump-aggregate`). Ratios are
against the 1-chassis step of the same run.

Fan-out reuses bench/nb_fanout.py (`fanout`: watcher processes following the store API, commit ->
event seen) on embedded, Redis and etcd at `--fanout-watchers`, `--fanout-rate` writes/s; ratios
against 1 watcher of the same store and against Redis.

Memory: in this process, under tracemalloc, what ch1's agent holds: the NB cache (a snapshot of the
store), the compiled state (`ChassisCompiler`) and the switch's record (the reconciler's copy of the
desired flows).

    sudo .venv/bin/python bench/scale.py [--quick] [--steps 1,5,10,20] [--background 10000]
        [--chains 30] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.chain_convergence import (  # noqa: E402
    WAIT,
    Bench,
    distinct_lists,
    lifted_bench,
    percentile,
    progress,
)
from bench.nb_fanout import fanout, store_url  # noqa: E402

from steerflow.agent.nbcache import NbCache  # noqa: E402
from steerflow.compiler.compile import ChassisCompiler  # noqa: E402
from steerflow.demo.scenario import DemoClient  # noqa: E402
from steerflow.demo.world import DemoWorld  # noqa: E402
from steerflow.lab.procs import cpu_seconds, memory_mb  # noqa: E402
from steerflow.model import schema  # noqa: E402
from steerflow.nbdb.embedded import EmbeddedStore  # noqa: E402

PREFIX = "sfbscale"
RUN_DIR = Path("/tmp/steerflow-bench-scale")
TUNNEL_OFPORT = 1  # any port number: the in-process compile only sizes the state
MB = 1024 * 1024


@dataclass
class AgentSample:
    rss_mb: float  # at the end of the step
    peak_rss_mb: float  # VmHWM: the highest RSS since the agent started
    step_max_rss_mb: float  # the highest RSS sampled (every 0.5 s) during the step
    cpu_percent: float  # of one core, during the step's timed chains
    flows: int
    idle_cpu_percent: float = 0.0  # of one core, over `--idle-window` s with nothing written, before them


@dataclass
class Step:
    chassis: int
    join_s: float  # new agents started -> everything bound and applied
    latency_ms: dict[str, float]
    agents: dict[str, AgentSample] = field(default_factory=dict)
    load_average: float = 0.0
    timed_s: float = 0.0  # wall time of the timed chains (with `cpu_percent`: CPU seconds per chain)


@dataclass
class ScaleLab:
    bench: Bench
    network: str = ""
    groups: dict[str, list[str]] = field(default_factory=dict)  # chassis -> its groups
    used: set[tuple[str, ...]] = field(default_factory=set)
    rng: random.Random = field(default_factory=lambda: random.Random(15))
    agent_args: tuple[str, ...] = ()  # more `steerflow agent` options, e.g. ("--stats-interval", "0")
    timed: list[tuple[str, str, float, float]] = field(default_factory=list)  # step, chain, POSTed, took

    @property
    def world(self) -> DemoWorld:
        return self.bench.world

    def start(self) -> None:
        net = self.bench.create(schema.NETWORK, name="scale-net")
        self.network = str(net["id"])
        self.bench.create(schema.SUBNET, network_id=net["id"], cidr="10.78.0.0/16", ip_version=4)

    def add_chassis(self, index: int, functions: int) -> None:
        """Chassis ch<index>, its agent, and `functions` functions bound on it (ch1 also gets the source)."""
        name = f"ch{index}"
        self.world.add_chassis(name, f"198.51.{100 + index // 200}.{10 + index % 200}", self.agent_args)
        if index == 1:
            src = self.bench.create(schema.PORT, network_id=self.network, name="src", device_id="src")
            self.bench.internal_port(name, "sfssrc", src)
            self.bench.source = str(src["id"])
        for f in range(functions):
            ports = [
                self.bench.create(
                    schema.PORT, network_id=self.network, name=f"f{index}-{f}-{s}", device_id=f"f{index}-{f}"
                )
                for s in ("in", "out")
            ]
            for side, port in zip("io", ports, strict=True):
                self.bench.internal_port(name, f"sfs{index}x{f}{side}", port)
            params = {"correlation": "mpls", "weight": 1}
            pair = self.bench.create(schema.PORT_PAIR, name=f"f{index}-{f}", ingress=ports[0]["id"],
                                     egress=ports[1]["id"], service_function_parameters=params)  # fmt: skip
            group = self.bench.create(schema.PORT_PAIR_GROUP, name=f"g{index}-{f}", port_pairs=[pair["id"]])
            self.groups.setdefault(name, []).append(str(group["id"]))

    def background_lists(self) -> Iterator[tuple[str, ...]]:
        for chosen in distinct_lists(self.groups["ch1"]):
            self.used.add(chosen)
            yield chosen

    def spanning_lists(self, newest: str) -> Iterator[tuple[str, ...]]:
        """Lists through ch1, the newest chassis and another one (ch1's own lists on a lone chassis)."""
        while True:
            if newest == "ch1":
                chosen = next(c for c in distinct_lists(self.groups["ch1"]) if c not in self.used)
            else:
                others = [g for ch, gs in self.groups.items() if ch not in ("ch1", newest) for g in gs]
                picks = [self.rng.choice(self.groups["ch1"]), self.rng.choice(self.groups[newest])]
                if others:
                    picks.append(self.rng.choice(others))
                chosen = tuple(picks)
                if chosen in self.used:
                    continue
            self.used.add(chosen)
            yield chosen


class RssSampler:
    """The highest RSS of each agent, sampled every `period` seconds in a thread, since the last `take`."""

    def __init__(self, lab: ScaleLab, period: float = 0.5) -> None:
        self.lab, self.period = lab, period
        self.highest: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def take(self, name: str) -> float:
        with self._lock:
            return self.highest.pop(name, 0.0)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            for name, agent in list(self.lab.world.agents.items()):
                try:
                    rss = memory_mb(agent.pid)[0]
                except (OSError, KeyError):  # gone or starting
                    continue
                with self._lock:
                    self.highest[name] = max(rss, self.highest.get(name, 0.0))


def flow_count(lab: ScaleLab, chassis: str) -> int:
    out = lab.world.lab.chassis[chassis].ovs_ofctl("dump-aggregate", "br-int")
    found = re.search(r"flow_count=(\d+)", out)
    return int(found.group(1)) if found else -1


def populate(lab: ScaleLab, target: int, bulk: int) -> float:
    bench = lab.bench
    bench.group_lists = lab.background_lists()
    start, created = time.perf_counter(), 0
    while created < target:
        count = min(bulk, target - created)
        bench.background_chains(count)
        created += count
        if created % (bulk * 10) == 0 or created == target:
            progress(f"background: {created}/{target} chains created ({time.perf_counter() - start:.0f}s)")
    took = bench.wait_applied(timeout=600)
    progress(f"background: {target} chains applied {took:.1f}s after the last create")
    return time.perf_counter() - start


def timed_chains(lab: ScaleLab, newest: str, count: int) -> tuple[list[float], dict[str, float]]:
    """`count` chains POSTed with ?wait and deleted again; also each agent's CPU % meanwhile."""
    bench = lab.bench
    bench.group_lists = lab.spanning_lists(newest)
    pids = {name: agent.pid for name, agent in lab.world.agents.items()}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.perf_counter()
    out: list[float] = []
    for _ in range(count):
        try:
            elapsed, chain, fc = bench.timed_chain()
        except RuntimeError as exc:  # counted at the wait's length: a miss is a figure, not the end
            progress(f"a chain missed: {exc}")
            out.append(WAIT)
            continue
        out.append(elapsed)
        lab.timed.append((newest, chain, time.time() - elapsed, elapsed))
        try:
            bench.remove(chain, fc)
        except RuntimeError as exc:
            progress(f"a removal missed: {exc}")
    wall = time.perf_counter() - began
    cpu = {name: 100 * (cpu_seconds(pid) - before[name]) / wall for name, pid in pids.items()}
    return out, cpu


def idle_cpu(lab: ScaleLab, window: float) -> dict[str, float]:
    """Each agent's CPU % over `window` seconds in which nothing is written (what the timed chains'
    figure holds besides their writes: heartbeats, polls, watches)."""
    if window <= 0:
        return {}
    pids = {name: agent.pid for name, agent in lab.world.agents.items()}
    before, began = {name: cpu_seconds(pid) for name, pid in pids.items()}, time.perf_counter()
    time.sleep(window)
    wall = time.perf_counter() - began
    return {name: 100 * (cpu_seconds(pid) - before[name]) / wall for name, pid in pids.items()}


def run_step(lab: ScaleLab, have: int, want: int, args: argparse.Namespace, rss: RssSampler) -> Step:
    began = time.perf_counter()
    for index in range(have + 1, want + 1):
        lab.add_chassis(index, args.ch1_functions if index == 1 else args.functions)
    lab.bench.wait_bound(timeout=120)
    if have == 0:
        populate(lab, args.background, args.bulk)
        if args.keep_nb:
            keep_copy(lab.world.paths.nb_path, args.keep_nb)
    lab.bench.wait_applied(timeout=300)
    join = time.perf_counter() - began
    progress(f"step {want} chassis: ready in {join:.1f}s; timing {args.chains} chains")
    idle = idle_cpu(lab, args.idle_window)
    timing = time.perf_counter()
    lat, cpu = timed_chains(lab, f"ch{want}", args.chains)
    timed = time.perf_counter() - timing
    step = Step(
        want, round(join, 2), {p: round(percentile(lat, n) * 1000, 1) for p, n in (("p50", 50), ("p99", 99))}
    )
    step.latency_ms["max"] = round(max(lat) * 1000, 1)
    for name, agent in lab.world.agents.items():
        now, peak = memory_mb(agent.pid)
        step.agents[name] = AgentSample(
            round(now, 1),
            round(peak, 1),
            round(max(now, rss.take(name)), 1),
            round(cpu[name], 1),
            flow_count(lab, name),
            round(idle.get(name, 0.0), 1),
        )
    step.load_average = round(os.getloadavg()[0], 2)
    step.timed_s = round(timed, 2)
    others = [a for n, a in step.agents.items() if n != "ch1"]
    progress(
        f"step {want} chassis: POST -> applied p50 {step.latency_ms['p50']} ms,"
        f" p99 {step.latency_ms['p99']} ms;"
        f" ch1 RSS {step.agents['ch1'].rss_mb} MB (step max {step.agents['ch1'].step_max_rss_mb},"
        f" peak {step.agents['ch1'].peak_rss_mb}), {step.agents['ch1'].flows} flows"
        + (f"; other agents RSS max {max(a.rss_mb for a in others)} MB" if others else "")
        + f" (load average {step.load_average})"
    )
    return step


def memory_breakdown(store: EmbeddedStore, chassis: str, top: int = 0) -> dict[str, Any]:
    """MB that `chassis`' agent holds, by what holds it (tracemalloc, in this process); with `top`, also
    the source lines that allocated most of what is held at the end."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    cache = NbCache(store, lambda update: None)
    cache.load()
    after_cache = tracemalloc.get_traced_memory()[0]
    compiler = ChassisCompiler(chassis, TUNNEL_OFPORT)
    with cache.taken() as (revision, objects, changed):
        compiler.compile(objects, changed, revision=revision, now=time.monotonic())
    after_compile = tracemalloc.get_traced_memory()[0]
    record = dict(compiler.state.flows)  # the reconciler's record after a full apply
    after_record = tracemalloc.get_traced_memory()[0]
    lines = tracemalloc.take_snapshot().statistics("lineno")[:top] if top else []
    tracemalloc.stop()
    flows = len(record)
    del record, compiler, cache
    return {
        "nb_cache_mb": round((after_cache - base) / MB, 1),
        "compiled_mb": round((after_compile - after_cache) / MB, 1),
        "switch_record_mb": round((after_record - after_compile) / MB, 1),
        "flows": flows,
        "top": [
            f"{s.size / MB:.1f} MB {s.traceback[0].filename.rsplit('/src/', 1)[-1]}:{s.traceback[0].lineno}"
            for s in lines
        ],
    }


def fanout_curve(stores: list[str], watchers: list[int], writes: int, rate: float) -> dict[str, Any]:
    import tempfile

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="steerflow-scale-fan-") as tmp:
        for name in stores:
            for count in watchers:
                with store_url(name, Path(tmp) / f"{name}-{count}") as url:
                    result = fanout(url, count, writes, rate)
                result["load_average"] = round(os.getloadavg()[0], 2)
                out[f"{name}_{count}"] = result
                lat = result["latency"]
                progress(
                    f"fan-out {name} {count} watchers at {rate:g}/s: p50 {lat['p50']:.2f} ms,"
                    f" p99 {lat['p99']:.2f} ms, lost {result['lost']}, repeated {result['repeated']}"
                    f" (load average {result['load_average']})"
                )
    return out


def keep_copy(nb_path: Path, dest: Path) -> None:
    """A consistent copy of the SQLite NB (for measuring an agent's memory offline)."""
    with sqlite3.connect(nb_path) as source, sqlite3.connect(dest) as copy:
        source.backup(copy)


def keep_logs(run_dir: Path, dest: Path) -> None:
    """The lab's logs, kept past its teardown (where a POST's time went: the agents' apply lines)."""
    dest.mkdir(parents=True, exist_ok=True)
    for log in run_dir.glob("*.log"):
        shutil.copy2(log, dest / log.name)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke sizes: 1,3 chassis, 500 chains, 1,8 watchers")
    ap.add_argument("--steps", default="1,5,10,20", help="chassis counts, growing")
    ap.add_argument("--ch1-functions", type=int, default=23, help="functions on ch1 (23: 10,626 lists)")
    ap.add_argument("--functions", type=int, default=1, help="functions on every other chassis")
    ap.add_argument("--background", type=int, default=10_000, help="chains present throughout")
    ap.add_argument("--bulk", type=int, default=100, help="background chains per bulk create")
    ap.add_argument("--idle-window", type=float, default=5.0, help="s of agents' idle CPU before timing")
    ap.add_argument("--chains", type=int, default=30, help="chains timed per step")
    ap.add_argument("--fanout-stores", default="embedded,redis,etcd", help='"" skips the fan-out curve')
    ap.add_argument("--fanout-watchers", default="1,8,32")
    ap.add_argument("--fanout-writes", type=int, default=1000)
    ap.add_argument("--fanout-rate", type=float, default=1000.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--memory-of", type=Path, help="only the memory breakdown, of a kept NB (no root)")
    ap.add_argument("--memory-chassis", default="ch1", help="whose agent --memory-of sizes")
    ap.add_argument("--keep-nb", type=Path, help="copy the NB store (SQLite) here before teardown")
    ap.add_argument("--agent-args", default="", help="more agent options, e.g. '--stats-interval 0'")
    ap.add_argument("--keep-logs", type=Path, help="copy the lab's logs and its NB here before teardown")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.ch1_functions, args.background, args.chains = "1,3", 9, 500, 5
        args.fanout_watchers, args.fanout_writes, args.idle_window = "1,8", 200, min(args.idle_window, 1.0)
    return args


def lab_curve(args: argparse.Namespace) -> tuple[list[Step], dict[str, float]]:
    bench, api = lifted_bench(PREFIX, RUN_DIR)
    world, store = bench.world, bench.store
    lab = ScaleLab(bench, agent_args=tuple(args.agent_args.split()))
    steps: list[Step] = []
    try:
        api.start()
        lab.bench.client = DemoClient(api.endpoint)
        lab.start()
        have = 0
        with RssSampler(lab) as rss:
            for want in map(int, args.steps.split(",")):
                steps.append(run_step(lab, have, want, args, rss))
                have = want
        progress("memory of ch1's agent, by holder (tracemalloc, in-process)")
        memory = memory_breakdown(store, "ch1")
        progress(f"memory: {json.dumps(memory)}")
    finally:
        if lab.bench.client is not None:
            lab.bench.client.close()
        api.stop()
        if args.keep_logs:
            keep_logs(world.paths.run_dir, args.keep_logs)
            keep_copy(world.paths.nb_path, args.keep_logs / "nb.db")  # its history: who reported when
            (args.keep_logs / "timed.json").write_text(json.dumps(lab.timed))
        world.teardown()
        store.close()
    return steps, memory


def report(
    steps: list[Step], memory: dict[str, float], fan: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    figures: dict[str, Any] = {"memory": memory, "fanout": fan}
    ratios: dict[str, float] = {}
    first = steps[0]
    print(
        "\nchassis  POST->applied p50/p99/max ms  ch1 RSS MB (step max, peak)  other RSS MB (max)  ch1 CPU %"
        "  others CPU % (mean; idle)  ch1 flows  other flows (max)  load"
    )
    for step in steps:
        ch1 = step.agents["ch1"]
        others = [a for n, a in step.agents.items() if n != "ch1"]
        other_rss = max((a.rss_mb for a in others), default=0.0)
        other_cpu = sum(a.cpu_percent for a in others) / len(others) if others else 0.0
        other_idle = sum(a.idle_cpu_percent for a in others) / len(others) if others else 0.0
        other_flows = max((a.flows for a in others), default=0)
        lat = step.latency_ms
        print(
            f"{step.chassis:>7}  {lat['p50']:>6.1f} / {lat['p99']:>6.1f} / {lat['max']:>6.1f}"
            f"         {ch1.rss_mb:>7.1f} ({ch1.step_max_rss_mb:.1f}, {ch1.peak_rss_mb:.1f})"
            f"   {other_rss:>10.1f}          {ch1.cpu_percent:>6.1f}"
            f"     {other_cpu:>8.1f}; {other_idle:>4.1f}     {ch1.flows:>8}   {other_flows:>8}"
            f"          {step.load_average}"
        )
        figures[f"chassis_{step.chassis}"] = asdict(step)
        ratios[f"p99_{step.chassis}_vs_{first.chassis}"] = round(lat["p99"] / first.latency_ms["p99"], 2)
        ratios[f"ch1_rss_{step.chassis}_vs_{first.chassis}"] = round(
            ch1.rss_mb / first.agents["ch1"].rss_mb, 2
        )
    print(f"\nch1's agent memory by holder (MB): {json.dumps(memory)}")
    print(f"\nNB fan-out at {args.fanout_rate:g} writes/s, commit -> event seen (ms):")
    for key, result in fan.items():
        name, count = key.rsplit("_", 1)
        lat = result["latency"]
        base = fan.get(f"redis_{count}")
        vs = f"  {lat['p99'] / base['latency']['p99']:.2f}x redis p99" if base and name != "redis" else ""
        print(
            f"  {name:<9} {count:>2} watchers  p50 {lat['p50']:6.2f}  p99 {lat['p99']:7.2f}{vs}"
            f"  lost {result['lost']}"
        )
        if base and name != "redis":
            ratios[f"fanout_p99_{key}_vs_redis"] = round(lat["p99"] / base["latency"]["p99"], 2)
    last = steps[-1]
    print(
        f"\ngoals: p99 <= 100 ms at {last.chassis} chassis: {last.latency_ms['p99']} ms; "
        f"agent RSS <= 300 MB with {memory['flows']} flows: ch1 {last.agents['ch1'].rss_mb} MB at the end,"
        f" {max(st.agents['ch1'].step_max_rss_mb for st in steps)} MB at most during the steps"
    )
    return {"figures": figures, "ratios": ratios, "args": {k: str(v) for k, v in vars(args).items()}}


def main() -> int:
    args = parse_args()
    if args.memory_of:
        store = EmbeddedStore(args.memory_of)
        print(json.dumps(memory_breakdown(store, args.memory_chassis, top=15), indent=1))
        store.close()
        return 0
    if os.geteuid() != 0:
        print("cannot run: the lab needs root (network namespaces, OVS daemons)", file=sys.stderr)
        return 2
    steps, memory = lab_curve(args)
    watchers = [int(w) for w in args.fanout_watchers.split(",")]
    stores = [s for s in args.fanout_stores.split(",") if s]
    fan = fanout_curve(stores, watchers, args.fanout_writes, args.fanout_rate)
    result = report(steps, memory, fan, args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
