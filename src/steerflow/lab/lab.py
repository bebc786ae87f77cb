"""A lab instance: emulated chassis and VMs on one machine, built step by step and always torn down."""

from __future__ import annotations

import contextlib
import itertools
import logging
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from steerflow.lab import cleanup
from steerflow.lab.chassis import ChassisHandle, start_chassis
from steerflow.lab.function import (
    FunctionHandle,
    FunctionPlan,
    create_function,
    nic_plan,
    reap_children,
    restart_emulator,
)
from steerflow.lab.names import LabNames, check_mac, check_name, check_tenant_cidr, check_underlay_ip
from steerflow.lab.sfframes import Mode
from steerflow.lab.sh import LabError, poll_until, run
from steerflow.lab.state import LabState, load_state, save_state
from steerflow.lab.vm import VmHandle, VmPlan, create_vm

log = logging.getLogger("steerflow.lab")

DEFAULT_VM_MTU = 1400  # room for the Geneve header on the 1500-byte underlay
# A function's NICs take the VMs' full-size packets inside an MPLS label or NSH + outer Ethernet (up to 100
# bytes more): OVS refuses ("Message too long") to send a frame above the port's MTU.
DEFAULT_FUNCTION_MTU = DEFAULT_VM_MTU + 100


@dataclass(frozen=True)
class ChassisStatus:
    name: str
    netns: str
    netns_present: bool
    underlay_ip: str
    pids: Mapping[str, int | None]
    vms: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return self.netns_present and all(p is not None for p in self.pids.values())


class Lab:
    """Emulated chassis (netns + ovsdb-server + userspace ovs-vswitchd) and VMs; every name starts with
    `prefix`, so concurrent labs never collide and leftovers of a crashed run can be found and removed."""

    def __init__(self, run_dir: Path, prefix: str) -> None:
        self.names = LabNames(prefix)
        self.run_dir = run_dir.absolute()
        self._state = LabState(prefix=prefix, run_dir=self.run_dir)
        self._started = False

    @classmethod
    def attach(cls, run_dir: Path) -> Lab:
        """The lab another process built in `run_dir`, read from its state file (for status and down)."""
        state = load_state(run_dir.absolute())
        if state is None:
            raise LabError(f"no lab state in {run_dir}")
        lab = cls(state.run_dir, state.prefix)
        lab._state = state
        lab._started = True
        return lab

    @property
    def prefix(self) -> str:
        return self.names.prefix

    @property
    def chassis(self) -> Mapping[str, ChassisHandle]:
        return dict(self._state.chassis)

    @property
    def vms(self) -> Mapping[str, VmHandle]:
        return dict(self._state.vms)

    @property
    def functions(self) -> Mapping[str, FunctionHandle]:
        return dict(self._state.functions)

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.teardown()

    def start(self) -> None:
        """Remove leftovers of an earlier run with this prefix; create the run dir and underlay bridge."""
        if self._started:
            return
        self._started = True
        try:
            self._prepare()
        except BaseException:  # all or nothing: `with` never calls __exit__ when __enter__ fails
            self.teardown()
            raise

    def _prepare(self) -> None:
        log.info("lab %s: cleaning leftovers of earlier runs", self.prefix)
        cleanup.destroy(self.prefix, self.run_dir)
        if self.run_dir.exists() and any(self.run_dir.iterdir()):
            raise LabError(f"run dir {self.run_dir} is not empty and holds no lab state; refusing to use it")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        save_state(self._state)
        bridge = self.names.underlay_bridge
        log.info("lab %s: creating underlay bridge %s", self.prefix, bridge)
        run(["ip", "link", "add", bridge, "type", "bridge"])
        run(["ip", "link", "set", bridge, "up"])

    def add_chassis(self, name: str, underlay_ip: str, *, create_br_int: bool = True) -> ChassisHandle:
        """Start a chassis. With create_br_int=False, br-int is left to the agent (VM plugging creates a bare
        one with --may-exist, as a VIF plugger would)."""
        self.start()
        # not the NB schema: the lab's own word for its chassis
        check_name("chassis", name)
        ip = check_underlay_ip(underlay_ip)
        self._check_free(name, ip)
        # not the NB schema: the lab's own word
        index = self._state.allocate_index("chassis")
        root_uplink, uplink = self.names.chassis_uplink(index)
        handle = ChassisHandle(
            name=name, index=index, netns=self.names.netns(name), underlay_ip=ip,
            run_dir=self.run_dir / name, uplink=uplink, create_br_int=create_br_int,
        )  # fmt: skip
        self._state.chassis[name] = handle
        save_state(self._state)
        start_chassis(handle, self.names.underlay_bridge, root_uplink)
        return handle

    def add_vm(
        self,
        chassis: ChassisHandle | str,
        name: str,
        mac: str,
        ipv4_cidr: str,
        ipv6_cidr: str | None = None,
        *,
        iface_id: str | None = None,
        ofport: int | None = None,
        mtu: int = DEFAULT_VM_MTU,
    ) -> VmHandle:
        """Create a VM namespace on `chassis` and plug it into br-int with external_ids:iface-id."""
        ch = self._state.chassis[chassis if isinstance(chassis, str) else chassis.name]
        check_name("vm", name)
        self._check_free(name, None)
        index = self._state.allocate_index("vm")
        nic, port = self.names.vm_link(index)
        plan = VmPlan(
            name=name, index=index, netns=self.names.netns(name), mac=check_mac(mac),
            ipv4_cidr=check_tenant_cidr(ipv4_cidr, 4),
            ipv6_cidr=check_tenant_cidr(ipv6_cidr, 6) if ipv6_cidr else None,
            iface_id=iface_id or name, nic=nic, port=port, ofport_request=ofport, mtu=mtu,
        )  # fmt: skip
        save_state(self._state)
        vm = create_vm(ch, plan)
        self._state.vms[name] = vm
        save_state(self._state)
        return vm

    def add_function(
        self,
        chassis: ChassisHandle | str,
        name: str,
        ingress_mac: str,
        ingress_ip_cidr: str | None,
        egress_mac: str | None = None,
        egress_ip_cidr: str | None = None,
        *,
        ingress_iface_id: str | None = None,
        egress_iface_id: str | None = None,
        mode: Mode | str = Mode.UNAWARE,
        add: int = 1,
        decrement_si: bool = False,
        mtu: int = DEFAULT_FUNCTION_MTU,
        nat_udp_dst: int = 0,
        bridge: bool = False,
    ) -> FunctionHandle:
        """A service function on `chassis`: a namespace whose ingress (and egress) NIC is plugged into br-int
        with external_ids:iface-id like a VM's, and an sfemu forwarder adding `add` to each L4 payload byte
        (and `nat_udp_dst` to UDP destination ports, like a NAT).
        One NIC only when egress_mac is None or both iface ids are the same port. `bridge`: a bump in the
        wire that forwards every frame both ways, ARP, ND, broadcasts and multicast included."""
        ch = self._state.chassis[chassis if isinstance(chassis, str) else chassis.name]
        check_name("function", name)
        self._check_free(name, None)
        in_id = ingress_iface_id or name
        nics = [nic_plan(ingress_mac, ingress_ip_cidr, in_id, self._nic_link())]
        if egress_mac is not None and egress_iface_id != in_id:
            out_id = egress_iface_id or f"{name}-egress"
            nics.append(nic_plan(egress_mac, egress_ip_cidr, out_id, self._nic_link()))
        elif egress_mac not in (None, ingress_mac):
            raise ValueError(f"function {name}: one port ({in_id}) cannot have two MACs")
        plan = FunctionPlan(
            name=name, netns=self.names.netns(name), run_dir=self.run_dir / name, mode=Mode(mode),
            add=add % 256, decrement_si=decrement_si, mtu=mtu, nics=tuple(nics), bridge=bridge,
            nat_udp_dst=nat_udp_dst % 0x10000,
        )  # fmt: skip
        save_state(self._state)
        function = create_function(ch, plan)
        self._state.functions[name] = function
        save_state(self._state)
        return function

    def restart_function(self, name: str) -> FunctionHandle:
        """Start a stopped function's emulator again (same namespace and NICs): a function that died and
        came back."""
        restarted = restart_emulator(self._state.functions[name])
        self._state.functions[name] = restarted
        save_state(self._state)
        return restarted

    def _nic_link(self) -> tuple[str, str]:
        # A function NIC is named like a VM NIC (<prefix>v<k>e|p): the teardown already knows that shape.
        return self.names.vm_link(self._state.allocate_index("vm"))

    def warm_underlay(self, timeout: float = 10.0) -> None:
        """Ping every remote underlay address from every chassis, so the userspace datapath has resolved
        the remote MACs before the first tunnelled packet (which it would otherwise drop)."""
        for a, b in itertools.permutations(self._state.chassis.values(), 2):
            log.info("warming underlay %s -> %s (%s)", a.name, b.name, b.underlay_ip)
            # Forget any neighbour entry the kernel learnt from the peer's own ARP request: only an ARP reply
            # crossing br-phy teaches the datapath, and a cached entry would delay that reply by ~5 s.
            run(["ip", "-n", a.netns, "neigh", "flush", "to", b.underlay_ip], check=False)
            poll_until(_pinger(a.netns, b.underlay_ip), timeout, f"underlay ping {a.name} -> {b.name}")
            # The ping's ARP reply is what the datapath snoops; wait until its tunnel neighbour cache has it.
            poll_until(
                lambda a=a, b=b: b.underlay_ip in a.ovs_appctl("tnl/neigh/show").split(),  # type: ignore[misc]
                timeout,
                f"{a.name} to learn the underlay MAC of {b.underlay_ip}",
            )

    def status(self) -> list[ChassisStatus]:
        present = set(cleanup.list_netns())
        return [
            ChassisStatus(
                name=c.name,
                netns=c.netns,
                netns_present=c.netns in present,
                underlay_ip=c.underlay_ip,
                pids=c.pids(),
                vms=tuple(v.name for v in self._state.vms.values() if v.chassis == c.name),
            )
            for c in self._state.chassis.values()
        ]

    def save_logs(self, dest: Path) -> list[Path]:
        """Copy the daemons' logs to dest/<chassis>/ and the functions' to dest/<function>/ (teardown deletes
        the run dir, logs included)."""
        copied: list[Path] = []
        for ch in self._state.chassis.values():
            for log_file in sorted(ch.run_dir.glob("*.log")):
                target = dest / ch.name / log_file.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log_file, target)
                copied.append(target)
        for fn in self._state.functions.values():
            if fn.log_file.exists():
                target = dest / fn.name / fn.log_file.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fn.log_file, target)
                copied.append(target)
        return copied

    def teardown(self) -> None:
        """Kill this lab's daemons by pid and delete its namespaces, links, bridge and run dir. Idempotent;
        a Ctrl-C arriving meanwhile is held back until the cleanup is done."""
        with _sigint_deferred():
            log.info("lab %s: tearing down", self.prefix)
            cleanup.destroy(self.prefix, self.run_dir)
            reap_children()
            self._state = LabState(prefix=self.prefix, run_dir=self.run_dir)
            self._started = False

    def _check_free(self, name: str, underlay_ip: str | None) -> None:
        if name in self._state.chassis or name in self._state.vms or name in self._state.functions:
            raise LabError(f"lab {self.prefix} already has a chassis, vm or function named {name!r}")
        if underlay_ip and any(c.underlay_ip == underlay_ip for c in self._state.chassis.values()):
            raise LabError(f"underlay address {underlay_ip} is already used in lab {self.prefix}")


def _pinger(netns: str, dst: str) -> Callable[[], bool]:
    argv = ["ping", "-n", "-q", "-c", "1", "-W", "1", dst]
    return lambda: run(argv, netns=netns, check=False).returncode == 0


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold SIGINT while cleaning up (main thread only), then deliver it as KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
