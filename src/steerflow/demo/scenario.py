"""The demo scenario: echo replies doctored by a service function, before and after a chain exists.

Chassis ch1 hosts the VM `client`; ch2 hosts the VM `server` (a UDP echo server on port 7) and the
service function `doctor` (an emulator adding 1 to each payload byte). Every NB object is created through
the REST API; writes that traffic depends on use `?wait`, so no datagram leaves before every chassis has
applied them. The classifier picks the echo *replies* (UDP from the server's port, source port 7): with
the chain, the server's answers cross `doctor` on their way back to the client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from steerflow.client import RESOURCES, JsonDict, SteerflowClient
from steerflow.demo.echo_service import ECHO_PORT, EchoServer, ask
from steerflow.demo.plug import plug_function, plug_vm
from steerflow.demo.world import DemoWorld
from steerflow.lab import FunctionHandle, VmHandle
from steerflow.model import schema

CHASSIS = (("ch1", "198.51.100.11"), ("ch2", "198.51.100.12"))
SUBNET = "203.0.113.0/24"
ADDRESSES = {"client": "203.0.113.10", "server": "203.0.113.20", "doctor-in": "203.0.113.31",
             "doctor-out": "203.0.113.32"}  # fmt: skip
NAMES = {"net": "demo-net", "sub": "demo-subnet", "pair": "doctor", "group": "doctors",
         "classifier": "echo-replies", "chain": "doctor-replies"}  # fmt: skip
DEFAULT_MESSAGES = ("hello steerflow", "HAL 9000", "echo 42")
APPLY_WAIT = 25.0  # seconds the API may hold a write until every chassis applied it
BIND_TIMEOUT = 30.0
ADD = 1  # what the doctor adds to each payload byte


class DemoError(RuntimeError):
    """A demo step did not do what it should; the message says what and where to look."""


@dataclass(frozen=True)
class Variant:
    """How the chain is encapsulated and whether the function understands that encapsulation."""

    encap: str  # the chain's correlation
    function_mode: str  # sfemu mode: unaware, mpls, nsh
    pair_correlation: str | None  # the port pair's service_function_parameters.correlation

    @property
    def description(self) -> str:
        if self.pair_correlation is None:
            return f"{self.encap.upper()} chain, SFC-unaware function (the forwarder proxies it)"
        return f"{self.encap.upper()} chain, {self.encap.upper()}-aware function"


def variant(encap: str | None) -> Variant:
    """No `--encap`: an MPLS chain through an unaware function; `mpls`/`nsh`: an aware function."""
    if encap is None:
        return Variant("mpls", "unaware", None)
    return Variant(encap, encap, encap)


@dataclass(frozen=True)
class Applied:
    revision: int
    done: bool
    lagging: str


class DemoClient(SteerflowClient):
    """The API client, plus writes that wait until every chassis applied them (`?wait`)."""

    def create_applied(self, kind: str, body: JsonDict, wait: float = APPLY_WAIT) -> tuple[JsonDict, Applied]:
        res = RESOURCES[kind]
        response = self._request(
            "POST", res.path, params={"wait": f"{wait:g}"}, json_body={res.singular: body}, timeout=wait + 10
        )
        headers = response.headers
        applied = Applied(
            int(headers.get("X-Steerflow-Revision", "0")),
            headers.get("X-Steerflow-Applied") == "true",
            headers.get("X-Steerflow-Lagging", ""),
        )
        return dict(response.json()[res.singular]), applied


def doctored(payload: bytes, add: int = ADD) -> bytes:
    return bytes((b + add) % 256 for b in payload)


@dataclass
class Result:
    """What the client sent and the replies it got, without and with the chain."""

    messages: list[bytes]
    without_chain: list[bytes | None] = field(default_factory=list)
    with_chain: list[bytes | None] = field(default_factory=list)
    chain: JsonDict = field(default_factory=dict)

    @property
    def plain_ok(self) -> bool:
        return self.without_chain == self.messages

    @property
    def doctored_ok(self) -> bool:
        return self.with_chain == [doctored(m) for m in self.messages]


Step = tuple[str, Callable[[], str]]


@dataclass
class Scenario:
    """The demo, as steps that each return one line saying what they did."""

    world: DemoWorld
    variant: Variant
    messages: Sequence[bytes]
    client: DemoClient | None = None
    ports: dict[str, JsonDict] = field(default_factory=dict)
    vms: dict[str, VmHandle] = field(default_factory=dict)
    doctor: FunctionHandle | None = None
    echo: EchoServer | None = None
    result: Result = field(init=False)

    def __post_init__(self) -> None:
        self.result = Result(list(self.messages))

    def steps(self) -> list[Step]:
        return [
            ("Start the API on a fresh embedded store", self.start_api),
            ("Build the lab: 2 chassis, each running a steerflow agent", self.build_lab),
            ("Create the network, the subnet and 4 ports through the REST API", self.create_ports),
            ("Plug the VMs and the service function into their chassis", self.plug),
            ("Start the UDP echo server in the server VM", self.start_echo),
            ("Create the port pair and its group (service function doctor)", self.create_pair),
            ("Send datagrams to the echo server, no chain yet", self.send_without_chain),
            ("Create the flow classifier and the port chain", self.create_chain),
            ("Send the same datagrams again, through the chain", self.send_with_chain),
        ]

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    # ---- the steps -------------------------------------------------------------------------------

    def start_api(self) -> str:
        api = self.world.start_api()
        self.client = DemoClient(api.endpoint)
        return (
            f"API ready at {api.endpoint} (pid {api.pid}), store {self.world.paths.nb_url}; "
            f"live web view at {api.endpoint}/ui/"
        )

    def build_lab(self) -> str:
        for name, underlay_ip in CHASSIS:
            self.world.add_chassis(name, underlay_ip)
        agents = ", ".join(f"{name} pid {a.pid}" for name, a in self.world.agents.items())
        return f"lab {self.world.paths.prefix}: chassis {_chassis_list()}; agents {agents}"

    def create_ports(self) -> str:
        api = self._api()
        net = api.create(schema.NETWORK, {"name": NAMES["net"]})
        subnet = api.create(schema.SUBNET, {"name": NAMES["sub"], "network_id": net["id"],
                                            "cidr": SUBNET, "ip_version": 4})  # fmt: skip
        for name, ip in ADDRESSES.items():
            body = {"name": name, "network_id": net["id"], "device_id": name.split("-")[0],
                    "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": ip}]}  # fmt: skip
            self.ports[name] = api.create(schema.PORT, body)
        listed = ", ".join(f"{n} {ip}" for n, ip in ADDRESSES.items())
        return f"network {NAMES['net']}, subnet {SUBNET}, ports {listed}"

    def plug(self) -> str:
        lab, ports = self.world.lab, self.ports
        self.vms["client"] = plug_vm(lab, "ch1", "client", ports["client"])
        self.vms["server"] = plug_vm(lab, "ch2", "server", ports["server"])
        self.doctor = plug_function(
            lab, "ch2", "doctor", ports["doctor-in"], ports["doctor-out"], mode=self.variant.function_mode
        )
        self._wait_bound()
        # after the agents made br-int and its tunnel port: only then does the datapath learn underlay MACs
        self.world.lab.warm_underlay()
        return (
            f"client on ch1, server on ch2, doctor on ch2 ({self.variant.function_mode}, +{ADD} per "
            f"payload byte, pid {self.doctor.pid}); the agents bound all 4 ports; underlay warmed"
        )

    def start_echo(self) -> str:
        server = self.vms["server"]
        self.echo = EchoServer.start(server, self.world.paths.log("echo-server"))
        self.world.adopt("echo server", self.echo, "steerflow.demo.echo")
        return f"listening on {server.ipv4}:{ECHO_PORT} in {server.netns} (pid {self.echo.pid})"

    def create_pair(self) -> str:
        api, ports = self._api(), self.ports
        params = {"correlation": self.variant.pair_correlation, "weight": 1}
        pair = api.create(schema.PORT_PAIR, {"name": NAMES["pair"], "ingress": ports["doctor-in"]["id"],
                                        "egress": ports["doctor-out"]["id"],
                                        "service_function_parameters": params})  # fmt: skip
        _, applied = self.applied(
            schema.PORT_PAIR_GROUP, {"name": NAMES["group"], "port_pairs": [pair["id"]]}
        )
        self.vms["client"].wait_ping(self.vms["server"].ipv4)
        return (
            f"port pair {NAMES['pair']} in group {NAMES['group']}; applied by every chassis ({_rev(applied)})"
        )

    def send_without_chain(self) -> str:
        self.result.without_chain = self._ask()
        if not self.result.plain_ok:
            raise DemoError(f"without a chain the server's replies should equal what was sent: "
                            f"{self.result.without_chain!r}")  # fmt: skip
        n, forwarded = len(self.messages), self._doctor().counters().forwarded
        return f"{n} datagrams, {n} replies, unchanged; doctor forwarded {forwarded}"

    def create_chain(self) -> str:
        api, ports = self._api(), self.ports
        fc = api.create(schema.FLOW_CLASSIFIER, {
            "name": NAMES["classifier"], "protocol": "udp", "ethertype": "IPv4",
            "source_port_range_min": ECHO_PORT, "source_port_range_max": ECHO_PORT,
            "source_ip_prefix": f"{ADDRESSES['server']}/32",
            "destination_ip_prefix": f"{ADDRESSES['client']}/32",
            "logical_source_port": ports["server"]["id"],
        })  # fmt: skip
        group = api.find(schema.PORT_PAIR_GROUP, NAMES["group"])
        body = {"name": NAMES["chain"], "port_pair_groups": [group["id"]], "flow_classifiers": [fc["id"]],
                "chain_parameters": {"correlation": self.variant.encap}}  # fmt: skip
        self.result.chain, applied = self.applied(schema.PORT_CHAIN, body)
        return (
            f"classifier {NAMES['classifier']} (UDP from the server's port, source port {ECHO_PORT}); chain "
            f"{NAMES['chain']} (chain_id {self.result.chain['chain_id']}, {self.variant.description}); "
            f"applied by every chassis ({_rev(applied)})"
        )

    def send_with_chain(self) -> str:
        self.result.with_chain = self._ask()
        replies = sum(r is not None for r in self.result.with_chain)
        if not self.result.doctored_ok:
            return f"{len(self.messages)} datagrams, {replies} replies, NOT doctored as expected"
        # the replies prove it already; the function's own counters say so too (they lag up to 0.2 s)
        counters = self._doctor().wait_counters(lambda c: c.forwarded >= len(self.messages))
        n = len(self.messages)
        return f"{n} datagrams, {replies} replies, doctored; doctor forwarded {counters.forwarded}"

    def trace_one(self) -> str:
        from steerflow.nbdb.url import open_store
        from steerflow.trace.run import snapshot_docs, summary, trace_path

        store = open_store(self.world.paths.nb_url)
        try:
            docs = snapshot_docs(store)
        finally:
            store.close()
        server, client = self.ports["server"]["id"], self.ports["client"]["id"]
        described, _ = trace_path(docs, server, client, sport=ECHO_PORT, dport=40000)
        command = f"steerflow trace --nb {self.world.paths.nb_url} --from server --to client"
        return f"{summary(described, docs)} (the whole path: {command} --sport {ECHO_PORT})"

    # ---- helpers -----------------------------------------------------------------------------------

    def _api(self) -> DemoClient:
        if self.client is None:
            raise DemoError("the API is not started")
        return self.client

    def _doctor(self) -> FunctionHandle:
        if self.doctor is None:
            raise DemoError("the service function is not plugged")
        return self.doctor

    def _ask(self) -> list[bytes | None]:
        return ask(self.vms["client"], self.vms["server"].ipv4, self.messages)

    def applied(self, kind: str, body: JsonDict) -> tuple[JsonDict, Applied]:
        """Create through the API and wait until every chassis applied it; a DemoError if none did."""
        created, applied = self._api().create_applied(kind, body)
        if not applied.done:
            raise DemoError(
                f"{kind} {body.get('name')} committed at revision {applied.revision} but not applied within "
                f"{APPLY_WAIT:g}s by: {applied.lagging or '?'} (see the agent logs)"
            )
        return created, applied

    def _wait_bound(self, timeout: float = BIND_TIMEOUT) -> None:
        """Until every port is ACTIVE (an agent found its interface and bound it to its chassis)."""
        deadline = time.monotonic() + timeout
        pending = {p["id"] for p in self.ports.values()}
        while pending:
            pending = {id for id in pending if self._api().get(schema.PORT, id)["status"] != "ACTIVE"}
            if pending and time.monotonic() > deadline:
                names = sorted(n for n, p in self.ports.items() if p["id"] in pending)
                raise DemoError(
                    f"ports not bound after {timeout:g}s: {', '.join(names)} (see the agent logs)"
                )
            if pending:
                time.sleep(0.05)


def _chassis_list() -> str:
    return ", ".join(f"{name} ({ip})" for name, ip in CHASSIS)


def _rev(applied: Applied) -> str:
    return f"revision {applied.revision}"
