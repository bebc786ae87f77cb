"""Chain convergence: port-chain POST until every chassis has installed it, on N emulated chassis.

A lab of N chassis (default 10), each running a real `steerflow agent` over one embedded NB store. The
API is served in this process (uvicorn in a thread) with the SFC quotas lifted, so one project may own
thousands of chains. Service functions are plain OVS internal interfaces carrying the NB port's iface-id
(F per chassis, default 3): the agents bind them, so chains compile into real flows. Every chain gets a
classifier of its own (TCP to a distinct destination port from one source port, so no two conflict:
rule 29), and a distinct ordered list of 1-3 port pair groups (rule 26).

1. Latency: `--chains` chains are POSTed one by one with `?wait=30`; the clock runs from the POST to
   the answer carrying `X-Steerflow-Applied: true` (every chassis has installed that revision). Before
   each POST the chain's classifier is created and applied, so only the chain is measured.
2. Add-one cost: `--adds` chains are each added (timed as above) then deleted, first with no chain
   present, then with `--background` chains present (created through the same service layer,
   in-process, as bulk creates of `--bulk` chains, bounded by `--budget` seconds). The ratio of the
   medians is printed.

    sudo .venv/bin/python bench/chain_convergence.py [--chassis 10] [--chains 100] [--background 10000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import figures

from steerflow.api.context import Context
from steerflow.api.core import core_handlers
from steerflow.api.errors import ServiceUnavailable
from steerflow.api.resource import ResourceHandler
from steerflow.api.sfc import SFC_HANDLER_CLASSES, sfc_handlers
from steerflow.demo.procs import free_port
from steerflow.demo.scenario import DemoClient
from steerflow.demo.world import DemoPaths, DemoWorld
from steerflow.model import schema
from steerflow.nbdb.embedded import EmbeddedStore
from steerflow.nbdb.status import wait_applied
from steerflow.rest.app import build_app
from steerflow.rest.auth import NoAuth

ADMIN = Context.admin()
PREFIX = "sfbconv"
RUN_DIR = Path("/tmp/steerflow-bench-conv")
WAIT = 30.0
FIRST_DST_PORT = 1024
RETRIES = 10


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class InProcessApi:
    """The REST app over `store` with lifted quotas, served by uvicorn in a daemon thread."""

    def __init__(self, handlers: list[ResourceHandler], store: EmbeddedStore) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            build_app(store, NoAuth(), handlers, settle_heap=True),
            port=self.port,
            log_config=None,
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process API did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Bench:
    world: DemoWorld
    store: EmbeddedStore
    handlers: dict[str, ResourceHandler]
    client: DemoClient | None = None
    source: str = ""
    groups: list[str] = field(default_factory=list)
    next_dst: int = FIRST_DST_PORT
    group_lists: Iterator[tuple[str, ...]] = field(default_factory=lambda: iter(()))
    busy: int = 0  # bulk creates answered 503 (the store busy) and retried

    def create(self, resource: str, **body: Any) -> dict[str, Any]:
        return self.handlers[resource].create(ADMIN, body)

    def wait_applied(self, timeout: float = WAIT) -> float:
        start = time.perf_counter()
        result = wait_applied(self.store, self.store.revision(), timeout)
        if not result.done:
            raise RuntimeError(f"not applied within {timeout}s by {result.lagging}")
        return time.perf_counter() - start

    def internal_port(self, chassis: str, name: str, port: dict[str, Any]) -> None:
        """An OVS internal interface on br-int wearing the NB port's iface-id: the agent binds it."""
        ch = self.world.lab.chassis[chassis]
        ch.ensure_br_int()
        ids = [f"external_ids:iface-id={port['id']}", f"external_ids:attached-mac={port['mac_address']}"]
        ch.ovs_vsctl("add-port", "br-int", name, "--", "set", "interface", name, "type=internal", *ids)

    def build(self, chassis: int, per_chassis: int) -> None:
        for i in range(chassis):
            self.world.add_chassis(f"ch{i + 1}", f"198.51.100.{11 + i}")
        progress(f"{chassis} chassis and agents started")
        net = self.create(schema.NETWORK, name="bench-net")
        self.create(schema.SUBNET, network_id=net["id"], cidr="10.77.0.0/16", ip_version=4)
        src = self.create(schema.PORT, network_id=net["id"], name="src", device_id="src")
        self.internal_port("ch1", "sfbsrc", src)
        self.source = src["id"]
        for c, f in itertools.product(range(chassis), range(per_chassis)):
            ports = [
                self.create(schema.PORT, network_id=net["id"], name=f"f{c}-{f}-{s}", device_id=f"f{c}-{f}")
                for s in ("in", "out")
            ]
            for side, port in zip("io", ports, strict=True):
                self.internal_port(f"ch{c + 1}", f"sfb{c}x{f}{side}", port)
            # MPLS-aware: an instance may then serve hops of many chains (an unaware one follows one chain)
            params = {"correlation": "mpls", "weight": 1}
            pair = self.create(schema.PORT_PAIR, name=f"f{c}-{f}", ingress=ports[0]["id"],
                               egress=ports[1]["id"], service_function_parameters=params)  # fmt: skip
            self.groups.append(
                self.create(schema.PORT_PAIR_GROUP, name=f"g{c}-{f}", port_pairs=[pair["id"]])["id"]
            )
        self.wait_bound()
        self.group_lists = distinct_lists(self.groups)
        took = self.wait_applied()
        progress(
            f"{len(self.groups)} functions bound, their pairs and groups created; applied in {took:.2f}s"
        )

    def wait_bound(self, timeout: float = 60.0) -> None:
        ports = {p.id for p in self.store.list(schema.PORT)}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bound = {r.id for r in self.store.list(schema.PORT_BINDING) if r.value.get(schema.CHASSIS)}
            if ports <= bound:
                return
            time.sleep(0.1)
        raise RuntimeError(f"ports not bound after {timeout}s: {sorted(ports - bound)}")

    def classifier(self) -> str:
        self.next_dst += 1
        dst = self.next_dst
        body = {"ethertype": "IPv4", "protocol": "tcp", "logical_source_port": self.source,
                "destination_port_range_min": dst, "destination_port_range_max": dst}  # fmt: skip
        return str(self.create(schema.FLOW_CLASSIFIER, **body)["id"])

    def background_chains(self, count: int) -> None:
        """`count` chains, with their classifiers, in two bulk creates (two NB revisions)."""
        bodies = []
        for _ in range(count):
            self.next_dst += 1
            bodies.append({"ethertype": "IPv4", "protocol": "tcp", "logical_source_port": self.source,
                           "destination_port_range_min": self.next_dst,
                           "destination_port_range_max": self.next_dst})  # fmt: skip
        fcs = self.retried(schema.FLOW_CLASSIFIER, bodies)
        chains = [
            {"port_pair_groups": list(next(self.group_lists)), "flow_classifiers": [fc["id"]]} for fc in fcs
        ]
        self.retried(schema.PORT_CHAIN, chains)

    def retried(self, resource: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A bulk create, retried as a client retries a 503: the agents' reports raced it in the store."""
        for attempt in range(1, RETRIES + 1):
            try:
                return self.bulk(resource)(ADMIN, bodies)
            except ServiceUnavailable:
                self.busy += 1
                progress(f"background: {resource} bulk create answered 503 (store busy), retry {attempt}")
                time.sleep(0.2 * attempt)
        return self.bulk(resource)(ADMIN, bodies)

    def bulk(self, resource: str) -> Callable[[Context, list[dict[str, Any]]], list[dict[str, Any]]]:
        create: Callable[[Context, list[dict[str, Any]]], list[dict[str, Any]]]
        create = self.handlers[resource].create_bulk  # type: ignore[attr-defined]  # StoredResource's
        return create

    def timed_chain(self) -> tuple[float, str, str]:
        """Create a classifier (applied before the clock starts), then POST a chain with ?wait."""
        fc = self.classifier()
        self.wait_applied()
        assert self.client is not None
        body = {"port_pair_groups": list(next(self.group_lists)), "flow_classifiers": [fc]}
        start = time.perf_counter()
        chain, applied = self.client.create_applied(schema.PORT_CHAIN, body, wait=WAIT)
        elapsed = time.perf_counter() - start
        if not applied.done:
            raise RuntimeError(f"chain not applied within {WAIT}s; lagging: {applied.lagging}")
        return elapsed, str(chain["id"]), fc

    def remove(self, chain: str, fc: str) -> None:
        self.handlers[schema.PORT_CHAIN].delete(ADMIN, chain)
        self.handlers[schema.FLOW_CLASSIFIER].delete(ADMIN, fc)
        self.wait_applied()


def distinct_lists(groups: list[str]) -> Iterator[tuple[str, ...]]:
    """Every ordered list of 1, 2, then 3 distinct groups: no two chains get the same list (rule 26)."""
    for size in (1, 2, 3):
        yield from itertools.permutations(groups, size)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def latencies(bench: Bench, count: int, label: str) -> list[float]:
    out: list[float] = []
    for i in range(count):
        elapsed, _chain, _fc = bench.timed_chain()
        out.append(elapsed)
        if (i + 1) % 10 == 0 or i + 1 == count:
            progress(f"{label}: {i + 1}/{count} chains, last {elapsed * 1000:.0f} ms")
    return out


def add_one(bench: Bench, count: int, label: str) -> list[float]:
    """`count` times: add a chain (timed), then delete it, so the number present stays the same."""
    out: list[float] = []
    for _ in range(count):
        elapsed, chain, fc = bench.timed_chain()
        out.append(elapsed)
        bench.remove(chain, fc)
    progress(f"{label}: median {statistics.median(out) * 1000:.0f} ms over {count} adds")
    return out


def populate(bench: Bench, target: int, budget: float, bulk: int) -> tuple[int, float, float]:
    """Up to `target` chains created in-process within `budget` s: (created, seconds, seconds to apply)."""
    start, created = time.perf_counter(), 0
    while created < target and time.perf_counter() - start < budget:
        count = min(bulk, target - created)
        bench.background_chains(count)
        created += count
        progress(f"background: {created}/{target} chains created ({time.perf_counter() - start:.0f}s)")
    made = time.perf_counter() - start
    progress(f"background: {created} chains created in {made:.1f}s; waiting until every chassis applied them")
    applied = bench.wait_applied(timeout=max(300.0, budget))
    return created, made, applied


def ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:.0f} ms, p99 {percentile(values, 99) * 1000:.0f} ms, "
        f"max {max(values) * 1000:.0f} ms"
    )


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--chassis", type=int, default=10, help="emulated chassis, each with an agent (default 10)"
    )
    ap.add_argument("--functions", type=int, default=3, help="functions (port pair groups) per chassis")
    ap.add_argument("--chains", type=int, default=100, help="chains timed one by one (default 100)")
    ap.add_argument("--adds", type=int, default=20, help="add-one samples with 0 and with background chains")
    ap.add_argument("--background", type=int, default=10_000, help="chains present for the add-one cost")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds allowed to create the background")
    ap.add_argument("--bulk", type=int, default=100, help="background chains per bulk create (one revision)")
    figures.add_json_option(ap)
    return ap.parse_args()


def run(bench: Bench, args: argparse.Namespace) -> None:
    """Time the chains, then the add-one cost empty and loaded; `--json` gets the figures."""
    bench.build(args.chassis, args.functions)
    lat = latencies(bench, args.chains, "latency")
    print(f"chassis: {args.chassis}, functions: {len(bench.groups)}, chains timed: {len(lat)}")
    print(f"POST -> applied on all chassis : {ms(lat)}  (target p99 <= 100 ms)")
    for chain in bench.store.list(schema.PORT_CHAIN):
        fcs = chain.value["flow_classifiers"]
        bench.handlers[schema.PORT_CHAIN].delete(ADMIN, chain.id)
        for fc in fcs:
            bench.handlers[schema.FLOW_CLASSIFIER].delete(ADMIN, fc)
    bench.wait_applied()
    figs = {
        "POST -> applied p50_ms": percentile(lat, 50) * 1000,
        "POST -> applied p99_ms": percentile(lat, 99) * 1000,
    }
    samples = {"POST -> applied": [x * 1000 for x in lat]}
    if args.adds <= 0:
        figures.write(args.json, figs, {}, samples_ms=samples, chassis=args.chassis)
        return
    empty = add_one(bench, args.adds, "add-one with 0 chains present")
    created, made, applied = populate(bench, args.background, args.budget, args.bulk)
    loaded = add_one(bench, args.adds, f"add-one with {created} chains present")
    ratio = statistics.median(loaded) / statistics.median(empty)
    asked = args.background
    print(f"background: {created} chains (asked {asked}), created in {made:.1f}s, applied in {applied:.1f}s"
          f"; {bench.busy} bulk creates answered 503 (store busy) and retried")  # fmt: skip
    print(f"add-one, 0 chains present      : median {statistics.median(empty) * 1000:.0f} ms ({ms(empty)})")
    loaded_ms = statistics.median(loaded) * 1000
    print(f"add-one, {created:>5} chains present  : median {loaded_ms:.0f} ms ({ms(loaded)})")
    print(f"ratio loaded/empty             : {ratio:.2f}x  (target <= 2x)")
    figs |= {"add-one empty_ms": statistics.median(empty) * 1000, "add-one loaded_ms": loaded_ms}
    figs |= {"background chains": created, "background applied_s": applied}
    figs["background 503 retries"] = bench.busy
    samples |= {
        "add-one, 0 chains": [x * 1000 for x in empty],
        f"add-one, {created} chains": [x * 1000 for x in loaded],
    }
    ratios = {"add-one loaded / empty": ratio}
    figures.write(args.json, figs, ratios, samples_ms=samples, chassis=args.chassis, targets={"ratio": 2.0})


def lifted_bench(prefix: str, run_dir: Path) -> tuple[Bench, InProcessApi]:
    """A prepared demo world, its embedded store, and the API over it with every SFC quota lifted."""
    world = DemoWorld(DemoPaths.of(prefix, run_dir))
    world.prepare()
    store = EmbeddedStore(world.paths.nb_path)
    lifted = {cls.resource: -1 for cls in SFC_HANDLER_CLASSES}
    handlers = {h.resource: h for h in [*core_handlers(store), *sfc_handlers(store, quotas=lifted)]}
    return Bench(world, store, handlers), InProcessApi(list(handlers.values()), store)


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("cannot run: the lab needs root (network namespaces, OVS daemons)", file=sys.stderr)
        return 2
    bench, api = lifted_bench(PREFIX, RUN_DIR)
    world, store = bench.world, bench.store
    try:
        api.start()
        bench.client = DemoClient(api.endpoint)
        run(bench, args)
    finally:
        try:
            if bench.client is not None:
                bench.client.close()
            api.stop()
        finally:  # the lab goes even when the runner's stop (SIGINT) lands in the lines above
            world.teardown()
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
