"""Chain dataplane: TCP throughput through a 1-function chain, vs static flows and across encapsulations.

Two labs are built in the same run, each of 2 chassis with the client VM on ch1 and the server VM and
the functions on ch2. Every function is a kernel pass-through (the lab's emulator stopped; a tc `mirred`
redirect from the ingress NIC to the egress NIC), so the forwarder, not the function, is what is timed:

- `fwd`: SFC-unaware, redirects IPv4 TCP;
- `mpls`: MPLS-aware, redirects MPLS frames unchanged (it returns the label it was given);
- `nsh`: NSH-aware, redirects NSH frames unchanged (SI not decremented, which steerflow accepts).

A function only forwards frames of the type its mode expects, and after every stream the bench checks
that its filter redirected at least as many bytes as the receiver counted: a ratio cannot silently
measure a path that skips the function or a header that never reached it. With `--bridging` the
controller lab's functions are bumps in the wire instead, as a transparent firewall or an IPS is: they
redirect every frame, whatever its type (ARP, ND, broadcasts, multicast), both ways (ingress -> egress
and egress -> ingress), so the run also shows that floods never come back through them (steerflow's
service ports, docs/sfc.md). The static lab keeps the typed filters: its hand-written L2 floods to
every port, so a function bridging everything there would loop.

- the controller lab: the REST API on an embedded store and a `steerflow agent` per chassis; one network,
  the three functions, each a port pair in its own group;
- the static lab: no controller; the same three functions on ch2 (same ports on the switch), `fwd` wired
  in with hand-written flows (static L2 over the Geneve tunnel, plus two flows steering the client's TCP
  through it): the same tunnel crossing and function placement as the chain's.

A chain is created through the API with `?wait` (classifier: TCP from the client to the server's port
5201), measured, then deleted. Throughput: one TCP stream for `--seconds`, bytes counted by the receiver
(as fast as possible, or paced to `--pace` Gbit/s). Every case runs once per round, `--repeat` rounds in
ABBA order, the two sides of each compared pair next to each other; each ratio is printed as the ratio
of medians, the median of per-round ratios, and the ratio of forwarding CPU per GB (both chassis'
ovs-vswitchd). Per case the bench also reports each chassis' datapath passes per packet
(`dpif-netdev/pmd-stats-show`: 1 + recirculations), and with `--dump DIR` writes every chassis' datapath
flows (`dpctl/dump-flows -m`) of the first round to DIR. See docs/benchmarks.md.

    sudo .venv/bin/python bench/chain_dataplane.py [--seconds 5] [--repeat 3] [--pace GBPS] [--dump DIR]
        [--bridging]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import figures

from steerflow.demo.plug import plug_function, plug_vm
from steerflow.demo.scenario import DemoClient
from steerflow.demo.world import DemoPaths, DemoWorld
from steerflow.lab import ChassisHandle, FunctionHandle, Lab, VmHandle
from steerflow.lab.chassis import TUNNEL_OFPORT
from steerflow.lab.procs import cpu_seconds
from steerflow.lab.sh import in_netns, run
from steerflow.lab.static_flows import DEFAULT_TUNNEL_KEY, install_static_l2
from steerflow.model import schema

PORT = 5201
CHUNK = 1 << 16
WAIT = 25.0
SUBNET = "203.0.113.0/24"
ADDRESSES = {"client": ".10", "server": ".20", "fwd": ".31", "mpls": ".51", "nsh": ".61"}
MACS = {"client": "fa:16:3e:00:00:10", "server": "fa:16:3e:00:00:20"}  # the static lab's
MODES = {"fwd": "unaware", "mpls": "mpls", "nsh": "nsh"}
STATIC = "static flows fwd (no controller)"
PLAIN = "no chain (controller L2 only)"
CASES = {  # case -> (function, chain correlation)
    "chain fwd MPLS (unaware, proxy)": ("fwd", "mpls"),
    "chain fwd NSH (unaware, proxy)": ("fwd", "nsh"),
    "chain mpls (MPLS-aware fwd)": ("mpls", "mpls"),
    "chain nsh (NSH-aware fwd)": ("nsh", "nsh"),
}

# Run order: the two sides of each compared pair are neighbours, so they see the same load.
ORDER = (STATIC, *list(CASES)[0::2], PLAIN, *list(CASES)[1::2])


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- the TCP sink and source, run in the VMs' namespaces as `chain_dataplane.py sink|source` ----------


def sink(bind: str, seconds: float) -> None:
    """Accept one connection; print the bytes received and the seconds from first byte to EOF."""
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((bind, PORT))
        srv.listen(1)
        srv.settimeout(seconds + 20)
        print("ready", flush=True)
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(seconds + 20)
            total, first = 0, 0.0
            buf = bytearray(1 << 20)
            while (n := conn.recv_into(buf)) > 0:
                first = first or time.perf_counter()
                total += n
            print(total, time.perf_counter() - first, flush=True)


def source(dst: str, seconds: float, gbps: float) -> None:
    """Send for `seconds`, as fast as possible or paced to `gbps` (> 0)."""
    data = b"\xa5" * CHUNK
    with socket.create_connection((dst, PORT), timeout=10) as conn:
        start = time.perf_counter()
        end, sent = start + seconds, 0
        while (now := time.perf_counter()) < end:
            if gbps > 0 and (due := start + sent * 8 / (gbps * 1e9)) > now:
                time.sleep(due - now)
            conn.sendall(data)
            sent += CHUNK


def here(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def throughput(client: VmHandle, server: VmHandle, seconds: float, pace: float = 0) -> tuple[float, int]:
    """One TCP stream client -> server for `seconds` (paced to `pace` Gbit/s if > 0): (Gbit/s, bytes) as
    the receiver counted them."""
    argv = in_netns(server.netns, here("sink", server.ipv4, str(seconds)))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True) as rx:
        try:
            assert rx.stdout is not None
            if rx.stdout.readline().strip() != "ready":
                raise RuntimeError("the TCP sink did not start")
            send = here("source", server.ipv4, str(seconds), str(pace))
            subprocess.run(in_netns(client.netns, send), check=True, timeout=seconds + 30)
            total, elapsed = rx.stdout.readline().split()
            rx.wait(timeout=30)
        finally:
            if rx.poll() is None:
                rx.kill()
    return int(total) * 8 / float(elapsed) / 1e9, int(total)


# ---- one measured stream, with the datapath's view of it --------------------------------------------------


@dataclass(frozen=True)
class Sample:
    gbps: float
    passes: dict[str, float]  # chassis -> datapath passes per packet (1 + recirculations)
    cpu: dict[str, float]  # process group -> CPU seconds per GB the server received
    load: float  # the machine's 1-minute load average right after the stream


@dataclass(frozen=True)
class Route:
    """What one case streams through: the VMs, the chassis to watch, the function that must see it all."""

    client: VmHandle
    server: VmHandle
    chassis: Sequence[ChassisHandle]
    function: FunctionHandle | None = None
    controller: Sequence[int] = ()  # pids of the API and the agents

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each chassis' ovs-vswitchd and by the controller's processes."""
        groups = {f"ovs {ch.name}": [ch.pids()["ovs-vswitchd"]] for ch in self.chassis}
        if self.controller:
            groups["controller"] = list(self.controller)
        return {name: sum(cpu_seconds(p) for p in pids if p is not None) for name, pids in groups.items()}


def stream(route: Route, seconds: float, dump: Path | None, pace: float = 0) -> Sample:
    for ch in route.chassis:
        ch.ovs_appctl("dpif-netdev/pmd-stats-clear")
    before = redirected(route.function)[1] if route.function else 0
    cpu_before = route.cpu()
    gbps, received = throughput(route.client, route.server, seconds, pace)
    cpu = {k: (v - cpu_before[k]) / (received / 1e9) for k, v in route.cpu().items()}
    passes = {ch.name: datapath_passes(ch) for ch in route.chassis}
    if route.function is not None:
        through = redirected(route.function)[1] - before
        if through < received:  # frames carry headers: everything received must have crossed it
            raise RuntimeError(f"{route.function.name} redirected {through} bytes, the server got {received}")
    if dump is not None:
        dump.parent.mkdir(parents=True, exist_ok=True)
        for ch in route.chassis:
            Path(f"{dump}-{ch.name}.txt").write_text(ch.ovs_appctl("dpctl/dump-flows", "-m"))
    return Sample(gbps, passes, cpu, os.getloadavg()[0])


def datapath_passes(ch: ChassisHandle) -> float:
    """Average datapath passes per packet since the last pmd-stats-clear (1.0: no recirculation)."""
    found = re.search(r"datapath passes per packet: ([\d.]+)", ch.ovs_appctl("dpif-netdev/pmd-stats-show"))
    return float(found.group(1)) if found else float("nan")


# ---- the functions ------------------------------------------------------------------------------------

# What each function's kernel pass-through redirects, by ethertype: an unaware function gets plain IPv4
# (TCP only, so that flooded ARP and ND never come back out of its egress port), an MPLS-aware one MPLS
# frames, an NSH-aware one NSH frames. A frame of any other type is not redirected and dies in the
# function's namespace, so traffic only flows if the header the mode expects really reached the function.
TC_MATCH = {
    "unaware": ["protocol", "ip", "u32", "match", "ip", "protocol", "6", "0xff"],
    "mpls": ["protocol", "mpls_uc", "u32", "match", "u32", "0", "0"],  # u32: cls_matchall may be absent
    "nsh": ["protocol", "0x894f", "u32", "match", "u32", "0", "0"],
}


EVERYTHING = ["protocol", "all", "u32", "match", "u32", "0", "0"]  # a bridging function's filter


def kernel_passthrough(fn: FunctionHandle, mode: str, *, bridging: bool = False) -> None:
    """Replace the emulator by a tc `mirred` redirect from the ingress NIC to the egress NIC: every frame
    of the mode's type leaves unchanged at kernel speed (an aware function returning the MPLS label as
    is, or the NSH header without decrementing SI, which steerflow accepts). `bridging`: every frame of
    any type, and the egress NIC's frames back out of the ingress NIC too (a bump in the wire)."""
    fn.stop()
    ns, nic_in, nic_out = fn.netns, fn.ingress.nic, fn.egress.nic
    ways = [(nic_in, nic_out), (nic_out, nic_in)] if bridging else [(nic_in, nic_out)]
    for source, target in ways:
        run(["tc", "qdisc", "add", "dev", source, "ingress"], netns=ns)
        redirect = ["action", "mirred", "egress", "redirect", "dev", target]
        match = EVERYTHING if bridging else TC_MATCH[mode]
        run(["tc", "filter", "add", "dev", source, "parent", "ffff:", *match, *redirect], netns=ns)


def redirected(fn: FunctionHandle) -> tuple[int, int]:
    """(packets, bytes) the function's tc filter has redirected so far."""
    out = run(["tc", "-s", "-j", "filter", "show", "dev", fn.ingress.nic, "ingress"], netns=fn.netns).stdout
    packets = octets = 0
    for entry in json.loads(out):
        for action in entry.get("options", {}).get("actions", []):
            if action.get("kind") == "mirred":
                packets += int(action["stats"]["packets"])
                octets += int(action["stats"]["bytes"])
    return packets, octets


def ip(name: str, net: str = "203.0.113") -> str:
    return net + ADDRESSES[name]


# ---- the controller lab -----------------------------------------------------------------------------


@dataclass
class ControllerLab:
    world: DemoWorld
    bridging: bool = False  # the functions are bumps in the wire (`kernel_passthrough`)
    client: DemoClient | None = None
    ports: dict[str, dict[str, Any]] = field(default_factory=dict)
    vms: dict[str, VmHandle] = field(default_factory=dict)
    functions: dict[str, FunctionHandle] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    classifier: str = ""

    def build(self) -> None:
        api = self.world.start_api()
        self.client = c = DemoClient(api.endpoint)
        self.world.add_chassis("ch1", "198.51.100.11")
        self.world.add_chassis("ch2", "198.51.100.12")
        net = c.create(schema.NETWORK, {"name": "bench-net"})
        sub = c.create(schema.SUBNET, {"network_id": net["id"], "cidr": SUBNET, "ip_version": 4})
        for name in ADDRESSES:
            sides = ("",) if name in ("client", "server") else ("-in", "-out")
            for n, side in enumerate(sides):
                addr = ip(name) if n == 0 else ip(name)[:-1] + "2"
                fixed = [{"subnet_id": sub["id"], "ip_address": addr}]
                body = {"name": name + side, "network_id": net["id"], "device_id": name, "fixed_ips": fixed}
                self.ports[name + side] = c.create(schema.PORT, body)
        lab = self.world.lab
        self.vms = {n: plug_vm(lab, ch, n, self.ports[n]) for n, ch in (("client", "ch1"), ("server", "ch2"))}
        for name in MODES:
            fn = plug_function(lab, "ch2", name, self.ports[f"{name}-in"], self.ports[f"{name}-out"], add=0)
            self.functions[name] = fn
        self.wait_bound()
        lab.warm_underlay()
        self.make_groups()
        # after its port pair exists: a bridging function on a port that is not yet a service port
        # would bridge floods back into the network
        for name, mode in MODES.items():
            kernel_passthrough(self.functions[name], mode, bridging=self.bridging)

    def make_groups(self) -> None:
        c = self._c()
        for name, mode in MODES.items():
            params = {"correlation": None if mode == "unaware" else mode, "weight": 1}
            ingress, egress = self.ports[f"{name}-in"]["id"], self.ports[f"{name}-out"]["id"]
            body = {"name": name, "ingress": ingress, "egress": egress, "service_function_parameters": params}
            pair = c.create(schema.PORT_PAIR, body)
            self.groups[name], _ = c.create_applied(
                schema.PORT_PAIR_GROUP, {"name": name, "port_pairs": [pair["id"]]}
            )
        fc = {"ethertype": "IPv4", "protocol": "tcp", "logical_source_port": self.ports["client"]["id"],
              "destination_port_range_min": PORT, "destination_port_range_max": PORT}  # fmt: skip
        self.classifier = c.create(schema.FLOW_CLASSIFIER, fc)["id"]
        self.vms["client"].wait_ping(self.vms["server"].ipv4)

    def wait_bound(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = {p["id"] for p in self.ports.values()}
        while pending:
            pending = {i for i in pending if self._c().get(schema.PORT, i)["status"] != "ACTIVE"}
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"ports not bound after {timeout}s: {sorted(pending)}")
            time.sleep(0.05)

    def route(self, function: str | None = None) -> Route:
        chassis = list(self.world.lab.chassis.values())
        fn = self.functions[function] if function else None
        world = self.world
        controller = [p.pid for p in (world.api, *world.agents.values()) if p is not None]
        return Route(self.vms["client"], self.vms["server"], chassis, fn, controller)

    def measure(self, function: str, encap: str, seconds: float, dump: Path | None, pace: float) -> Sample:
        """Create the chain through `function` (waiting until applied), measure, delete it (applied)."""
        c = self._c()
        body = {"port_pair_groups": [self.groups[function]["id"]], "flow_classifiers": [self.classifier],
                "chain_parameters": {"correlation": encap}}  # fmt: skip
        chain, applied = c.create_applied(schema.PORT_CHAIN, body)
        if not applied.done:
            raise RuntimeError(f"chain not applied: {applied.lagging}")
        try:
            return stream(self.route(function), seconds, dump, pace)
        finally:
            c._request("DELETE", f"/v2.0/sfc/port_chains/{chain['id']}", params={"wait": f"{WAIT:g}"})

    def _c(self) -> DemoClient:
        assert self.client is not None
        return self.client


# ---- the static lab ---------------------------------------------------------------------------------


def build_static(lab: Lab) -> Route:
    """Client on ch1, server and the three functions on ch2; static L2 plus the client's TCP to PORT
    through `fwd` (the other two only make ch2's switch poll as many ports as the controller lab's)."""
    lab.add_chassis("ch1", "198.51.100.21")
    ch2 = lab.add_chassis("ch2", "198.51.100.22")
    client = lab.add_vm("ch1", "client", MACS["client"], f"{ip('client')}/24")
    server = lab.add_vm("ch2", "server", MACS["server"], f"{ip('server')}/24")
    functions = {}
    for name, mode in MODES.items():
        host = ip(name).rsplit(".", 1)[1]
        mac_in, mac_out = f"fa:16:3e:00:01:{host}", f"fa:16:3e:00:02:{host}"
        fn = lab.add_function("ch2", name, mac_in, f"{ip(name)}/24", mac_out, f"{ip(name)[:-1]}2/24", add=0)
        kernel_passthrough(fn, mode)
        functions[name] = fn
    fwd = functions["fwd"]
    install_static_l2(lab)
    tunnel = f"in_port={TUNNEL_OFPORT},tun_id={DEFAULT_TUNNEL_KEY}"
    steer = f"priority=30,{tunnel},tcp,dl_dst={server.mac},tp_dst={PORT}"
    ch2.add_flows([f"{steer},actions=output:{fwd.ingress.ofport}",
                   f"priority=30,in_port={fwd.egress.ofport},actions=output:{server.ofport}"])  # fmt: skip
    lab.warm_underlay()
    client.wait_ping(server.ipv4)
    return Route(client, server, list(lab.chassis.values()), fwd)


# ---- the run ----------------------------------------------------------------------------------------

Case = Callable[[Path | None], Sample]


def run_cases(cases: dict[str, Case], repeat: int, dump: Path | None) -> dict[str, list[Sample]]:
    """Every case once per round; odd rounds run the cases in reverse order (ABBA), so that a load that
    drifts during the run weighs on every case alike."""
    results: dict[str, list[Sample]] = {name: [] for name in cases}
    for r in range(1, repeat + 1):
        order = list(cases) if r % 2 else list(reversed(cases))
        for name in order:
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            sample = cases[name](dump / slug if dump is not None and r == 1 else None)
            results[name].append(sample)
            passes = ", ".join(f"{ch} {p:.2f}" for ch, p in sample.passes.items())
            cpu = ", ".join(f"{k} {v:.2f}" for k, v in sample.cpu.items())
            progress(f"run {r}/{repeat} {name:<34}: {sample.gbps:6.3f} Gbit/s  (passes/packet: {passes}; "
                     f"CPU s/GB: {cpu})")  # fmt: skip
    return results


def forwarding_cpu(sample: Sample) -> float:
    """CPU seconds per GB of both chassis' ovs-vswitchd (the controller's processes left out)."""
    return sum(v for k, v in sample.cpu.items() if k.startswith("ovs "))


def median_cpu(samples: list[Sample]) -> float:
    return statistics.median(forwarding_cpu(s) for s in samples)


# (numerator, denominator, target): the targets of the SFC issue
COMPARISONS = (
    (PLAIN, STATIC, ""),
    ("chain fwd MPLS (unaware, proxy)", STATIC, ">= 0.95x"),
    ("chain fwd NSH (unaware, proxy)", STATIC, ""),
    ("chain mpls (MPLS-aware fwd)", "chain fwd MPLS (unaware, proxy)", "cost <= 5%"),
    ("chain nsh (NSH-aware fwd)", "chain fwd NSH (unaware, proxy)", "cost <= 5%"),
)


def report(results: dict[str, list[Sample]]) -> dict[str, float]:
    """Print the table; the ratios (median of per-round pairs), for `--json`."""
    ratios: dict[str, float] = {}
    for name, samples in results.items():
        runs = ", ".join(f"{s.gbps:.3f}" for s in samples)
        gbps = statistics.median(s.gbps for s in samples)
        print(f"{name:<34}: median {gbps:6.3f} Gbit/s  (runs: {runs})")
        passes = ", ".join(
            f"{k} {statistics.median(s.passes[k] for s in samples):.2f}" for k in samples[0].passes
        )
        cpu = ", ".join(f"{k} {statistics.median(s.cpu[k] for s in samples):.2f}" for k in samples[0].cpu)
        print(f"{'':<34}  datapath passes/packet: {passes}; CPU s/GB: {cpu}")
    print("ratios: throughput (median of medians | median of per-round pairs), forwarding CPU per GB")
    for num, den, target in COMPARISONS:
        a, b = results[num], results[den]
        medians = statistics.median(s.gbps for s in a) / statistics.median(s.gbps for s in b)
        paired = statistics.median(x.gbps / y.gbps for x, y in zip(a, b, strict=True))
        cost = median_cpu(a) / median_cpu(b)
        label = f"{num.split(' (')[0]} / {den.split(' (')[0]}"
        note = f"  (target {target})" if target else ""
        print(f"  {label:<40}: {medians:.3f}x | {paired:.3f}x, CPU/GB {cost - 1:+.1%}{note}")
        ratios[f"{label} throughput"] = paired
        ratios[f"{label} CPU/GB"] = cost
    loads = [s.load for samples in results.values() for s in samples]
    print(f"load average (1 min) after each stream: {min(loads):.2f} to {max(loads):.2f}")
    return ratios


def write_json(path: Path | None, results: dict[str, list[Sample]], ratios: dict[str, float]) -> None:
    figs = {f"{name}_gbps": statistics.median(s.gbps for s in samples) for name, samples in results.items()}
    runs = {name: [s.gbps for s in samples] for name, samples in results.items()}
    loads = [s.load for samples in results.values() for s in samples]
    figures.write(path, figs, ratios, runs_gbps=runs, load_average=[min(loads), max(loads)])


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role")
    s = sub.add_parser("sink")
    s.add_argument("bind")
    s.add_argument("seconds", type=float)
    s = sub.add_parser("source")
    s.add_argument("dst")
    s.add_argument("seconds", type=float)
    s.add_argument("gbps", type=float)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each TCP stream (default 5)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of every case (default 3)")
    ap.add_argument("--dump", type=Path, help="write each chassis' datapath flows of the first run here")
    ap.add_argument("--pace", type=float, default=0.0,
                    help="send at this many Gbit/s instead of as fast as possible: CPU per GB is then "
                    "compared at the same packet rate (default 0: unpaced)")  # fmt: skip
    ap.add_argument("--bridging", action="store_true",
                    help="the controller lab's functions forward every frame both ways, like a "
                    "transparent firewall (default: each forwards only what its mode expects)")  # fmt: skip
    figures.add_json_option(ap)
    return ap.parse_args()


def measure_all(ctl: ControllerLab, static: Route, args: argparse.Namespace) -> None:
    s, p = args.seconds, args.pace
    every: dict[str, Case] = {
        STATIC: lambda dump: stream(static, s, dump, p),
        PLAIN: lambda dump: stream(ctl.route(), s, dump, p),
    }
    for name, (fn, encap) in CASES.items():
        every[name] = lambda dump, fn=fn, encap=encap: ctl.measure(fn, encap, s, dump, p)  # type: ignore[misc]
    cases = {name: every[name] for name in ORDER}
    progress(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = run_cases(cases, args.repeat, args.dump)
    write_json(args.json, results, report(results))


def main() -> int:
    args = parse_args()
    if args.role == "sink":
        sink(args.bind, args.seconds)
        return 0
    if args.role == "source":
        source(args.dst, args.seconds, args.gbps)
        return 0
    if os.geteuid() != 0:
        print("cannot run: the lab needs root (network namespaces, OVS daemons)", file=sys.stderr)
        return 2
    world = DemoWorld(DemoPaths.of("sfbdp", Path("/tmp/steerflow-bench-dp")))
    static_lab = Lab(Path("/tmp/steerflow-bench-dp-static"), "sfbst")
    try:
        world.prepare()
        ctl = ControllerLab(world, bridging=args.bridging)
        ctl.build()
        kind = "bridging" if args.bridging else "typed"
        progress(f"controller lab ready (2 chassis, agents, 3 {kind} functions)")
        static = build_static(static_lab)
        progress("static lab ready (2 chassis, hand-written flows, 3 functions)")
        measure_all(ctl, static, args)
    finally:
        try:
            static_lab.teardown()
        finally:  # a Ctrl-C deferred through the first teardown is raised at its end: not before this one
            world.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
