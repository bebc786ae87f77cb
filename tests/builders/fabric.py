"""A steerflow fabric for functional tests: lab chassis running real agents over one embedded NB store.

`Fabric` builds chassis (each an OVS in its own namespace) and runs `steerflow agent` in each, creates
networks and ports through the service layer (the same handlers the REST API serves), plugs VMs with the
NB port's MAC and addresses, and waits on applied revisions, never on sleeps.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from steerflow.api.context import Context
from steerflow.api.core import core_handlers
from steerflow.api.resource import ResourceHandler
from steerflow.api.sfc import sfc_handlers
from steerflow.compiler.compile import compile_nb
from steerflow.demo.plug import plug_function, plug_vm
from steerflow.demo.procs import AgentProcess as AgentProcess  # re-exported: tests annotate with it
from steerflow.demo.procs import start_agent
from steerflow.lab import ChassisHandle, FunctionHandle, Lab, VmHandle
from steerflow.model import schema
from steerflow.nbdb.api import NorthboundStore
from steerflow.nbdb.embedded import EmbeddedStore
from steerflow.nbdb.status import wait_applied
from steerflow.southbound.ovsdb import TUNNEL_OFPORT
from tests.builders.lab_fixtures import LabFactory

ADMIN = Context.admin()
APPLY_TIMEOUT = 30.0
T = TypeVar("T")
METRICS_PORT = 9464  # each agent's /metrics, on its chassis' loopback (`scrape_metrics`)
RETIRE_GRACE = 1.0  # what changed chains stop using lingers this long (`compiler.rollout`)


@dataclass
class Fabric:
    lab: Lab
    workdir: Path
    store: NorthboundStore
    handlers: dict[str, ResourceHandler] = field(default_factory=dict)
    chassis: dict[str, ChassisHandle] = field(default_factory=dict)
    agents: dict[str, AgentProcess] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)  # chassis -> HOST:PORT of its agent's /metrics
    agent_args: tuple[str, ...] = ()  # more `steerflow agent` options, e.g. ("--heartbeat", "0.5")
    nb: str = ""  # the NB URL of `store` when it is not the embedded store in `workdir`

    @property
    def nb_url(self) -> str:
        return self.nb or f"file://{self.workdir / 'nb.db'}"

    # ---- chassis and agents --------------------------------------------------------------------

    def add_chassis(self, name: str, underlay_ip: str) -> ChassisHandle:
        handle = self.lab.add_chassis(name, underlay_ip, create_br_int=False)
        self.chassis[name] = handle
        self.start_agent(name)
        return handle

    def start_agent(self, name: str) -> AgentProcess:
        log = self.workdir / f"agent-{name}.log"
        self.metrics.setdefault(name, f"127.0.0.1:{METRICS_PORT}")  # in the chassis' namespace
        extra = ("--retire-grace", str(RETIRE_GRACE), "--metrics", self.metrics[name], *self.agent_args)
        agent = start_agent(self.chassis[name], self.nb_url, log, extra=extra)
        self.agents[name] = agent
        return agent

    def stop_agents(self) -> None:
        for agent in self.agents.values():
            agent.stop()

    # ---- NB objects ------------------------------------------------------------------------------

    def create(self, resource: str, **body: Any) -> dict[str, Any]:
        return self.handlers[resource].create(ADMIN, body)

    def delete(self, resource: str, id: str) -> None:
        self.handlers[resource].delete(ADMIN, id)

    def client_and_server(self, cidr: str = "203.0.113.0/24") -> tuple[dict[str, Any], VmHandle, VmHandle]:
        """The SFC suites' world: chassis ch1-ch3, network "net", a client VM on ch1 and a server VM on
        ch3 (functions go where each test wants them)."""
        for i in (1, 2, 3):
            self.add_chassis(f"ch{i}", f"198.51.100.{10 + i}")
        net = self.network("net", cidr)
        return net, self.plug_vm("ch1", "client", net), self.plug_vm("ch3", "server", net)

    def network(self, name: str, *cidrs: str) -> dict[str, Any]:
        net = self.create(schema.NETWORK, name=name)
        for cidr in cidrs:
            self.create(schema.SUBNET, network_id=net["id"], cidr=cidr, ip_version=6 if ":" in cidr else 4)
        return net

    def plug_vm(self, chassis: str, name: str, network: dict[str, Any], **port: Any) -> VmHandle:
        """An NB port on `network`, and a VM namespace on `chassis` wearing its MAC and address."""
        nb_port = self.create(schema.PORT, network_id=network["id"], name=name, device_id=name, **port)
        vm = plug_vm(self.lab, self.chassis[chassis], name, nb_port)
        self.wait_bound(nb_port["id"], chassis)
        return vm

    def plug_function(
        self,
        chassis: str,
        name: str,
        network: dict[str, Any],
        *,
        correlation: str | None = None,
        add: int = 1,
        weight: int = 1,
        nat_udp_dst: int = 0,
        bridge: bool = False,
    ) -> tuple[FunctionHandle, dict[str, Any]]:
        """A service function instance: NB ingress and egress ports, the emulator wearing their MACs and
        addresses on `chassis`, and its port pair (`correlation` None: SFC-unaware; `nat_udp_dst`: it
        moves UDP destination ports up, like a NAT)."""
        nb_in, nb_out = (
            self.create(schema.PORT, network_id=network["id"], name=f"{name}-{side}", device_id=name)
            for side in ("in", "out")
        )
        fn = plug_function(
            self.lab, self.chassis[chassis], name, nb_in, nb_out, mode=correlation or "unaware", add=add,
            nat_udp_dst=nat_udp_dst,
            bridge=bridge,
        )  # fmt: skip
        for port in (nb_in, nb_out):
            self.wait_bound(port["id"], chassis)
        params = {"correlation": correlation, "weight": weight}
        pair = self.create(
            schema.PORT_PAIR,
            name=name,
            ingress=nb_in["id"],
            egress=nb_out["id"],
            service_function_parameters=params,
        )
        return fn, pair

    def wait_bound(self, port_id: str, chassis: str, timeout: float = APPLY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rec = self.store.get(schema.PORT_BINDING, port_id)
            if rec is not None and rec.value.get(schema.CHASSIS) == chassis:
                return
            time.sleep(0.05)
        raise AssertionError(f"port {port_id} not bound on {chassis} after {timeout}s\n{self.agent_logs()}")

    def wait_applied(self, timeout: float = APPLY_TIMEOUT) -> int:
        """Every chassis has installed the NB as it is now; returns that revision."""
        revision = self.store.revision()
        result = wait_applied(self.store, revision, timeout)
        assert result.done, f"revision {revision} not applied by {result.lagging}\n{self.agent_logs()}"
        return revision

    def assert_switches_hold_compiled_state(self) -> None:
        """Each switch holds exactly what the compiler computes from the NB now: no stale flow remains
        once what changed chains stopped using has had its grace (`RETIRE_GRACE`)."""
        _rev, records = self.store.snapshot()
        objects: dict[str, dict[str, Any]] = {}
        for rec in records:
            objects.setdefault(rec.kind, {})[rec.id] = rec.value
        for name, ch in self.chassis.items():
            compiled = sorted(
                _flow_identity(str(f)) for f in compile_nb(objects, name, TUNNEL_OFPORT).flows.values()
            )
            installed = after_grace(lambda ch=ch: _installed_flows(ch), compiled)  # type: ignore[misc]
            assert compiled and installed == compiled, f"{name} differs from the compiler's output"

    def scrape_metrics(self, name: str) -> str:
        """The text of chassis `name`'s agent's /metrics, fetched inside its namespace."""
        url = f"http://{self.metrics[name]}/metrics"
        read = f"urllib.request.urlopen({url!r}, timeout=5).read().decode()"
        fetch = f"import sys, urllib.request; sys.stdout.write({read})"
        argv = ["ip", "netns", "exec", self.chassis[name].netns, sys.executable, "-c", fetch]
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=20).stdout

    def agent_logs(self) -> str:
        return "\n".join(f"--- agent {n} ---\n{a.log_text()[-4000:]}" for n, a in self.agents.items())


def after_grace(read: Callable[[], T], expected: T) -> T:
    """`read()` once it equals `expected`, or as it is when what changed chains stopped using has had
    its grace (`RETIRE_GRACE`) and a margin: the switches' flows, compared by the caller."""
    deadline = time.monotonic() + RETIRE_GRACE + APPLY_TIMEOUT / 3
    while (found := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _installed_flows(ch: ChassisHandle) -> list[str]:
    return sorted(_flow_identity(line) for line in ch.dump_flows() if "priority=" in line)


def _flow_identity(flow: str) -> str:
    """Cookie, table and priority: what identifies a flow in both listings, field spelling aside."""
    fields = dict(part.split("=", 1) for part in flow.replace(" ", ",").split(",") if "=" in part)
    return f"{int(fields['cookie'], 16):#x}/{fields.get('table', '0')}/{fields['priority']}"


@pytest.fixture
def fabric(lab: LabFactory, tmp_path: Path) -> Iterator[Fabric]:
    store = EmbeddedStore(tmp_path / "nb.db")
    handlers = {h.resource: h for h in [*core_handlers(store), *sfc_handlers(store)]}
    built = Fabric(lab(), tmp_path, store, handlers)
    try:
        yield built
    finally:
        built.stop_agents()
        store.close()
