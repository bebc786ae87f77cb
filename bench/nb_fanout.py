"""NB store speed on embedded, Redis and etcd in one run: commit -> event seen by watcher processes, and
creates per second through the REST API; every figure also as a ratio against Redis.

1. **Fan-out**: `--watchers` separate processes (1, 8, 32) each follow the store with `watch` from the
   revision they start at, as agents do. The bench process commits `--writes` single-object commits at
   `--rate` per second, each stamped with the wall clock just before `commit`; every watcher records,
   for every event, the time it saw it minus the stamp. Prints p50/p99/max over all watchers and events,
   and checks that every watcher saw every write exactly once.
2. **Writes through the API**: a real `steerflow api` process on the store, `--clients` threads
   POSTing networks for `--seconds`; prints creates/s and the POST p50/p99.

Servers (redis-server with fsync-always AOF, a one-member etcd) are started on free ports with data in
a temporary directory and killed by pid at the end, also on Ctrl-C. No root needed.

    .venv/bin/python bench/nb_fanout.py [--stores embedded,redis,etcd] [--watchers 1,8,32]
        [--writes 200] [--rate 200] [--clients 8 (0: no API writes)] [--seconds 5]
        [--etcd-query calls=gateway] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import httpx  # noqa: E402
from bench import figures  # noqa: E402
from tests.builders.api_server import start_api_server  # noqa: E402
from tests.builders.servers import EtcdServer, RedisServer, Server  # noqa: E402

from steerflow.lab.procs import cpu_seconds  # noqa: E402
from steerflow.model import schema  # noqa: E402
from steerflow.nbdb import Put, StoreError, open_store  # noqa: E402

BASELINE = "redis"
QUOTA = 100  # networks per project (docs/rest.md)


@dataclass(frozen=True)
class Latency:
    """One distribution, in milliseconds."""

    p50: float
    p99: float
    max: float
    count: int

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = sorted(s * 1000 for s in seconds)
        return cls(statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1], len(ms))


def follow(url: str, since: int, expected: int, ready: Queue[Any], out: Queue[Any]) -> None:
    """A watcher process: every write's delay from its stamp to this process seeing its event."""
    store = open_store(url)
    store.watch(since, timeout=0)
    ready.put(True)
    cpu = time.process_time()  # every thread of this process, from here to the last event
    delays: list[float] = []
    seen: set[str] = set()
    repeated = 0
    deadline = time.monotonic() + 120
    while len(seen) < expected and time.monotonic() < deadline:
        try:
            batch = store.watch(since, timeout=0.5)
        except StoreError:
            continue
        now = time.time()
        for event in batch.events:
            if event.value is not None and "stamp" in event.value:
                repeated += event.id in seen
                seen.add(event.id)
                delays.append(now - event.value["stamp"])
        since = batch.revision
    cpu = time.process_time() - cpu
    store.close()
    out.put((delays, len(seen), repeated, cpu))


def fanout(url: str, watchers: int, writes: int, rate: float, server: int | None = None) -> dict[str, Any]:
    """Commit `writes` stamped objects at `rate`/s while `watchers` processes follow the store; also the
    CPU each side spent per event (`server`: the pid of the store's server, if it has one)."""
    writer = open_store(url)
    since = writer.revision()
    spawn = multiprocessing.get_context("spawn")
    ready: Queue[Any] = spawn.Queue()
    out: Queue[Any] = spawn.Queue()
    procs = [spawn.Process(target=follow, args=(url, since, writes, ready, out)) for _ in range(watchers)]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=300)  # 32 spawned processes import for minutes on a loaded machine
        time.sleep(0.3)  # every watcher is blocked in watch by now (pacing, not synchronisation)
        cpu = Cpu.now(server)
        start = time.monotonic()
        for n in range(writes):
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
            id = f"fan{since}-{n}"
            writer.commit([Put(schema.NETWORK, id, {"id": id, "stamp": time.time()})])
        results = [out.get(timeout=180) for _ in procs]
        spent = Cpu.now(server).minus(cpu)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        writer.close()
    delays = [d for r in results for d in r[0]]
    lost = sum(writes - r[1] for r in results)
    deliveries = max(1, sum(r[1] for r in results))
    cpu_us = {
        "watcher_per_delivery": sum(r[3] for r in results) / deliveries * 1e6,
        "writer_per_write": spent.writer / writes * 1e6,
        "server_per_delivery": spent.server / deliveries * 1e6,
    }
    return {
        "latency": asdict(Latency.of(delays)),
        "lost": lost,
        "repeated": sum(r[2] for r in results),
        "cpu_us": {k: round(v, 1) for k, v in cpu_us.items()},
    }


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far of this (the writing) process and of the store's server process, if any."""

    writer: float
    server: float

    @classmethod
    def now(cls, server: int | None) -> Cpu:
        return cls(time.process_time(), cpu_seconds(server) if server is not None else 0.0)

    def minus(self, earlier: Cpu) -> Cpu:
        return Cpu(self.writer - earlier.writer, self.server - earlier.server)


def api_writes(url: str, workdir: Path, clients: int, seconds: float) -> dict[str, Any]:
    """`clients` threads POSTing networks to one API server for `seconds`: creates/s and POST latency."""
    with start_api_server(workdir, url) as api:
        times: list[float] = []
        failures: list[str] = []
        stop = time.monotonic() + seconds

        def client(n: int) -> None:
            with httpx.Client(base_url=api.url, timeout=30) as http:
                i = 0
                while time.monotonic() < stop:
                    began = time.monotonic()
                    answer = http.post("/v2.0/networks", json={schema.NETWORK: network(n, i)})
                    times.append(time.monotonic() - began)
                    if answer.status_code != 201:
                        failures.append(f"{answer.status_code} {answer.text[:200]}")
                    i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
    created = len(times) - len(failures)
    latency = asdict(Latency.of(times))
    return {"creates_per_s": created / elapsed, "latency": latency, "failures": failures[:3]}


def network(client: int, n: int) -> dict[str, str]:
    """The n-th network of a client, in a project of its own per QUOTA networks (the default quota)."""
    return {"name": f"c{client}-{n}", "project_id": f"bench-{client}-{n // QUOTA}"}


@contextmanager
def store_url(name: str, workdir: Path, etcd_query: str = "") -> Iterator[str]:
    """A fresh store of driver `name`, its server (if any) started here and killed by pid afterwards;
    `etcd_query` is appended to an etcd URL (e.g. `calls=gateway`)."""
    with store_server(name, workdir, etcd_query) as (url, _pid):
        yield url


@contextmanager
def store_server(name: str, workdir: Path, etcd_query: str = "") -> Iterator[tuple[str, int | None]]:
    """`store_url`'s store and the pid of its server (None for the embedded store)."""
    workdir.mkdir(parents=True)
    if name == "embedded":
        yield (workdir / "nb.db").as_uri(), None
        return
    server: Server = RedisServer(workdir) if name == "redis" else EtcdServer(workdir)
    server.start()
    assert server.proc is not None
    try:
        if isinstance(server, RedisServer):
            yield server.url, server.proc.pid
        else:
            assert isinstance(server, EtcdServer)
            yield f"etcd://{server.endpoint}" + (f"?{etcd_query}" if etcd_query else ""), server.proc.pid
    finally:
        server.kill()


def ratio(results: dict[str, Any], name: str, pick: str) -> str:
    base = results.get(BASELINE)
    if base is None or name == BASELINE:
        return ""
    mine, theirs = _dig(results[name], pick), _dig(base, pick)
    return f" ({mine / theirs:.2f}x {BASELINE})" if theirs else ""


def _dig(data: Any, path: str) -> float:
    for part in path.split("."):
        data = data[part]
    return float(data)


def main() -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--stores", default="embedded,redis,etcd")
    parser.add_argument("--watchers", default="1,8,32")
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--clients", type=int, default=8, help="0 skips the API writes")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--etcd-query", default="", help="options of the etcd URL, e.g. calls=gateway")
    figures.add_json_option(parser)
    args = parser.parse_args()
    stores = args.stores.split(",")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="steerflow-nbfan-") as tmp:
        for name in stores:
            results[name] = mine = {}
            for watchers in map(int, args.watchers.split(",")):
                with store_server(name, Path(tmp) / f"{name}-fan{watchers}", args.etcd_query) as (url, pid):
                    mine[f"fanout_{watchers}"] = fanout(url, watchers, args.writes, args.rate, pid)
                print(f"{name} fan-out {watchers}: {json.dumps(mine[f'fanout_{watchers}'])}", flush=True)
            if args.clients:
                work = Path(tmp) / f"{name}-api"
                with store_url(name, work, args.etcd_query) as url:
                    mine["api"] = api_writes(url, work / "api", args.clients, args.seconds)
                print(f"{name} api: {json.dumps(mine['api'])}", flush=True)
    print(f"\ncommit -> event seen, {args.writes} writes at {args.rate:g}/s (p50 / p99 / max ms):")
    for watchers in map(int, args.watchers.split(",")):
        for name in stores:
            key = f"fanout_{watchers}"
            fan = results[name][key]
            lat = fan["latency"]
            cells = f"{lat['p50']:7.2f} / {lat['p99']:7.2f} / {lat['max']:7.2f}"
            print(
                f"  {watchers:>2} watchers {name:<9} {cells}"
                f"{ratio(results, name, key + '.latency.p50')} lost {fan['lost']} repeated {fan['repeated']}"
            )
    print("\nCPU (us): the watchers' per delivery, the writer's per write, the server's per delivery:")
    for watchers in map(int, args.watchers.split(",")):
        for name in stores:
            cpu = results[name][f"fanout_{watchers}"]["cpu_us"]
            print(
                f"  {watchers:>2} watchers {name:<9} {cpu['watcher_per_delivery']:7.1f}"
                f" {cpu['writer_per_write']:7.1f} {cpu['server_per_delivery']:7.1f}"
            )
    if args.clients:
        print_api(results, stores, args.clients, args.seconds)
    figs, ratios = flat_figures(results)
    figures.write(args.json, figs, ratios, args=vars(args), results=results)
    return 0


def print_api(results: dict[str, Any], stores: list[str], clients: int, seconds: float) -> None:
    print(f"\nPOST /v2.0/networks, {clients} clients, {seconds:g} s:")
    for name in stores:
        api = results[name]["api"]
        print(
            f"  {name:<9} {api['creates_per_s']:7.1f} creates/s{ratio(results, name, 'api.creates_per_s')}"
            f"  p50 {api['latency']['p50']:.1f} ms  p99 {api['latency']['p99']:.1f} ms"
            + (f"  failures: {api['failures']}" if api["failures"] else "")
        )


def flat_figures(results: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Per store fan-out p50/p99 and API creates/s; ratios against the baseline store."""
    figs: dict[str, float] = {}
    picks: dict[str, str] = {}
    for name, mine in results.items():
        for key in mine:
            if key.startswith("fanout_"):
                for p in ("p50", "p99"):
                    picks[f"fan-out {key[7:]} watchers {p}_ms"] = f"{key}.latency.{p}"
        picks["API creates_per_s"] = "api.creates_per_s"
        figs |= {f"{name} {label}": _dig(mine, pick) for label, pick in picks.items() if _has(mine, pick)}
    base = results.get(BASELINE)
    ratios: dict[str, float] = {}
    for name, mine in results.items():
        if base is None or name == BASELINE:
            continue
        for label, pick in picks.items():
            if _has(mine, pick) and _has(base, pick) and _dig(base, pick):
                key = f"{name} / {BASELINE} {label.removesuffix('_ms')}"
                ratios[key] = _dig(mine, pick) / _dig(base, pick)
    return figs, ratios


def _has(data: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


if __name__ == "__main__":
    sys.exit(main())
