"""The demo's second scene (`steerflow demo --graph`): a service graph whose branch a NAT selects.

Three more functions, aware of the chains' header: `nat` (ch1) moves the UDP destination port up by
100, `doctor-a` (ch1) adds 1 to each payload byte, `doctor-b` (ch2) adds 2. Chain `front` takes the
client's requests to the server's ports 7 and 8 through `nat`; chains `via-a` (port 107) and `via-b`
(port 108) go through the doctors; echo servers answer on 107 and 108. As separate chains, a request
leaves `front` for port 107 or 108 and its echo comes back unchanged. Once the service graph `fan-out`
links front -> via-a | via-b, the request leaving `nat` enters the branch whose classifier its new port
matches, and the echo says which doctor it crossed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table

from steerflow.client import JsonDict
from steerflow.demo.echo_service import EchoServer, ask
from steerflow.demo.plug import plug_function
from steerflow.demo.render import payload_text
from steerflow.demo.scenario import (
    ADDRESSES,
    DemoClient,
    DemoError,
    Scenario,
    Step,
    doctored,
)
from steerflow.lab import FunctionHandle
from steerflow.model import schema

NAT_STEP = 100


@dataclass(frozen=True)
class Branch:
    """One destination chain: the port the client asks, its function, where it runs, what it adds."""

    asked: int
    chain: str
    function: str
    chassis: str
    add: int

    @property
    def port(self) -> int:
        """The port the request has after `nat`, which the branch's classifier matches."""
        return self.asked + NAT_STEP


BRANCHES = (Branch(7, "via-a", "doctor-a", "ch1", 1), Branch(8, "via-b", "doctor-b", "ch2", 2))
FUNCTIONS = {"nat": ("ch1", 0, NAT_STEP), **{b.function: (b.chassis, b.add, 0) for b in BRANCHES}}
GRAPH_ADDRESSES = {
    f"{name}-{side}": f"203.0.113.{41 + 2 * i + j}"
    for i, name in enumerate(FUNCTIONS)
    for j, side in enumerate(("in", "out"))
}
GRAPH_NAMES = {"front": "front", "graph": "fan-out"}


@dataclass
class GraphResult:
    """The echoes per asked port, with the chains separate and linked by the graph."""

    messages: list[bytes]
    unlinked: dict[int, list[bytes | None]] = field(default_factory=dict)
    linked: dict[int, list[bytes | None]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(
            self.unlinked.get(b.asked) == self.messages
            and self.linked.get(b.asked) == [doctored(m, b.add) for m in self.messages]
            for b in BRANCHES
        )


@dataclass
class GraphScene:
    """The scene's steps, on the world and API of the first scene."""

    scenario: Scenario
    functions: dict[str, FunctionHandle] = field(default_factory=dict)
    pairs: dict[str, JsonDict] = field(default_factory=dict)
    chains: dict[str, JsonDict] = field(default_factory=dict)
    result: GraphResult = field(init=False)

    def __post_init__(self) -> None:
        self.result = GraphResult(list(self.scenario.messages))

    def steps(self) -> list[Step]:
        return [
            ("Graph scene: plug nat (ch1, UDP port +100), doctor-a (ch1, +1) and doctor-b (ch2, +2)",
             self.plug),
            ("Start echo servers on the server's ports 107 and 108", self.start_echo),
            ("Create the chains front (ports 7-8, through nat), via-a (port 107), via-b (port 108)",
             self.create_chains),
            ("Ask ports 7 and 8: separate chains, so the echoes come back unchanged", self.ask_unlinked),
            ("Create the service graph fan-out: front -> via-a | via-b", self.create_graph),
            ("Ask ports 7 and 8 again: each request took the branch its new port selects", self.ask_linked),
        ]  # fmt: skip

    # ---- the steps -------------------------------------------------------------------------------

    def plug(self) -> str:
        scenario = self.scenario
        api, lab = self._api(), scenario.world.lab
        client = scenario.ports["client"]
        net, subnet = client["network_id"], client["fixed_ips"][0]["subnet_id"]
        mode = scenario.variant.encap  # a graph's branch points need functions aware of the header
        for name, (chassis, add, nat) in FUNCTIONS.items():
            ports = [
                api.create(schema.PORT, {"name": f"{name}-{side}", "network_id": net, "device_id": name,
                                         "fixed_ips": [{"subnet_id": subnet,
                                                        "ip_address": GRAPH_ADDRESSES[f"{name}-{side}"]}]})
                for side in ("in", "out")
            ]  # fmt: skip
            self.functions[name] = plug_function(
                lab, chassis, name, ports[0], ports[1], mode=mode, add=add, nat_udp_dst=nat
            )
            params = {"correlation": mode, "weight": 1}
            self.pairs[name] = api.create(schema.PORT_PAIR, {
                "name": name, "ingress": ports[0]["id"], "egress": ports[1]["id"],
                "service_function_parameters": params,
            })  # fmt: skip
        return f"6 ports, 3 {mode}-aware functions and their port pairs: " + ", ".join(
            f"{name} on {chassis} (+{add}{f', UDP port +{nat}' if nat else ''})"
            for name, (chassis, add, nat) in FUNCTIONS.items()
        )

    def start_echo(self) -> str:
        scenario, server = self.scenario, self.scenario.vms["server"]
        pids = []
        for branch in BRANCHES:
            echo = EchoServer.start(server, scenario.world.paths.log(f"echo-{branch.port}"), port=branch.port)
            scenario.world.adopt(f"echo server {branch.port}", echo, "steerflow.demo.echo")
            pids.append(f"port {branch.port} pid {echo.pid}")
        return f"on {server.ipv4}: {', '.join(pids)}"

    def create_chains(self) -> str:
        asked = [b.asked for b in BRANCHES]
        self.chains["front"] = self._chain(GRAPH_NAMES["front"], "nat", min(asked), max(asked))
        for branch in BRANCHES:
            self.chains[branch.chain] = self._chain(branch.chain, branch.function, branch.port, branch.port)
        return ", ".join(f"{name} (chain_id {chain['chain_id']})" for name, chain in self.chains.items())

    def ask_unlinked(self) -> str:
        self.result.unlinked = self._ask_all()
        if any(replies != self.result.messages for replies in self.result.unlinked.values()):
            raise DemoError(f"with separate chains the echoes should be unchanged: {self.result.unlinked!r}")
        return "; ".join(f"port {b.asked}: echoed from {b.port}, unchanged" for b in BRANCHES)

    def create_graph(self) -> str:
        front = self.chains["front"]["id"]
        links = {front: [self.chains[b.chain]["id"] for b in BRANCHES]}
        graph, applied = self.scenario.applied(
            schema.SERVICE_GRAPH, {"name": GRAPH_NAMES["graph"], "port_chains": links}
        )
        shape = f"{GRAPH_NAMES['front']} -> {' | '.join(b.chain for b in BRANCHES)}"
        return f"graph {graph['name']}: {shape}; applied by every chassis (revision {applied.revision})"

    def ask_linked(self) -> str:
        self.result.linked = self._ask_all()
        verdicts = []
        for branch in BRANCHES:
            expected = [doctored(m, branch.add) for m in self.result.messages]
            seen = "doctored" if self.result.linked[branch.asked] == expected else "NOT doctored as expected"
            verdicts.append(f"port {branch.asked}: {branch.chain}, {branch.function} +{branch.add}, {seen}")
        return "; ".join(verdicts)

    # ---- helpers -----------------------------------------------------------------------------------

    def _chain(self, name: str, function: str, low: int, high: int) -> JsonDict:
        api, ports = self._api(), self.scenario.ports
        fc = api.create(schema.FLOW_CLASSIFIER, {
            "name": f"{name}-requests", "protocol": "udp", "ethertype": "IPv4",
            "destination_port_range_min": low, "destination_port_range_max": high,
            "source_ip_prefix": f"{ADDRESSES['client']}/32",
            "destination_ip_prefix": f"{ADDRESSES['server']}/32",
            "logical_source_port": ports["client"]["id"],
        })  # fmt: skip
        group = api.create(schema.PORT_PAIR_GROUP, {"name": name, "port_pairs": [self.pairs[function]["id"]]})
        body = {"name": name, "port_pair_groups": [group["id"]], "flow_classifiers": [fc["id"]],
                "chain_parameters": {"correlation": self.scenario.variant.encap}}  # fmt: skip
        chain, _ = self.scenario.applied(schema.PORT_CHAIN, body)
        return chain

    def _api(self) -> DemoClient:
        if self.scenario.client is None:
            raise DemoError("the API is not started")
        return self.scenario.client

    def _ask_all(self) -> dict[int, list[bytes | None]]:
        client, server = self.scenario.vms["client"], self.scenario.vms["server"]
        return {
            b.asked: ask(client, server.ipv4, self.result.messages, port=b.asked, reply_port=b.port)
            for b in BRANCHES
        }


def graph_table(result: GraphResult) -> Table:
    table = Table(title="The service graph fan-out", title_justify="left", show_lines=True)
    for column in ("client asked", "echo, separate chains", "echo through the graph", ""):
        table.add_column(column)
    for branch in BRANCHES:
        for i, sent in enumerate(result.messages):
            plain = _at(result.unlinked.get(branch.asked, []), i)
            linked = _at(result.linked.get(branch.asked, []), i)
            ok = linked == doctored(sent, branch.add)
            verdict = (
                f"[green]{branch.chain}: {branch.function} +{branch.add} per byte[/]"
                if ok
                else f"[red]expected {payload_text(doctored(sent, branch.add))}[/]"
            )
            asked = f"port {branch.asked}: {payload_text(sent)}"
            table.add_row(asked, payload_text(plain), f"[bold]{payload_text(linked)}[/]", verdict)
    return table


def _at(replies: list[bytes | None], i: int) -> bytes | None:
    return replies[i] if i < len(replies) else None
