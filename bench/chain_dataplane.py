"""Chain dataplane: TCP throughput through a 1-function chain, vs static flows and across encapsulations.

Two labs are built in the same run, each of 2 chassis with the client VM on ch1 and the server VM and
the function(s) on ch2:

- the controller lab: the REST API on an embedded store and a `steerflow agent` per chassis; one
  network, and four functions, each a port pair in its own group:
  - `fwd`: a kernel pass-through (sfemu stopped; a tc `mirred` redirect from the ingress NIC to the
    egress NIC for TCP), SFC-unaware: as fast as a function can be, so the forwarding is what is timed;
  - `emu`, `mpls`, `nsh`: the Python emulator (sfemu, `--add 0` so payloads are unchanged) in mode
    unaware, mpls and nsh;
- the static lab: no controller; the same `fwd` function on ch2 wired in with hand-written flows
  (static L2 over the Geneve tunnel, plus two flows steering the client's TCP through the function).

A chain is created through the API with `?wait` (classifier: TCP from the client to the server's port
5201), measured, then deleted. Throughput: one TCP stream for `--seconds`, bytes counted by the
receiver; each case (and the controller lab's plain L2 path, no chain) is run `--repeat` times,
interleaved, and the median is reported. Ratios:

- chain(fwd, MPLS chain, unaware) / static(fwd): the controller's pipeline vs hand-written flows;
- chain(mpls, MPLS-aware) / chain(emu, unaware) and chain(nsh, NSH-aware) / chain(emu, unaware): an
  aware function must parse the header, so both sides use sfemu (Python: it is the bottleneck of
  both, so these ratios say little about OVS; they do show that carrying the header costs nothing
  the emulator notices).

    sudo .venv/bin/python bench/chain_dataplane.py [--seconds 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steerflow.demo.plug import plug_function, plug_vm
from steerflow.demo.scenario import DemoClient
from steerflow.demo.world import DemoPaths, DemoWorld
from steerflow.lab import FunctionHandle, Lab, VmHandle
from steerflow.lab.chassis import TUNNEL_OFPORT
from steerflow.lab.sh import in_netns, run
from steerflow.lab.static_flows import DEFAULT_TUNNEL_KEY, install_static_l2

PORT = 5201
CHUNK = 1 << 16
WAIT = 25.0
SUBNET = "203.0.113.0/24"
ADDRESSES = {"client": ".10", "server": ".20", "fwd": ".31", "emu": ".41", "mpls": ".51", "nsh": ".61"}
MODES = {"fwd": "unaware", "emu": "unaware", "mpls": "mpls", "nsh": "nsh"}
CASES = {  # case -> (function, chain correlation)
    "chain fwd (MPLS chain, unaware)": ("fwd", "mpls"),
    "chain emu (unaware, header-free)": ("emu", "mpls"),
    "chain mpls (MPLS-aware sfemu)": ("mpls", "mpls"),
    "chain nsh (NSH-aware sfemu)": ("nsh", "nsh"),
}


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


def source(dst: str, seconds: float) -> None:
    data = b"\xa5" * CHUNK
    with socket.create_connection((dst, PORT), timeout=10) as conn:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            conn.sendall(data)


def here(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def throughput(client: VmHandle, server: VmHandle, seconds: float) -> float:
    """One TCP stream client -> server for `seconds`; Gbit/s as the receiver counted it."""
    argv = in_netns(server.netns, here("sink", server.ipv4, str(seconds)))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True) as rx:
        try:
            assert rx.stdout is not None
            if rx.stdout.readline().strip() != "ready":
                raise RuntimeError("the TCP sink did not start")
            subprocess.run(in_netns(client.netns, here("source", server.ipv4, str(seconds))), check=True,
                           timeout=seconds + 30)  # fmt: skip
            total, elapsed = rx.stdout.readline().split()
            rx.wait(timeout=30)
        finally:
            if rx.poll() is None:
                rx.kill()
    return int(total) * 8 / float(elapsed) / 1e9


# ---- the functions ------------------------------------------------------------------------------------


def kernel_passthrough(fn: FunctionHandle) -> None:
    """Replace the emulator by a tc redirect of TCP from the ingress NIC to the egress NIC (unaware)."""
    fn.stop()
    ns, nic_in, nic_out = fn.netns, fn.ingress.nic, fn.egress.nic
    run(["tc", "qdisc", "add", "dev", nic_in, "ingress"], netns=ns)
    tcp = ["protocol", "ip", "u32", "match", "ip", "protocol", "6", "0xff"]
    redirect = ["action", "mirred", "egress", "redirect", "dev", nic_out]
    run(["tc", "filter", "add", "dev", nic_in, "parent", "ffff:", *tcp, *redirect], netns=ns)


def ip(name: str, net: str = "203.0.113") -> str:
    return net + ADDRESSES[name]


# ---- the controller lab -----------------------------------------------------------------------------


@dataclass
class ControllerLab:
    world: DemoWorld
    client: DemoClient | None = None
    ports: dict[str, dict[str, Any]] = field(default_factory=dict)
    vms: dict[str, VmHandle] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    classifier: str = ""

    def build(self) -> None:
        api = self.world.start_api()
        self.client = c = DemoClient(api.endpoint)
        self.world.add_chassis("ch1", "198.51.100.11")
        self.world.add_chassis("ch2", "198.51.100.12")
        net = c.create("network", {"name": "bench-net"})
        sub = c.create("subnet", {"network_id": net["id"], "cidr": SUBNET, "ip_version": 4})
        for name in ADDRESSES:
            sides = ("",) if name in ("client", "server") else ("-in", "-out")
            for n, side in enumerate(sides):
                addr = ip(name) if n == 0 else ip(name)[:-1] + "2"
                fixed = [{"subnet_id": sub["id"], "ip_address": addr}]
                body = {"name": name + side, "network_id": net["id"], "device_id": name, "fixed_ips": fixed}
                self.ports[name + side] = c.create("port", body)
        lab = self.world.lab
        self.vms = {n: plug_vm(lab, ch, n, self.ports[n]) for n, ch in (("client", "ch1"), ("server", "ch2"))}
        for name, mode in MODES.items():
            fn = plug_function(
                lab, "ch2", name, self.ports[f"{name}-in"], self.ports[f"{name}-out"], mode=mode, add=0
            )
            if name == "fwd":
                kernel_passthrough(fn)
        self.wait_bound()
        lab.warm_underlay()
        self.make_groups()

    def make_groups(self) -> None:
        c = self._c()
        for name, mode in MODES.items():
            params = {"correlation": None if mode == "unaware" else mode, "weight": 1}
            ingress, egress = self.ports[f"{name}-in"]["id"], self.ports[f"{name}-out"]["id"]
            body = {"name": name, "ingress": ingress, "egress": egress, "service_function_parameters": params}
            pair = c.create("port_pair", body)
            self.groups[name], _ = c.create_applied(
                "port_pair_group", {"name": name, "port_pairs": [pair["id"]]}
            )
        fc = {"ethertype": "IPv4", "protocol": "tcp", "logical_source_port": self.ports["client"]["id"],
              "destination_port_range_min": PORT, "destination_port_range_max": PORT}  # fmt: skip
        self.classifier = c.create("flow_classifier", fc)["id"]
        self.vms["client"].wait_ping(self.vms["server"].ipv4)

    def wait_bound(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = {p["id"] for p in self.ports.values()}
        while pending:
            pending = {i for i in pending if self._c().get("port", i)["status"] != "ACTIVE"}
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"ports not bound after {timeout}s: {sorted(pending)}")
            time.sleep(0.05)

    def measure(self, function: str, encap: str, seconds: float) -> float:
        """Create the chain through `function` (waiting until applied), measure, delete it (applied)."""
        c = self._c()
        body = {"port_pair_groups": [self.groups[function]["id"]], "flow_classifiers": [self.classifier],
                "chain_parameters": {"correlation": encap}}  # fmt: skip
        chain, applied = c.create_applied("port_chain", body)
        if not applied.done:
            raise RuntimeError(f"chain not applied: {applied.lagging}")
        try:
            return throughput(self.vms["client"], self.vms["server"], seconds)
        finally:
            c._request("DELETE", f"/v2.0/sfc/port_chains/{chain['id']}", params={"wait": f"{WAIT:g}"})

    def _c(self) -> DemoClient:
        assert self.client is not None
        return self.client


# ---- the static lab ---------------------------------------------------------------------------------


def build_static(lab: Lab) -> tuple[VmHandle, VmHandle]:
    """Client on ch1, server and `fwd` on ch2; static L2 plus the client's TCP to PORT through fwd."""
    lab.add_chassis("ch1", "198.51.100.21")
    ch2 = lab.add_chassis("ch2", "198.51.100.22")
    macs = {"client": "fa:16:3e:00:00:10", "server": "fa:16:3e:00:00:20"}
    client = lab.add_vm("ch1", "client", macs["client"], f"{ip('client')}/24")
    server = lab.add_vm("ch2", "server", macs["server"], f"{ip('server')}/24")
    fn = lab.add_function("ch2", "fwd", "fa:16:3e:00:00:31", f"{ip('fwd')}/24", "fa:16:3e:00:00:32",
                          f"{ip('fwd')[:-1]}2/24", add=0)  # fmt: skip
    kernel_passthrough(fn)
    install_static_l2(lab)
    tunnel = f"in_port={TUNNEL_OFPORT},tun_id={DEFAULT_TUNNEL_KEY}"
    steer = f"priority=30,{tunnel},tcp,dl_dst={server.mac},tp_dst={PORT}"
    ch2.add_flows([f"{steer},actions=output:{fn.ingress.ofport}",
                   f"priority=30,in_port={fn.egress.ofport},actions=output:{server.ofport}"])  # fmt: skip
    lab.warm_underlay()
    client.wait_ping(server.ipv4)
    return client, server


# ---- the run ----------------------------------------------------------------------------------------


def run_cases(cases: dict[str, Callable[[], float]], repeat: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {name: [] for name in cases}
    for r in range(1, repeat + 1):
        for name, case in cases.items():
            gbps = case()
            results[name].append(gbps)
            progress(f"run {r}/{repeat} {name:<34}: {gbps:6.3f} Gbit/s")
    return results


def report(results: dict[str, list[float]]) -> None:
    med = {name: statistics.median(v) for name, v in results.items()}
    for name, value in med.items():
        print(
            f"{name:<34}: median {value:6.3f} Gbit/s  (runs: {', '.join(f'{v:.3f}' for v in results[name])})"
        )
    chain, static = med["chain fwd (MPLS chain, unaware)"], med["static flows fwd (no controller)"]
    print(f"chain / static (same function)    : {chain / static:.3f}x  (target >= 0.95x)")
    base = med["chain emu (unaware, header-free)"]
    for name in ("chain mpls (MPLS-aware sfemu)", "chain nsh (NSH-aware sfemu)"):
        cost = 1 - med[name] / base
        short = name.split(" (")[0]
        print(f"{short:<10} vs header-free sfemu  : {med[name] / base:.3f}x, cost {cost:+.1%} (target <= 5%)")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role")
    s = sub.add_parser("sink")
    s.add_argument("bind")
    s.add_argument("seconds", type=float)
    s = sub.add_parser("source")
    s.add_argument("dst")
    s.add_argument("seconds", type=float)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each TCP stream (default 5)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of every case (default 3)")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    if args.role == "sink":
        sink(args.bind, args.seconds)
        return 0
    if args.role == "source":
        source(args.dst, args.seconds)
        return 0
    if os.geteuid() != 0:
        print("cannot run: the lab needs root (network namespaces, OVS daemons)", file=sys.stderr)
        return 2
    world = DemoWorld(DemoPaths.of("sfbdp", Path("/tmp/steerflow-bench-dp")))
    static_lab = Lab(Path("/tmp/steerflow-bench-dp-static"), "sfbst")
    try:
        world.prepare()
        ctl = ControllerLab(world)
        ctl.build()
        progress("controller lab ready (2 chassis, agents, 4 functions)")
        client, server = build_static(static_lab)
        progress("static lab ready (2 chassis, hand-written flows)")
        s = args.seconds
        cases: dict[str, Callable[[], float]] = {
            "static flows fwd (no controller)": lambda: throughput(client, server, s)
        }
        plain = ctl.vms["client"], ctl.vms["server"]
        cases["no chain (controller L2 only)"] = lambda: throughput(*plain, s)
        for name, (fn, encap) in CASES.items():
            cases[name] = lambda fn=fn, encap=encap: ctl.measure(fn, encap, s)  # type: ignore[misc]
        report(run_cases(cases, args.repeat))
    finally:
        static_lab.teardown()
        world.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
