"""What an agent whose chassis a write does not concern spends on it, by stage, in this process.

An embedded NB store holds `--background` chains (classified on ch1, through functions on ch2), written
through the API's handlers as `bench/scale.py` writes them. An agent of ch7 (a chassis with a port of
its own and no chain) is built from its parts: its NB cache (loaded, then fed each watch batch) and its
compiler (full compile first). Then `--writes` times the bench's timed path (a classifier POST, a chain
POST, their deletes) is written, and after each write the thread CPU of each stage is summed: the watch
(the store's read and decode; the binding loop's watch decodes the same batch again), the cache's fold
(interning, concerns), the incremental compile, the reconciler's plan (no switch), and the same
for the other chassis' reports of the write. Run once per code under test (`--src`), back to
back, e.g. main's and a branch's:

    .venv/bin/python bench/idle_cost.py --src /work/main/src [--background 10000] [--writes 50] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bench.idle_beats import SRC  # noqa: E402

from steerflow.agent.chassis import register_chassis  # noqa: E402
from steerflow.agent.nbcache import NbCache  # noqa: E402
from steerflow.api.context import Context  # noqa: E402
from steerflow.api.sfc_chains import FlowClassifiers, PortChains  # noqa: E402
from steerflow.api.sfc_pairs import PortPairGroups, PortPairs  # noqa: E402
from steerflow.compiler.compile import ChassisCompiler  # noqa: E402
from steerflow.model import schema  # noqa: E402
from steerflow.nbdb.api import NorthboundStore, Put  # noqa: E402
from steerflow.nbdb.embedded import EmbeddedStore  # noqa: E402
from steerflow.nbdb.status import report_applied  # noqa: E402
from steerflow.reconcile.ofctrl import Reconciler  # noqa: E402

# "" where the code names no concerns (main before session 19)
CONCERNS, CONCERNS_ID, ALL_CHASSIS = (
    getattr(schema, n, "") for n in ("CONCERNS", "CONCERNS_ID", "ALL_CHASSIS")
)

ADMIN = Context.admin("admin")
TUNNEL_OFPORT = 1
_TUNNEL_KEYS = itertools.count(1)  # the port keys the core API allocates
STAGES = ("watch", "binding_watch", "cache_fold", "compile", "apply_plan", "status_reports")


def _port(store: NorthboundStore, name: str, chassis: str, ofport: int, device: str = "") -> str:
    """A port bound on `chassis` (the core API and the binder are not what is measured); its id."""
    id, key = str(uuid.uuid5(uuid.NAMESPACE_OID, name)), next(_TUNNEL_KEYS)
    value = {"id": id, "project_id": "admin", "tenant_id": "admin", "network_id": "net-1", "name": name,
             "mac_address": f"fa:16:3e:00:{key // 256:02x}:{key % 256:02x}",
             "fixed_ips": [{"subnet_id": "sub-1", "ip_address": f"10.0.{key // 256}.{key % 256}"}],
             "device_id": device or name, "port_security_enabled": False, schema.TUNNEL_KEY: key}  # fmt: skip
    binding = {"port_id": id, schema.CHASSIS: chassis, "ofport": ofport}
    store.commit([Put(schema.PORT, id, value), Put(schema.PORT_BINDING, id, binding)])
    return id


class Lab:
    def __init__(self, store: NorthboundStore, functions: int, chassis: int) -> None:
        self.store = store
        self.fc, self.pc = FlowClassifiers(store, quota=-1), PortChains(store, quota=-1)
        net = {"id": "net-1", "name": "n", "project_id": "admin", "tenant_id": "admin",
               "admin_state_up": True, schema.SEGMENTATION_ID: 1000}  # fmt: skip
        subnet = {"id": "sub-1", "network_id": "net-1", "cidr": "10.0.0.0/16", "ip_version": 4}
        store.commit([Put(schema.NETWORK, "net-1", net), Put(schema.SUBNET, "sub-1", subnet)])
        self.chassis = [f"ch{i}" for i in range(1, chassis + 1)]
        for i, name in enumerate(self.chassis):
            register_chassis(store, name, f"198.51.100.{11 + i}")
        self.source = _port(store, "src", "ch1", 2)
        for name in self.chassis[1:]:  # a VM on every chassis: each floods to every other one
            _port(store, f"vm-{name}", name, 2)
        pairs, groups = PortPairs(store, quota=-1), PortPairGroups(store, quota=-1)
        self.groups = []
        for f in range(functions):
            ports = [
                _port(store, f"f{f}-{side}", "ch2", 10 + 2 * f + k, f"f{f}")
                for k, side in enumerate(("in", "out"))
            ]
            params = {"correlation": "mpls", "weight": 1}
            pair = pairs.create(
                ADMIN, {"ingress": ports[0], "egress": ports[1], "service_function_parameters": params}
            )
            self.groups.append(str(groups.create(ADMIN, {"port_pairs": [pair["id"]]})["id"]))
        self.lists = itertools.chain.from_iterable(itertools.permutations(self.groups, n) for n in (1, 2, 3))
        self.dst = 1000

    def classifier(self) -> dict[str, Any]:
        self.dst += 1
        return {"ethertype": "IPv4", "protocol": "tcp", "logical_source_port": self.source,
                "destination_port_range_min": self.dst, "destination_port_range_max": self.dst}  # fmt: skip

    def background(self, count: int, bulk: int = 500) -> None:
        for start in range(0, count, bulk):
            n = min(bulk, count - start)
            fcs = self.fc.create_bulk(ADMIN, [self.classifier() for _ in range(n)])
            self.pc.create_bulk(
                ADMIN,
                [{"port_pair_groups": list(next(self.lists)), "flow_classifiers": [fc["id"]]} for fc in fcs],
            )

    def timed_path(self) -> list[Any]:
        """The bench's timed chain as four writes (each a callable)."""
        made: dict[str, str] = {}
        groups = list(next(self.lists))

        def post_fc() -> None:
            made["fc"] = str(self.fc.create(ADMIN, self.classifier())["id"])

        def post_chain() -> None:
            made["pc"] = str(
                self.pc.create(ADMIN, {"port_pair_groups": groups, "flow_classifiers": [made["fc"]]})["id"]
            )

        return [
            post_fc,
            post_chain,
            lambda: self.pc.delete(ADMIN, made["pc"]),
            lambda: self.fc.delete(ADMIN, made["fc"]),
        ]


def _report(lab: Lab, store: NorthboundStore) -> int:
    """The other chassis' reports of the write just made: those its concerns document names (every one
    but ch7 where the code writes none, as every agent reported every revision before)."""
    revision = store.revision()
    doc = store.get(CONCERNS, CONCERNS_ID) if CONCERNS else None
    if doc is not None and doc.mod_revision == revision:
        reporters = lab.chassis if doc.value.get(ALL_CHASSIS) else list(doc.value.get(schema.CHASSIS, []))
    else:
        reporters = lab.chassis
    reporters = [c for c in reporters if c != "ch7"]
    for name in reporters:
        report_applied(store, name, revision)
    return len(reporters)


def _follow_reports(store: NorthboundStore, cache: NbCache, compiler: ChassisCompiler) -> None:
    """What ch7 does with the reports: its cache and its binding loop read them; its compiler runs only
    while a chain of its waits for reports."""
    batch = store.watch(cache.revision, timeout=0)
    store.watch(cache.revision, timeout=0)
    cache._apply(batch)
    if compiler.waiting:
        with cache.taken() as (revision, objects, changed):
            compiler.compile(objects, changed, revision=revision, now=time.monotonic())


def _apply_plan(reconciler: Reconciler, compiler: ChassisCompiler) -> None:
    """What ch7's reconciler does with the compile before it sends anything: its plan (no flow was
    touched), recorded as a successful apply records it."""
    plan = reconciler._plan(compiler.state, set())
    assert plan.batch.size == 0 or not reconciler._groups, "ch7's switch would change"
    reconciler._groups = plan.groups


def _agent_of_ch7(store: NorthboundStore) -> tuple[NbCache, ChassisCompiler]:
    """ch7's NB cache (loaded) and compiler, as the code under test builds them."""
    try:
        cache = NbCache(store, lambda update: None, chassis="ch7")
    except TypeError:  # a code before the concerns document (main before session 19)
        cache = NbCache(store, lambda update: None)
    cache.load()
    try:
        compiler = ChassisCompiler("ch7", TUNNEL_OFPORT, concerns=cache.concerns)
    except (TypeError, AttributeError):
        compiler = ChassisCompiler("ch7", TUNNEL_OFPORT)
    return cache, compiler


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "nb.db")
        lab = Lab(store, args.functions, max(args.chassis, 7))
        began = time.perf_counter()
        lab.background(args.background)
        built = time.perf_counter() - began
        cache, compiler = _agent_of_ch7(store)
        with cache.taken() as (revision, objects, changed):
            compiler.compile(objects, changed, revision=revision, now=time.monotonic())
        flows_before = dict(compiler.state.flows)
        reconciler = Reconciler(cast(Any, None))  # its plan only: no switch
        _apply_plan(reconciler, compiler)
        spent = dict.fromkeys(STAGES, 0.0)
        writes = reports = 0
        for _ in range(args.writes // 4 or 1):
            for write in lab.timed_path():
                write()
                writes += 1
                t0 = time.thread_time()
                batch = store.watch(cache.revision, timeout=0)
                t1 = time.thread_time()
                store.watch(cache.revision, timeout=0)  # the binding loop follows the store too
                t2 = time.thread_time()
                cache._apply(batch)
                t3 = time.thread_time()
                with cache.taken() as (revision, objects, changed):
                    compiler.compile(objects, changed, revision=revision, now=time.monotonic())
                t4 = time.thread_time()
                _apply_plan(reconciler, compiler)
                t4b = time.thread_time()
                reports += _report(lab, store)
                t5 = time.thread_time()
                _follow_reports(store, cache, compiler)
                t6 = time.thread_time()
                for stage, took in zip(
                    STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4b - t4, t6 - t5), strict=True
                ):
                    spent[stage] += took
        assert dict(compiler.state.flows) == flows_before, "ch7's flows moved for writes not concerning it"
        store.close()
    per_write = {stage: round(1000 * s / writes, 3) for stage, s in spent.items()}
    return {"src": SRC, "background": args.background, "writes": writes, "ms_per_write": per_write,
            "total_ms_per_write": round(sum(per_write.values()), 3),
            "status_reports_per_write": round(reports / writes, 2), "chassis_count": len(lab.chassis),
            "ch7_flows": len(flows_before),
            "background_s": round(built, 1), "loadavg": os.getloadavg()[0]}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", help="the steerflow sources to measure (default: this tree's)")
    ap.add_argument("--background", type=int, default=10_000)
    ap.add_argument("--functions", type=int, default=24, help="ch2's functions (each in one group)")
    ap.add_argument("--writes", type=int, default=40)
    ap.add_argument("--chassis", type=int, default=20, help="chassis registered (others report writes)")
    ap.add_argument("--quick", action="store_true", help="500 background chains, 8 writes")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.quick:
        args.background, args.writes = 500, 8
    result = measure(args)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
