"""OVN side by side: a bulk port bind, a controller restart and controller memory, steerflow then OVN.

Both systems run on the same kind of lab (steerflow.lab: one network namespace per chassis with its own
ovsdb-server and userspace ovs-vswitchd, joined by a Linux bridge), one system at a time, each on a lab
of its own built the same way. OVN is Debian's (ovn-central, ovn-host): the NB and SB ovsdb-servers and
ovn-northd run in the root namespace, started by hand like the lab's OVS; one ovn-controller per
chassis speaks TCP to the SB over the underlay bridge, which gets an address in the root namespace
(with tx checksum offload off on it and on the root ends of the veths: the chassis' userspace datapath
reads frames from an AF_PACKET socket, where a locally made TCP segment's checksum is not filled in).

Per size (chassis x ports per chassis):

(a) bind: N ports created in one NB write (steerflow: one bulk `POST /v2.0/ports`; OVN: one `ovn-nbctl`
    transaction of `lsp-add`s), then their OVS interfaces plugged (one `ovs-vsctl` per chassis, all
    chassis at once); the clock stops when every port is bound (steerflow: `status` ACTIVE; OVN: `up`)
    and every chassis has applied the NB that says so (steerflow: `wait_applied`, what `?wait` and
    `steerflow wait` do; OVN: the same `ovn-nbctl --wait=hv`).
(b) restart: one chassis' controller stopped (SIGTERM) and started again with that state; the clock
    runs from the start to a trivial NB write (steerflow: a network rename with `?wait`; OVN:
    `ovn-nbctl --wait=hv sync`) being applied on every chassis, the restarted one included. The
    OpenFlow messages the restarted chassis' switch received meanwhile are counted (its
    `ofproto_recv_openflow` coverage counter).
(c) controller RSS per chassis (steerflow agent, ovn-controller) after (a), mean and max.

Every figure is printed steerflow / OVN. (d) steering: OVN 23.03 has no port-level steering (network
functions came with OVN 24.09+); its nearest feature, a logical router policy `reroute`, steers routed
traffic to one next-hop IP, not through an ordered chain of ports; not measured here.

    sudo .venv/bin/python bench/ovn_compare.py [--sizes 5x40,10x20] [--quick] [--json PATH] [--only ovn]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steerflow.client import RESOURCES
from steerflow.demo.procs import AgentProcess, start_agent
from steerflow.demo.scenario import DemoClient
from steerflow.demo.world import DemoPaths, DemoWorld
from steerflow.lab import ChassisHandle, Lab
from steerflow.lab.procs import kill_pids, memory_mb, owned_pid
from steerflow.lab.sh import run
from steerflow.model import schema
from steerflow.nbdb.status import wait_applied
from steerflow.nbdb.url import open_store

OVN_BINARIES = ("ovn-northd", "ovn-controller", "ovn-nbctl", "ovn-sbctl", "ovsdb-server", "ovsdb-tool")
OVN_SCHEMAS = Path("/usr/share/ovn")
SB_PORT = 6642
ROOT_IP = "198.51.100.254"  # the root namespace's address on the underlay bridge (OVN's SB listens there)
TIMEOUT = 300.0
COUNTER = "ofproto_recv_openflow"


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load() -> float:
    return os.getloadavg()[0]


@dataclass
class Figures:
    """One system at one size: seconds, messages and MB."""

    bind_s: float = 0.0
    restart_s: float = 0.0
    restart_msgs: int = 0
    rss_mean_mb: float = 0.0
    rss_max_mb: float = 0.0
    load: list[float] = field(default_factory=list)


def underlay_ip(i: int) -> str:
    return f"198.51.100.{11 + i}"


def mac(i: int) -> str:
    return f"0a:00:00:00:{i >> 8:02x}:{i & 255:02x}"


def tenant_ip(i: int) -> str:
    return f"10.77.{(i + 2) >> 8}.{(i + 2) & 255}"


def plug_all(chassis: list[ChassisHandle], ports: list[list[tuple[str, str, str]]]) -> None:
    """Every chassis plugs its ports (name, iface-id, MAC) as OVS internal interfaces, one `ovs-vsctl`
    each, all chassis at once (as hypervisors would)."""

    def plug(ch: ChassisHandle, mine: list[tuple[str, str, str]]) -> None:
        args: list[str] = []
        for name, iface, address in mine:
            args += ["--", "add-port", "br-int", name, "--", "set", "interface", name, "type=internal",
                     f"external_ids:iface-id={iface}", f"external_ids:attached-mac={address}"]  # fmt: skip
        ch.ovs_vsctl(*args[1:], wait=False)

    with ThreadPoolExecutor(len(chassis)) as pool:
        list(pool.map(plug, chassis, ports))


def openflow_received(ch: ChassisHandle) -> int:
    return int(ch.ovs_appctl("coverage/read-counter", COUNTER).strip())


def per_chassis(chassis: int, ports: int) -> list[list[int]]:
    return [list(range(c * ports, (c + 1) * ports)) for c in range(chassis)]


# --- steerflow -------------------------------------------------------------------------------------


class Steerflow:
    """steerflow's API process and one agent per chassis, on an embedded store."""

    name = "steerflow"

    def __init__(self, prefix: str, run_dir: Path) -> None:
        self.world = DemoWorld(DemoPaths.of(prefix, run_dir))
        self.client: DemoClient | None = None
        self.network = ""

    def start(self, chassis: int) -> list[ChassisHandle]:
        self.world.prepare()
        api = self.world.start_api()
        handles = [self.world.add_chassis(f"ch{i + 1}", underlay_ip(i)) for i in range(chassis)]
        self.client = DemoClient(api.endpoint)
        net = self.client.create(schema.NETWORK, {"name": "bench-net"})
        self.client.create(schema.SUBNET, {"network_id": net["id"], "cidr": "10.77.0.0/16", "ip_version": 4})
        self.network = str(net["id"])
        self._wait_applied()
        return handles

    def _wait_applied(self) -> None:
        store = open_store(self.world.paths.nb_url)
        try:
            result = wait_applied(store, store.revision(), TIMEOUT)
        finally:
            store.close()
        if not result.done:
            raise RuntimeError(f"not applied within {TIMEOUT:g}s by {result.lagging}")

    def bind(self, handles: list[ChassisHandle], layout: list[list[int]]) -> float:
        assert self.client is not None
        # one project per chassis: a project's port quota (500) would refuse 10 x 100 in one project
        bodies = [
            {"network_id": self.network, "name": f"p{i}", "device_id": f"vm{i}", "mac_address": mac(i),
             "project_id": f"bench{c}"}
            for c, mine in enumerate(layout)
            for i in mine
        ]  # fmt: skip
        start = time.perf_counter()
        res = RESOURCES[schema.PORT]
        reply = self.client._request("POST", res.path, json_body={res.plural: bodies}).json()
        ids = {p["name"]: p["id"] for p in reply[res.plural]}
        plug_all(handles, [[(f"sfp{i}", ids[f"p{i}"], mac(i)) for i in mine] for mine in layout])
        self._wait_active(set(ids.values()))
        self._wait_applied()
        return time.perf_counter() - start

    def _wait_active(self, ids: set[str]) -> None:
        assert self.client is not None
        deadline = time.monotonic() + TIMEOUT
        while True:
            ports = self.client.list(schema.PORT, network_id=self.network, fields=["id", "status"])
            if ids <= {p["id"] for p in ports if p["status"] == "ACTIVE"}:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"ports not ACTIVE within {TIMEOUT:g}s")
            time.sleep(0.02)

    def restart(self, handle: ChassisHandle) -> tuple[float, int]:
        assert self.client is not None
        old: AgentProcess = self.world.agents[handle.name]
        old.stop(signal.SIGTERM)
        before = openflow_received(handle)
        start = time.perf_counter()
        self.world.agents[handle.name] = start_agent(handle, self.world.paths.nb_url, old.log)
        res = RESOURCES[schema.NETWORK]
        self.client._request(
            "PUT", f"{res.path}/{self.network}", params={"wait": "120"},
            json_body={res.singular: {"name": f"renamed-{time.time():.0f}"}}, timeout=130,
        )  # fmt: skip
        took = time.perf_counter() - start
        return took, openflow_received(handle) - before

    def rss(self) -> list[float]:
        return [memory_mb(a.pid)[0] for a in self.world.agents.values()]

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.world.teardown()


# --- OVN -------------------------------------------------------------------------------------------


def ovn_missing() -> list[str]:
    missing = [b for b in OVN_BINARIES if shutil.which(b) is None]
    missing += [str(s) for s in (OVN_SCHEMAS / "ovn-nb.ovsschema", OVN_SCHEMAS / "ovn-sb.ovsschema")
                if not s.exists()]  # fmt: skip
    return missing


class Ovn:
    """OVN's NB and SB ovsdb-servers and ovn-northd in the root namespace, ovn-controller per chassis."""

    name = "OVN"

    def __init__(self, prefix: str, run_dir: Path) -> None:
        self.lab = Lab(run_dir / "lab", prefix)
        self.central = run_dir / "central"
        self.handles: list[ChassisHandle] = []

    @property
    def nb(self) -> str:
        return f"unix:{self.central / 'nb.sock'}"

    def nbctl(self, *args: str, timeout: float = TIMEOUT) -> str:
        argv = ["ovn-nbctl", f"--db={self.nb}", f"--timeout={timeout:.0f}", *args]
        return run(argv, timeout=timeout + 10).stdout.strip()

    def sbctl(self, *args: str) -> str:
        return run(["ovn-sbctl", f"--db=unix:{self.central / 'sb.sock'}", *args]).stdout.strip()

    def start(self, chassis: int) -> list[ChassisHandle]:
        self.lab.start()
        bridge = self.lab.names.underlay_bridge
        run(["ip", "addr", "add", f"{ROOT_IP}/24", "dev", bridge])
        run(["ethtool", "-K", bridge, "tx", "off"])
        self._start_central()
        for i in range(chassis):
            ch = self.lab.add_chassis(f"ch{i + 1}", underlay_ip(i), create_br_int=False)
            run(["ethtool", "-K", self.lab.names.chassis_uplink(ch.index)[0], "tx", "off"])
            self._configure(ch)
            self._start_controller(ch)
            self.handles.append(ch)
        self._wait_chassis(chassis)
        self.nbctl("--wait=hv", "ls-add", "sw0")
        return self.handles

    def _start_central(self) -> None:
        d = self.central
        d.mkdir(parents=True, exist_ok=True)
        for db, remotes in (("nb", [f"punix:{d / 'nb.sock'}"]),
                            ("sb", [f"punix:{d / 'sb.sock'}", f"ptcp:{SB_PORT}:{ROOT_IP}"])):  # fmt: skip
            run(["ovsdb-tool", "create", str(d / f"{db}.db"), str(OVN_SCHEMAS / f"ovn-{db}.ovsschema")])
            run(["ovsdb-server", str(d / f"{db}.db"), *[f"--remote={r}" for r in remotes],
                 f"--pidfile={d / f'{db}.pid'}", f"--unixctl={d / f'{db}.ctl'}",
                 f"--log-file={d / f'{db}.log'}", "--detach", "-vconsole:off"])  # fmt: skip
        run(["ovn-northd", f"--ovnnb-db={self.nb}", f"--ovnsb-db=unix:{d / 'sb.sock'}",
             f"--pidfile={d / 'northd.pid'}", f"--unixctl={d / 'northd.ctl'}",
             f"--log-file={d / 'northd.log'}", "--detach", "-vconsole:off"])  # fmt: skip

    def _configure(self, ch: ChassisHandle) -> None:
        ch.ovs_vsctl(
            "set", "Open_vSwitch", ".", f"external_ids:ovn-remote=tcp:{ROOT_IP}:{SB_PORT}",
            "external_ids:ovn-encap-type=geneve", f"external_ids:ovn-encap-ip={ch.underlay_ip}",
            "external_ids:ovn-bridge-datapath-type=netdev", wait=False,
        )  # fmt: skip

    def _start_controller(self, ch: ChassisHandle) -> None:
        d = ch.run_dir
        # its control socket goes to $OVN_RUNDIR (ovn-controller has no --unixctl)
        run(["ovn-controller", ch.db_socket, f"--pidfile={d / 'ovn-controller.pid'}",
             f"--log-file={d / 'ovn-controller.log'}", "--detach", "-vconsole:off"],
            netns=ch.netns, env={**ch.env, "OVN_RUNDIR": str(d)})  # fmt: skip

    def _wait_chassis(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.sbctl("--bare", "--columns=name", "list", "Chassis").split()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {count} chassis registered in the SB within 60s")
            time.sleep(0.1)
        for ch in self.handles:
            argv = ["ovs-vsctl", f"--db={ch.db_socket}", "br-exists", "br-int"]
            while ch.run(argv, check=False).returncode:
                time.sleep(0.1)

    def bind(self, handles: list[ChassisHandle], layout: list[list[int]]) -> float:
        create: list[str] = []
        for i in (i for mine in layout for i in mine):
            create += ["--", "lsp-add", "sw0", f"p{i}", "--", "lsp-set-addresses", f"p{i}",
                       f"{mac(i)} {tenant_ip(i)}"]  # fmt: skip
        waits: list[str] = []
        for i in (i for mine in layout for i in mine):
            waits += ["--", "wait-until", "Logical_Switch_Port", f"p{i}", "up=true"]
        start = time.perf_counter()
        self.nbctl(*create[1:])
        plug_all(handles, [[(f"sfp{i}", f"p{i}", mac(i)) for i in mine] for mine in layout])
        self.nbctl("--wait=hv", *waits[1:])
        return time.perf_counter() - start

    def restart(self, handle: ChassisHandle) -> tuple[float, int]:
        pid = owned_pid(handle.run_dir / "ovn-controller.pid")
        if pid is not None:
            kill_pids([pid])
        before = openflow_received(handle)
        start = time.perf_counter()
        self._start_controller(handle)
        self.nbctl("--wait=hv", "sync")
        took = time.perf_counter() - start
        return took, openflow_received(handle) - before

    def rss(self) -> list[float]:
        pids = [owned_pid(h.run_dir / "ovn-controller.pid") for h in self.handles]
        return [memory_mb(p)[0] for p in pids if p is not None]

    def stop(self) -> None:
        pids = [owned_pid(h.run_dir / "ovn-controller.pid") for h in self.handles]
        pids += [owned_pid(self.central / f"{n}.pid") for n in ("northd", "nb", "sb")]
        kill_pids([p for p in pids if p is not None])
        self.lab.teardown()
        shutil.rmtree(self.central.parent, ignore_errors=True)


# --- the run ---------------------------------------------------------------------------------------


System = Steerflow | Ovn


def measure(system: System, chassis: int, ports: int) -> Figures:
    figures = Figures()
    progress(f"{system.name} {chassis}x{ports}: starting {chassis} chassis (load {load():.1f})")
    try:
        handles = system.start(chassis)
        figures.load.append(load())
        progress(f"{system.name}: binding {chassis * ports} ports (load {load():.1f})")
        figures.bind_s = system.bind(handles, per_chassis(chassis, ports))
        progress(f"{system.name}: bound and applied everywhere in {figures.bind_s:.2f}s")
        rss = system.rss()
        figures.rss_mean_mb, figures.rss_max_mb = statistics.mean(rss), max(rss)
        time.sleep(1)  # let the last status writes settle before the restart
        figures.load.append(load())
        figures.restart_s, figures.restart_msgs = system.restart(handles[-1])
        progress(f"{system.name}: restart -> applied in {figures.restart_s:.2f}s, "
                 f"{figures.restart_msgs} OpenFlow messages")  # fmt: skip
        figures.load.append(load())
    finally:
        system.stop()
    return figures


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def report(size: str, sf: Figures, ovn: Figures) -> dict[str, float]:
    lines = (
        ("bind, s", sf.bind_s, ovn.bind_s, "bind"),
        ("restart -> applied, s", sf.restart_s, ovn.restart_s, "restart"),
        ("restart, OpenFlow messages", sf.restart_msgs, ovn.restart_msgs, "restart_msgs"),
        ("controller RSS mean, MB", sf.rss_mean_mb, ovn.rss_mean_mb, "rss_mean"),
        ("controller RSS max, MB", sf.rss_max_mb, ovn.rss_max_mb, "rss_max"),
    )
    print(f"\n{size}: steerflow / OVN (load during steerflow {_loads(sf)}, OVN {_loads(ovn)})")
    ratios: dict[str, float] = {}
    for label, a, b, key in lines:
        ratios[f"{size}.{key}"] = ratio(a, b)
        print(f"  {label:<28} {a:>9.2f} {b:>9.2f}   {ratio(a, b):.2f}x")
    return ratios


def _loads(f: Figures) -> str:
    return "/".join(f"{x:.1f}" for x in f.load)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        c, p = part.lower().split("x")
        sizes.append((int(c), int(p)))
    return sizes


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5x40,10x20", help="chassis x ports per chassis, comma-separated")
    ap.add_argument("--quick", action="store_true", help="one small size (2x5): a smoke run")
    ap.add_argument("--json", type=Path, help="write the figures and ratios there")
    ap.add_argument("--only", choices=("steerflow", "ovn"), help="measure one system only")
    ap.add_argument("--prefix", default="sfbovn", help="lab prefix (interface and namespace names)")
    return ap.parse_args(None if argv is None else list(argv))


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("cannot run: the lab needs root (network namespaces, OVS daemons)", file=sys.stderr)
        return 2
    missing = ovn_missing() if args.only != "steerflow" else []
    if missing:
        print(f"cannot run: OVN is missing ({', '.join(missing)}); apt-get install ovn-central ovn-host",
              file=sys.stderr)  # fmt: skip
        return 2
    sizes = [(2, 5)] if args.quick else parse_sizes(args.sizes)
    makers: list[tuple[str, Callable[[], System]]] = [
        ("steerflow", lambda: Steerflow(args.prefix, Path(f"/tmp/sfb-{args.prefix}-s"))),
        ("ovn", lambda: Ovn(args.prefix, Path(f"/tmp/sfb-{args.prefix}-o"))),
    ]
    out: dict[str, Any] = {"figures": {}, "ratios": {}, "load_start": load()}
    for chassis, ports in sizes:
        size = f"{chassis}x{ports}"
        got = {name: measure(make(), chassis, ports) for name, make in makers if args.only in (None, name)}
        for name, figures in got.items():
            out["figures"][f"{size}.{name}"] = figures.__dict__
        if len(got) == 2:
            out["ratios"].update(report(size, got["steerflow"], got["ovn"]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
