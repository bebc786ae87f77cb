"""An emulated VM: a network namespace whose one NIC is a veth plugged into a chassis' br-int."""

from __future__ import annotations

import ipaddress
import logging
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from steerflow.lab.chassis import INTEGRATION_BRIDGE, ChassisHandle
from steerflow.lab.sh import DEFAULT_TIMEOUT, run

log = logging.getLogger("steerflow.lab")


@dataclass(frozen=True)
class VmHandle:
    """A VM as tests see it: its namespace, NIC, addresses, logical port id and br-int ofport."""

    name: str
    index: int
    netns: str
    chassis: str
    mac: str
    ipv4_cidr: str
    ipv6_cidr: str | None
    iface_id: str
    nic: str
    port: str
    ofport: int

    @property
    def ipv4(self) -> str:
        return str(ipaddress.ip_interface(self.ipv4_cidr).ip)

    @property
    def ipv6(self) -> str | None:
        return str(ipaddress.ip_interface(self.ipv6_cidr).ip) if self.ipv6_cidr else None

    def exec(
        self, cmd: Sequence[str], *, check: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the VM."""
        return run(cmd, netns=self.netns, check=check, timeout=timeout)

    def ping(self, dst: str, *, count: int = 1, wait: float = 1.0) -> bool:
        """One ping round (ping picks IPv4 or IPv6 from the address); True if any reply came back."""
        argv = ["ping", "-n", "-q", "-c", str(count), "-W", f"{wait:g}", "-i", "0.2", dst]
        return self.exec(argv, check=False, timeout=count * (wait + 0.5) + 5).returncode == 0

    def wait_ping(self, dst: str, timeout: float = 10.0) -> float:
        """Ping until a reply arrives (first packets may be lost while tunnels resolve); returns the
        seconds it took. Raises AssertionError so test failures read naturally."""
        start = time.monotonic()
        while not self.ping(dst):
            if time.monotonic() - start >= timeout:
                raise AssertionError(f"{self.name} ({self.netns}) got no ping reply from {dst} in {timeout}s")
        return time.monotonic() - start


@dataclass(frozen=True)
class VmPlan:
    """What add_vm was asked for, before anything exists."""

    name: str
    index: int
    netns: str
    mac: str
    ipv4_cidr: str
    ipv6_cidr: str | None
    iface_id: str
    nic: str
    port: str
    ofport_request: int | None
    mtu: int


def create_vm(ch: ChassisHandle, plan: VmPlan) -> VmHandle:
    """Create the VM namespace, its NIC, and plug the peer into br-int with the logical port id."""
    log.info("vm %s: creating namespace %s on chassis %s", plan.name, plan.netns, ch.name)
    run(["ip", "netns", "add", plan.netns])
    run(
        [
            "ip",
            "link",
            "add",
            plan.nic,
            "netns",
            plan.netns,
            "type",
            "veth",
            "peer",
            "name",
            plan.port,
            "netns",
            ch.netns,
        ]
    )
    _configure_nic(plan)
    run(["ip", "-n", ch.netns, "link", "set", plan.port, "mtu", str(plan.mtu), "up"])
    log.info(
        "vm %s: plugging %s into %s (iface-id=%s)", plan.name, plan.port, INTEGRATION_BRIDGE, plan.iface_id
    )
    if not ch.create_br_int:
        ch.ensure_br_int()
    iface_args = [f"external_ids:iface-id={plan.iface_id}", f"external_ids:attached-mac={plan.mac}"]
    if plan.ofport_request is not None:
        iface_args.append(f"ofport_request={plan.ofport_request}")
    ch.ovs_vsctl("add-port", INTEGRATION_BRIDGE, plan.port, "--", "set", "interface", plan.port, *iface_args)
    return VmHandle(
        name=plan.name, index=plan.index, netns=plan.netns, chassis=ch.name, mac=plan.mac,
        ipv4_cidr=plan.ipv4_cidr, ipv6_cidr=plan.ipv6_cidr, iface_id=plan.iface_id,
        nic=plan.nic, port=plan.port, ofport=ch.ofport(plan.port),
    )  # fmt: skip


def _configure_nic(plan: VmPlan) -> None:
    ns = plan.netns
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "set", plan.nic, "address", plan.mac, "mtu", str(plan.mtu), "up"])
    # The userspace datapath does not fill in checksums the veth would leave to "hardware".
    run(["ethtool", "-K", plan.nic, "tx", "off"], netns=ns)
    run(["ip", "-n", ns, "addr", "add", plan.ipv4_cidr, "dev", plan.nic])
    if plan.ipv6_cidr:
        # nodad: the address is usable at once instead of after ~1 s of duplicate detection.
        run(["ip", "-n", ns, "-6", "addr", "add", plan.ipv6_cidr, "dev", plan.nic, "nodad"])
