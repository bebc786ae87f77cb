"""An emulated service function: a namespace with one or two NICs on br-int and an `sfemu` forwarder in it."""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from steerflow.lab.chassis import INTEGRATION_BRIDGE, ChassisHandle
from steerflow.lab.names import check_mac, check_tenant_cidr
from steerflow.lab.procs import cmdline, kill_pids, pid_alive
from steerflow.lab.sfframes import Mode
from steerflow.lab.sh import DEFAULT_TIMEOUT, LabError, poll_until, run

log = logging.getLogger("steerflow.lab")

START_TIMEOUT = 10.0
# The emulator processes this test process started, so that stopping one also reaps it (no zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class FunctionNic:
    """One NIC of a function: inside the namespace `nic`, on br-int `port` (ofport) with `iface_id`."""

    mac: str
    ip_cidr: str | None
    iface_id: str
    nic: str
    port: str
    ofport: int


@dataclass(frozen=True)
class FunctionCounters:
    """The emulator's counters, read from its status file (`state` is "running" or "stopped")."""

    state: str
    seen: int
    forwarded: int
    ignored: int
    send_errors: int
    ignored_reasons: dict[str, int]
    metadata: dict[str, int] = field(default_factory=dict)  # forwarded frames per NSH metadata / VLAN VID
    bridged: int = 0  # forwarded unchanged (a bridging function's frames it does not recognise)
    backwards: int = 0  # forwarded egress -> ingress (a bridging function)


@dataclass(frozen=True)
class FunctionHandle:
    """A service function as tests see it: its namespace, NICs, emulator settings, pid and counters."""

    name: str
    netns: str
    chassis: str
    mode: str
    add: int
    decrement_si: bool
    ingress: FunctionNic
    egress: FunctionNic  # the ingress NIC itself for a single-NIC function
    run_dir: Path
    pid: int
    nat_udp_dst: int = 0  # added to UDP destination ports, like a NAT
    bridge: bool = False  # a bump in the wire: every frame, both ways (sfemu --bridge)

    @property
    def single_nic(self) -> bool:
        return self.ingress.port == self.egress.port

    @property
    def status_file(self) -> Path:
        return self.run_dir / "sfemu.json"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "sfemu.log"

    def pids(self) -> dict[str, int | None]:
        """{"sfemu": pid}, or None when the emulator is not running (a reused pid is not ours)."""
        return {"sfemu": self.pid if _owned(self.pid, self.status_file) else None}

    def alive(self) -> bool:
        return self.pids()["sfemu"] is not None

    def counters(self) -> FunctionCounters:
        """Counters as of the emulator's last status write (at most ~0.2 s behind while it runs)."""
        try:
            data = json.loads(self.status_file.read_text())
        except (OSError, ValueError) as exc:
            raise LabError(f"function {self.name}: no readable status in {self.status_file}: {exc}") from None
        data.pop("pid", None)
        return FunctionCounters(**data)

    def wait_counters(
        self, condition: Callable[[FunctionCounters], bool], timeout: float = 5.0
    ) -> FunctionCounters:
        """Poll the counters until `condition` holds; returns them (LabError on timeout)."""
        poll_until(lambda: condition(self.counters()), timeout, f"function {self.name} counters")
        return self.counters()

    def stop(self) -> None:
        """Stop the emulator (SIGTERM by pid, SIGKILL after 5 s); its final counters stay readable."""
        if self.alive():
            kill_pids([self.pid])
        child = _CHILDREN.pop(self.pid, None)
        if child is not None:
            child.wait(timeout=DEFAULT_TIMEOUT)

    def exec(
        self, cmd: Sequence[str], *, check: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the function's namespace."""
        return run(cmd, netns=self.netns, check=check, timeout=timeout)

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "run_dir": str(self.run_dir)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FunctionHandle:
        return cls(**{
            **data, "run_dir": Path(data["run_dir"]),
            "ingress": FunctionNic(**data["ingress"]), "egress": FunctionNic(**data["egress"]),
        })  # fmt: skip


@dataclass(frozen=True)
class NicPlan:
    mac: str
    ip_cidr: str | None
    iface_id: str
    nic: str
    port: str


@dataclass(frozen=True)
class FunctionPlan:
    """What add_function was asked for, before anything exists; `nics` is (ingress,) or (ingress, egress)."""

    name: str
    netns: str
    run_dir: Path
    mode: Mode
    add: int
    decrement_si: bool
    mtu: int
    nics: tuple[NicPlan, ...]
    nat_udp_dst: int = 0
    bridge: bool = False


def nic_plan(mac: str, ip_cidr: str | None, iface_id: str, link: tuple[str, str]) -> NicPlan:
    """A checked NIC plan; `link` is (end in the function, end on br-int) as LabNames.vm_link gives."""
    cidr = check_tenant_cidr(ip_cidr, ipaddress.ip_interface(ip_cidr).version) if ip_cidr else None
    return NicPlan(check_mac(mac), cidr, iface_id, link[0], link[1])


def create_function(ch: ChassisHandle, plan: FunctionPlan) -> FunctionHandle:
    """Create the namespace and its NICs, plug them into br-int, start the emulator and wait until it runs."""
    log.info("function %s: creating namespace %s on chassis %s", plan.name, plan.netns, ch.name)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    run(["ip", "netns", "add", plan.netns])
    run(["ip", "-n", plan.netns, "link", "set", "lo", "up"])
    if not ch.create_br_int:
        ch.ensure_br_int()
    nics = [_plug_nic(ch, plan, nic, promiscuous=i == 0) for i, nic in enumerate(plan.nics)]
    ingress, egress = nics[0], nics[-1]
    pid = _start_emulator(plan, ingress.nic, egress.nic)
    return FunctionHandle(
        name=plan.name, netns=plan.netns, chassis=ch.name, mode=plan.mode.value, add=plan.add,
        decrement_si=plan.decrement_si, ingress=ingress, egress=egress, run_dir=plan.run_dir, pid=pid,
        nat_udp_dst=plan.nat_udp_dst,
        bridge=plan.bridge,
    )  # fmt: skip


def restart_emulator(fn: FunctionHandle) -> FunctionHandle:
    """A stopped function's emulator started again, on the same NICs (what a restarted function is)."""
    if fn.alive():
        raise LabError(f"function {fn.name}: its emulator (pid {fn.pid}) still runs")
    fn.status_file.unlink(missing_ok=True)  # a killed emulator's last status said "running"
    plan = FunctionPlan(
        name=fn.name, netns=fn.netns, run_dir=fn.run_dir, mode=Mode(fn.mode), add=fn.add,
        decrement_si=fn.decrement_si, mtu=0, nics=(), nat_udp_dst=fn.nat_udp_dst, bridge=fn.bridge,
    )  # fmt: skip
    return replace(fn, pid=_start_emulator(plan, fn.ingress.nic, fn.egress.nic))


def reap_children() -> None:
    """Forget emulators that have exited (the lab's teardown kills them by pid, not through us)."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[pid]


def _plug_nic(ch: ChassisHandle, plan: FunctionPlan, nic: NicPlan, *, promiscuous: bool) -> FunctionNic:
    ns = plan.netns
    peer = ["peer", "name", nic.port, "netns", ch.netns]
    run(["ip", "link", "add", nic.nic, "netns", ns, "type", "veth", *peer])
    run(["ip", "-n", ns, "link", "set", nic.nic, "address", nic.mac, "mtu", str(plan.mtu), "up"])
    # The emulator writes full checksums; nothing may be left to "hardware" the userspace datapath lacks.
    run(["ethtool", "-K", nic.nic, "tx", "off"], netns=ns)
    if promiscuous:  # frames keep the original MACs, so they are not addressed to this NIC
        run(["ip", "-n", ns, "link", "set", nic.nic, "promisc", "on"])
    if nic.ip_cidr:
        extra = ["nodad"] if ipaddress.ip_interface(nic.ip_cidr).version == 6 else []
        run(["ip", "-n", ns, "addr", "add", nic.ip_cidr, "dev", nic.nic, *extra])
    # The chassis' own kernel must not talk on a function's wire (IPv6 DAD, MLD, router solicitations
    # on its end of the veth): a function gets what OVS sends it and nothing else.
    run(["sysctl", "-q", "-w", f"net.ipv6.conf.{nic.port}.disable_ipv6=1"], netns=ch.netns)
    run(["ip", "-n", ch.netns, "link", "set", nic.port, "mtu", str(plan.mtu), "up"])
    log.info("function %s: plugging %s into %s (iface-id=%s)", plan.name, nic.port, INTEGRATION_BRIDGE,
             nic.iface_id)  # fmt: skip
    ch.ovs_vsctl(
        "add-port", INTEGRATION_BRIDGE, nic.port, "--", "set", "interface", nic.port,
        f"external_ids:iface-id={nic.iface_id}", f"external_ids:attached-mac={nic.mac}",
    )  # fmt: skip
    return FunctionNic(nic.mac, nic.ip_cidr, nic.iface_id, nic.nic, nic.port, ch.ofport(nic.port))


def _start_emulator(plan: FunctionPlan, ingress: str, egress: str) -> int:
    status, log_file = plan.run_dir / "sfemu.json", plan.run_dir / "sfemu.log"
    argv = [
        "ip", "netns", "exec", plan.netns, sys.executable, "-m", "steerflow.lab.sfemu",
        "--ingress", ingress, "--egress", egress, "--mode", plan.mode.value, "--add", str(plan.add),
        "--log", str(log_file), "--status", str(status),
    ]  # fmt: skip
    if plan.decrement_si:
        argv.append("--decrement-si")
    if plan.nat_udp_dst:
        argv += ["--nat-udp-dst", str(plan.nat_udp_dst)]
    if plan.bridge:
        argv.append("--bridge")
    log.info("function %s: starting sfemu %s -> %s (mode %s)", plan.name, ingress, egress, plan.mode.value)
    with log_file.open("ab") as err:  # tracebacks land next to the emulator's own log lines
        # `ip netns exec` execs the command, so this pid is the emulator's; a new session keeps a terminal's
        # Ctrl-C away from it (teardown stops it).
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
    _CHILDREN[child.pid] = child
    try:
        _wait_running(plan.name, child, status, log_file)
    except BaseException:
        kill_pids([child.pid])
        child.wait(timeout=DEFAULT_TIMEOUT)
        raise
    return child.pid


def _wait_running(name: str, child: subprocess.Popen[bytes], status: Path, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not _status_says_running(status):
        if child.poll() is not None or time.monotonic() > deadline:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise LabError(f"function {name}: sfemu did not start (exit {child.poll()}):\n{tail}")
        time.sleep(0.02)


def _status_says_running(status: Path) -> bool:
    try:
        return bool(json.loads(status.read_text()).get("state") == "running")
    except (OSError, ValueError):
        return False


def _owned(pid: int, status: Path) -> bool:
    """The pid is still our emulator: alive, and started with our status file (pids get reused)."""
    return pid_alive(pid) and f"--status {status}" in cmdline(pid)
