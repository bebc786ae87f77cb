"""An emulated chassis: a network namespace with its own ovsdb-server and userspace ovs-vswitchd."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from steerflow.lab.procs import kill_pids, owned_pid, pid_alive
from steerflow.lab.sh import LabError, run

log = logging.getLogger("steerflow.lab")

INTEGRATION_BRIDGE = "br-int"
UNDERLAY_OVS_BRIDGE = "br-phy"
TUNNEL_PORT = "geneve0"
TUNNEL_OFPORT = 100
DAEMONS = ("ovsdb-server", "ovs-vswitchd")
OPENFLOW = "OpenFlow13"
# sun_path is 108 bytes; OVS refuses longer unix socket paths.
_MAX_SOCKET_PATH = 100


def ovs_schema() -> Path:
    pkgdata = Path(os.environ.get("OVS_PKGDATADIR", "/usr/share/openvswitch"))
    return pkgdata / "vswitch.ovsschema"


@dataclass(frozen=True)
class ChassisHandle:
    """What a test or the agent needs to reach one chassis: its namespace, sockets, pids and OVS clients."""

    name: str
    index: int
    netns: str
    underlay_ip: str
    run_dir: Path
    uplink: str
    create_br_int: bool

    @property
    def db_socket(self) -> str:
        """OVSDB remote of this chassis, `unix:<rundir>/db.sock`."""
        return f"unix:{self.run_dir / 'db.sock'}"

    @property
    def mgmt_socket(self) -> Path:
        """br-int's OpenFlow management socket (the agent's southbound endpoint)."""
        return self.bridge_mgmt_socket(INTEGRATION_BRIDGE)

    def bridge_mgmt_socket(self, bridge: str) -> Path:
        return self.run_dir / f"{bridge}.mgmt"

    @property
    def env(self) -> dict[str, str]:
        """Environment that points every OVS client and daemon at this chassis' run dir."""
        d = str(self.run_dir)
        return {"OVS_RUNDIR": d, "OVS_DBDIR": d, "OVS_LOGDIR": d, "OVS_SYSCONFDIR": d}

    def pidfile(self, daemon: str) -> Path:
        return self.run_dir / f"{daemon}.pid"

    def pids(self) -> dict[str, int | None]:
        """Pid of each daemon, or None when it is not running (stale pidfiles are ignored)."""
        return {d: owned_pid(self.pidfile(d)) for d in DAEMONS}

    def alive(self) -> bool:
        return all(p is not None and pid_alive(p) for p in self.pids().values())

    def restart_vswitchd(self) -> None:
        """Kill ovs-vswitchd (by its pid) and start it again on the same database.

        Its flows are gone with it (whoever owns them must put them back); the underlay address,
        which lived on br-phy's tap device, is restored here.
        """
        pid = self.pids()["ovs-vswitchd"]
        if pid is not None:
            kill_pids([pid])
        _start_vswitchd(self)
        run(["ip", "-n", self.netns, "addr", "replace", f"{self.underlay_ip}/24", "dev", UNDERLAY_OVS_BRIDGE])
        run(["ip", "-n", self.netns, "link", "set", UNDERLAY_OVS_BRIDGE, "up"])

    def run(
        self, argv: Sequence[str], *, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside this chassis' namespace with its OVS environment."""
        return run(argv, netns=self.netns, env=self.env, check=check, stdin=stdin)

    def ovs_vsctl(self, *args: str, wait: bool = True) -> str:
        opts = [f"--db={self.db_socket}", "--timeout=20"] + ([] if wait else ["--no-wait"])
        return self.run(["ovs-vsctl", *opts, *args]).stdout.strip()

    def ovs_ofctl(self, *args: str, stdin: str | None = None) -> str:
        """ovs-ofctl speaking OpenFlow 1.3; a bridge name resolves to `<rundir>/<bridge>.mgmt`."""
        return self.run(["ovs-ofctl", "-O", OPENFLOW, *args], stdin=stdin).stdout

    def ovs_appctl(self, *args: str, daemon: str = "ovs-vswitchd") -> str:
        return self.run(["ovs-appctl", "-t", str(self.run_dir / f"{daemon}.ctl"), *args]).stdout

    def add_flows(self, flows: Iterable[str], bridge: str = INTEGRATION_BRIDGE) -> None:
        text = "".join(f"{f}\n" for f in flows)
        self.ovs_ofctl("add-flows", f"unix:{self.bridge_mgmt_socket(bridge)}", "-", stdin=text)

    def dump_flows(self, bridge: str = INTEGRATION_BRIDGE) -> list[str]:
        out = self.ovs_ofctl("dump-flows", "--no-stats", f"unix:{self.bridge_mgmt_socket(bridge)}")
        return [line.strip() for line in out.splitlines() if line.strip() and "reply" not in line]

    def port_packets(self, bridge: str = INTEGRATION_BRIDGE) -> dict[str, tuple[int, int]]:
        """Packets each port of `bridge` received and sent so far: {ofport or "LOCAL": (rx, tx)}."""
        out = self.ovs_ofctl("dump-ports", f"unix:{self.bridge_mgmt_socket(bridge)}")
        counts: dict[str, tuple[int, int]] = {}
        for port, rx, tx in _PORT_STATS.findall(out):
            counts[port.strip('"')] = (int(rx), int(tx))
        return counts

    def ensure_br_int(self) -> None:
        """Create br-int if missing, the way a VIF plugger does (`--may-exist`): netdev, fail_mode secure."""
        self.ovs_vsctl(
            "--may-exist", "add-br", INTEGRATION_BRIDGE,
            "--", "set", "bridge", INTEGRATION_BRIDGE, "datapath_type=netdev", "fail_mode=secure",
        )  # fmt: skip

    def ofport(self, interface: str) -> int:
        return int(self.ovs_vsctl("get", "Interface", interface, "ofport"))


_PORT_STATS = re.compile(r"port\s+(\S+):\s*rx pkts=(\d+),.*?\n\s*tx pkts=(\d+),")


def start_chassis(ch: ChassisHandle, underlay_bridge: str, root_uplink: str) -> None:
    """Bring a chassis up: namespace, ovsdb-server, ovs-vswitchd, underlay (br-phy) and optionally br-int."""
    _check_socket_paths(ch)
    ch.run_dir.mkdir(parents=True, exist_ok=True)
    log.info("chassis %s: creating namespace %s", ch.name, ch.netns)
    run(["ip", "netns", "add", ch.netns])
    run(["ip", "-n", ch.netns, "link", "set", "lo", "up"])
    _start_ovsdb(ch)
    _start_vswitchd(ch)
    _plug_underlay(ch, underlay_bridge, root_uplink)
    if ch.create_br_int:
        _create_br_int(ch)


def _check_socket_paths(ch: ChassisHandle) -> None:
    longest = ch.run_dir / "ovs-vswitchd.ctl"
    if len(str(longest)) > _MAX_SOCKET_PATH:
        raise LabError(f"run dir {ch.run_dir} is too long for unix socket paths; use a shorter run dir")


def _start_ovsdb(ch: ChassisHandle) -> None:
    d = ch.run_dir
    log.info("chassis %s: starting ovsdb-server (%s)", ch.name, ch.db_socket)
    ch.run(["ovsdb-tool", "create", str(d / "conf.db"), str(ovs_schema())])
    ch.run(
        [
            "ovsdb-server", str(d / "conf.db"), f"--remote=p{ch.db_socket}",
            f"--pidfile={ch.pidfile('ovsdb-server')}", f"--unixctl={d / 'ovsdb-server.ctl'}",
            f"--log-file={d / 'ovsdb-server.log'}", "--detach", "-vconsole:off",
        ]
    )  # fmt: skip
    ch.ovs_vsctl("init", wait=False)
    # system-id names the chassis the way OVN does; the encap IP tells the agent its tunnel endpoint.
    ch.ovs_vsctl(
        "set", "Open_vSwitch", ".", f"external_ids:system-id={ch.name}",
        f"external_ids:steerflow-encap-ip={ch.underlay_ip}", wait=False,
    )  # fmt: skip


def _start_vswitchd(ch: ChassisHandle) -> None:
    d = ch.run_dir
    log.info("chassis %s: starting ovs-vswitchd (userspace datapath)", ch.name)
    ch.run(
        [
            "ovs-vswitchd", ch.db_socket, f"--pidfile={ch.pidfile('ovs-vswitchd')}",
            f"--unixctl={d / 'ovs-vswitchd.ctl'}", f"--log-file={d / 'ovs-vswitchd.log'}",
            "--detach", "-vconsole:off",
        ]
    )  # fmt: skip


def _plug_underlay(ch: ChassisHandle, underlay_bridge: str, root_uplink: str) -> None:
    log.info("chassis %s: underlay %s on %s via %s", ch.name, ch.underlay_ip, underlay_bridge, root_uplink)
    run(["ip", "link", "add", root_uplink, "type", "veth", "peer", "name", ch.uplink, "netns", ch.netns])
    run(["ip", "link", "set", root_uplink, "master", underlay_bridge, "up"])
    run(["ip", "-n", ch.netns, "link", "set", ch.uplink, "up"])
    ch.ovs_vsctl(
        "add-br", UNDERLAY_OVS_BRIDGE, "--", "set", "bridge", UNDERLAY_OVS_BRIDGE, "datapath_type=netdev",
        "--", "add-port", UNDERLAY_OVS_BRIDGE, ch.uplink,
    )  # fmt: skip
    # The tunnel endpoint address lives on br-phy so that userspace tunnelling routes through it.
    run(["ip", "-n", ch.netns, "addr", "add", f"{ch.underlay_ip}/24", "dev", UNDERLAY_OVS_BRIDGE])
    run(["ip", "-n", ch.netns, "link", "set", UNDERLAY_OVS_BRIDGE, "up"])


def _create_br_int(ch: ChassisHandle) -> None:
    log.info("chassis %s: creating br-int with flow-based Geneve port %s", ch.name, TUNNEL_PORT)
    ch.ensure_br_int()
    ch.ovs_vsctl(
        "add-port", INTEGRATION_BRIDGE, TUNNEL_PORT, "--", "set", "interface", TUNNEL_PORT, "type=geneve",
        "options:remote_ip=flow", "options:key=flow", f"ofport_request={TUNNEL_OFPORT}",
    )  # fmt: skip
