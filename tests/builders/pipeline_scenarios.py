"""NB scenarios covering what the compiler compiles, for tests that hold every compiled flow to a rule.

`World` builds NB documents (networks, ports bound on chassis, functions as port pairs, groups,
classifiers, chains with their labels); `scenarios()` is the set: the L2 fabric, classifiers of every
field, MPLS and NSH (MD1, MD2) chains over SFC-aware and unaware functions on the classifying chassis
and elsewhere, symmetric chains, functions shared by chains, load balancing, taps, incomplete models,
service graphs.
`compiled_states` compiles a scenario on every chassis; `rollout_states` steps a chain change through
the make-before-break views (pending, retiring) the agent compiles.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from steerflow.compiler.compile import ChassisCompiler, DesiredState, compile_nb
from steerflow.compiler.rollout import RolloutTimes
from steerflow.model import schema
from tests.builders.classification import stored_terms

Docs = dict[str, dict[str, dict[str, Any]]]
CHASSIS = ("ch1", "ch2", "ch3")
TUNNEL = 100
PROJECT = "p1"
HEADERS = ("mpls", "nsh", "nsh-md2")  # a chain's correlation; nsh-md2 is NSH with nsh_md_type 2


@dataclass(frozen=True)
class Scenario:
    name: str
    docs: Docs


@dataclass
class World:
    """NB documents under construction; keys, ofports and labels are allocated in order."""

    docs: Docs = field(default_factory=dict)
    _port_key: int = 0
    _pair_key: int = 0
    _chain_number: int = 0

    def __post_init__(self) -> None:
        self.docs[schema.CHASSIS] = {
            c: {"name": c, "underlay_ip": f"198.51.100.{11 + i}"} for i, c in enumerate(CHASSIS)
        }
        self.network("net-a", 10)

    def add(self, kind: str, doc: dict[str, Any]) -> str:
        self.docs.setdefault(kind, {})[str(doc["id"])] = doc
        return str(doc["id"])

    def network(self, nid: str, key: int) -> str:
        return self.add(schema.NETWORK, {"id": nid, schema.SEGMENTATION_ID: key})

    def port(
        self,
        pid: str,
        chassis: str | None = "ch1",
        *,
        network: str = "net-a",
        ips: Sequence[str] = (),
        security: bool = True,
        project: str = PROJECT,
    ) -> str:
        """A port bound on `chassis` (None: unbound); its key is also its ofport."""
        self._port_key += 1
        key = self._port_key
        addresses = ips or (f"203.0.113.{key}",)
        self.add(schema.PORT, {
            "id": pid, "network_id": network, schema.TUNNEL_KEY: key,
            "mac_address": f"02:00:00:00:01:{key:02x}",
            "fixed_ips": [{"subnet_id": "s", "ip_address": ip} for ip in addresses],
            "port_security_enabled": security, "project_id": project,
        })  # fmt: skip
        if chassis is not None:
            self.add(schema.PORT_BINDING, {"id": pid, "port_id": pid, schema.CHASSIS: chassis, "ofport": key})
        return pid

    def function(
        self, name: str, chassis: str, correlation: str | None, *, weight: int = 1, one_port: bool = False
    ) -> str:
        """A function instance (a port pair) on `chassis`, aware of `correlation` (None: unaware)."""
        ingress = self.port(f"{name}-in", chassis)
        egress = ingress if one_port else self.port(f"{name}-out", chassis)
        self._pair_key += 1
        params = {"correlation": correlation, "weight": weight}
        return self.add(schema.PORT_PAIR, {
            "id": name, "ingress": ingress, "egress": egress, schema.PAIR_KEY: self._pair_key,
            "service_function_parameters": params,
        })  # fmt: skip

    def group(
        self, gid: str, pairs: Sequence[str], lb_fields: Sequence[str] = (), *, tap: bool = False
    ) -> str:
        params = {"lb_fields": list(lb_fields)}
        return self.add(
            schema.PORT_PAIR_GROUP,
            {"id": gid, "port_pairs": list(pairs), "port_pair_group_parameters": params, "tap_enabled": tap},
        )

    def classifier(self, fid: str, **attrs: Any) -> str:
        return self.add(schema.FLOW_CLASSIFIER, {"id": fid, "ethertype": "IPv4", **attrs})

    def chain(
        self, cid: str, groups: Sequence[str], classifiers: Sequence[str], header: str = "mpls",
        *, symmetric: bool = False,
    ) -> str:  # fmt: skip
        """A chain with labels as the API allocates them (hops, exit; symmetric: the reverse ones too)."""
        self._chain_number += 1
        base = 1000 * self._chain_number
        params: dict[str, Any] = {"correlation": "nsh" if header.startswith("nsh") else header}
        if header == "nsh-md2":
            params["nsh_md_type"] = 2
        if symmetric:
            params["symmetric"] = True
        doc: dict[str, Any] = {
            "id": cid, "chain_id": self._chain_number, "port_pair_groups": list(groups),
            "flow_classifiers": list(classifiers), "chain_parameters": params, "project_id": PROJECT,
            schema.HOP_LABELS: {g: base + i for i, g in enumerate(groups)}, schema.EXIT_LABEL: base + 99,
        }  # fmt: skip
        if symmetric:
            doc[schema.REVERSE_HOP_LABELS] = {g: base + 500 + i for i, g in enumerate(groups)}
            doc[schema.REVERSE_EXIT_LABEL] = base + 599
        return self.add(schema.PORT_CHAIN, doc)

    def ends(self) -> tuple[str, str]:
        """A client on ch1 and a server on ch2."""
        return self.port("client", "ch1"), self.port("server", "ch2")


def _aware(header: str) -> str:
    return "nsh" if header.startswith("nsh") else header


def l2() -> Scenario:
    world = World()
    world.network("net-b", 20)
    world.port("v4", "ch1")
    world.port("v6", "ch1", ips=("2001:db8::5",), network="net-b")
    world.port("dual", "ch2", ips=("203.0.113.50", "2001:db8::50"), network="net-b")
    world.port("open", "ch1", security=False)
    world.port("far", "ch3")
    world.port("unbound", None)
    return Scenario("l2", world.docs)


def single_hop(header: str, aware: bool, where: str) -> Scenario:
    """client (ch1) -> one function on `where` -> server (ch2), UDP from the client."""
    world = World()
    client, _ = world.ends()
    world.group("g", [world.function("f", where, _aware(header) if aware else None)])
    world.chain("c", ["g"], [world.classifier("fc", protocol="udp", logical_source_port=client)], header)
    kind = "aware" if aware else "unaware"
    return Scenario(f"single-hop/{header}/{kind}/{where}", world.docs)


def four_hops(header: str) -> Scenario:
    """Aware and unaware functions, on the classifying chassis and elsewhere, in one chain: unaware
    hops that others follow are tracked (NSH), MD2 ones too, and remote ones see tunnelled arrivals."""
    world = World()
    client, _ = world.ends()
    hops = []
    for aware in (True, False):
        for where in ("ch1", "ch2"):
            name = f"{'a' if aware else 'u'}-{where}"
            hops.append(
                world.group(f"g-{name}", [world.function(name, where, _aware(header) if aware else None)])
            )
    fc = world.classifier("fc", protocol="tcp", logical_source_port=client)
    world.chain("c", hops, [fc], header)
    return Scenario(f"four-hops/{header}", world.docs)


def taps(header: str) -> Scenario:
    """Taps first (aware, on the classifying chassis), between inline functions (unaware, elsewhere)
    and last (aware, on a third chassis), in a symmetric chain: clones to every kind of tap delivery
    (pushed, carried, plain), drops."""
    world = World()
    client, server = world.ends()
    groups = [
        world.group("t-first", [world.function("t1", "ch1", _aware(header))], tap=True),
        world.group("g-u", [world.function("u", "ch1", None)]),
        world.group("t-middle", [world.function("t2", "ch2", None)], tap=True),
        world.group("g-a", [world.function("a", "ch2", _aware(header))]),
        world.group("t-last", [world.function("t3", "ch3", _aware(header))], tap=True),
    ]
    fc = world.classifier("fc", protocol="udp", logical_source_port=client, logical_destination_port=server)
    world.chain("c", groups, [fc], header, symmetric=True)
    return Scenario(f"taps/{header}", world.docs)


def classifiers() -> Scenario:
    """One chain, classifiers of every field: prefixes, protocols, port ranges, logical ports, IPv6."""
    world = World()
    client, server = world.ends()
    world.port("other", "ch1")
    world.port("stranger", "ch1", project="p2")  # another project's port: never classified for p1
    fcs = [
        world.classifier("v4-tcp", protocol="tcp", logical_source_port=client,
                         source_ip_prefix="203.0.113.0/24", destination_ip_prefix="198.51.100.7/32",
                         source_port_range_min=1000, source_port_range_max=1999,
                         destination_port_range_min=80, destination_port_range_max=80),
        world.classifier("v4-udp", protocol="udp", logical_source_port=client,
                         destination_port_range_min=5000, destination_port_range_max=5100),
        world.classifier("v4-icmp", protocol="icmp", logical_source_port=client,
                         source_ip_prefix="0.0.0.0/0"),
        world.classifier("v4-any", logical_source_port=client, logical_destination_port=server),
        world.classifier("v6-tcp", ethertype="IPv6", protocol="tcp", logical_source_port=client,
                         source_ip_prefix="2001:db8::/64", destination_ip_prefix="2001:db8:1::/48",
                         destination_port_range_min=1, destination_port_range_max=65534),
        world.classifier("v6-udp", ethertype="IPv6", protocol="udp", logical_source_port=client,
                         source_port_range_min=53, source_port_range_max=53),
        world.classifier("v6-icmp", ethertype="IPv6", protocol="icmp", logical_source_port=client),
        world.classifier("v6-any", ethertype="IPv6", logical_source_port=client),
        world.classifier("project-wide", protocol="udp", destination_port_range_min=7,
                         destination_port_range_max=7),
        world.classifier("to-server", protocol="tcp", logical_destination_port=server),
        world.classifier("gone-destination", protocol="tcp", logical_destination_port="no-such-port"),
    ]  # fmt: skip
    world.group("g", [world.function("f", "ch2", None)])
    world.chain("c", ["g"], fcs)
    return Scenario("classifiers", world.docs)


def classification_groups() -> Scenario:
    """One chain whose classifiers use classification groups: MACs, VLAN, DSCP, ECN, TCP flags."""
    world = World()
    client, _server = world.ends()
    other = world.port("other", "ch1")
    marked = stored_terms(
        "OR",
        ("ethernet", {"src_addr": "02:00:00:00:00:aa", "vlan_id": 10}),
        ("ipv4", {"dscp": 46, "ecn": 1}),
    )
    syn = stored_terms("AND", ("tcp", {"flags": 0x002, "flags_mask": 0x012}), ("tcp", {"dst_port_min": 80}))
    fcs = [
        world.classifier("marked", logical_source_port=client, classification_group_id="cg-marked",
                         **{schema.MATCH_TERMS: marked}),
        world.classifier("syn", protocol="tcp", logical_source_port=other, classification_group_id="cg-syn",
                         **{schema.MATCH_TERMS: syn}),
    ]  # fmt: skip
    world.group("g", [world.function("f", "ch2", None)])
    world.chain("c", ["g"], fcs, symmetric=True)  # the reverse direction swaps the groups' fields
    return Scenario("classification-groups", world.docs)


def symmetric(header: str) -> Scenario:
    """A symmetric chain: a balanced aware group, then an unaware function; to the server's port 7."""
    world = World()
    client, server = world.ends()
    pairs = [world.function(f"a{i}", where, _aware(header)) for i, where in enumerate(("ch1", "ch2"))]
    world.group("g1", pairs, lb_fields=("ip_src", "ip_dst"))
    world.group("g2", [world.function("u", "ch2", None)])
    fc = world.classifier("fc", protocol="udp", logical_source_port=client, logical_destination_port=server,
                          destination_port_range_min=7, destination_port_range_max=7)  # fmt: skip
    world.chain("c", ["g1", "g2"], [fc], header, symmetric=True)
    return Scenario(f"symmetric/{header}", world.docs)


def shared() -> Scenario:
    """One unaware function shared by chains of every header (tracked), then a function of each chain."""
    world = World()
    client, _ = world.ends()
    world.group("g-shared", [world.function("sh", "ch2", None)])
    for port, header in enumerate(HEADERS, start=7):
        own = world.group(f"g-{header}", [world.function(f"f-{header}", "ch1", _aware(header))])
        fc = world.classifier(f"fc-{header}", protocol="udp", logical_source_port=client,
                              destination_port_range_min=port, destination_port_range_max=port)  # fmt: skip
        world.chain(f"c-{header}", ["g-shared", own], [fc], header)
    return Scenario("shared", world.docs)


def balance() -> Scenario:
    """Groups of several weighted instances on several chassis, hashing every kind of lb_fields."""
    world = World()
    client, _ = world.ends()
    lb_choices: tuple[tuple[str, ...], ...] = (
        (), ("eth_src",), ("ip_src",), ("ip_dst", "udp_dst"), ("eth_src", "udp_src"),
    )  # fmt: skip
    groups = []
    for g, lb_fields in enumerate(lb_choices):
        pairs = [
            world.function(f"f{g}-{i}", CHASSIS[i], None if i == 2 else "mpls", weight=i)  # weight 0: drained
            for i in range(3)
        ]
        groups.append(
            world.group(f"g{g}", [*pairs, world.function(f"f{g}-3", "ch1", "mpls", weight=3)], lb_fields)
        )
    world.chain("c", groups, [world.classifier("fc", protocol="udp", logical_source_port=client)])
    return Scenario("balance", world.docs)


def odd_shapes() -> Scenario:
    """One-port functions, a function shared by two hops of one chain, and an inert chain."""
    world = World()
    client, _ = world.ends()
    world.group("g-one", [world.function("one", "ch1", None, one_port=True)])
    world.group("g-twice", [world.function("twice", "ch2", "nsh")])
    fc = world.classifier("fc", protocol="udp", logical_source_port=client)
    world.chain("c", ["g-one", "g-twice"], [fc], "nsh")
    world.group("g-empty", ["no-such-pair"])
    world.chain(
        "inert", ["g-empty"], [world.classifier("fc-inert", protocol="tcp", logical_source_port=client)]
    )
    return Scenario("odd-shapes", world.docs)


def scenarios() -> list[Scenario]:
    """Every scenario: the set a rule over compiled flows must hold for."""
    found = [l2(), classifiers(), classification_groups(), shared(), balance(), odd_shapes()]
    from tests.builders.graph_docs import graph_scenario  # it builds on `World`

    for header in HEADERS:
        found += [four_hops(header), symmetric(header), taps(header), graph_scenario(header)]
        found += [single_hop(header, aware, where) for aware in (True, False) for where in ("ch1", "ch2")]
    return found


def compiled_states(scenario: Scenario) -> Iterator[tuple[str, DesiredState]]:
    """The scenario compiled from scratch on every chassis: (chassis, state)."""
    for chassis in CHASSIS:
        yield chassis, compile_nb(scenario.docs, chassis, TUNNEL)


def rollout_states(header: str) -> Iterator[tuple[str, DesiredState]]:
    """A chain moved to functions on other chassis, compiled as the agent does on every chassis: the
    new view pending (waiting for reports), then in force with the old one retiring, then settled."""
    before = four_hops(header).docs
    after = _moved(before)
    times = RolloutTimes(ready_timeout=5.0, grace=2.0)
    for chassis in CHASSIS:
        compiler = ChassisCompiler(chassis, TUNNEL, times=times)
        compiler.compile(before, revision=1, now=0.0)
        compiler.compile(after, revision=2, now=1.0)
        assert compiler.waiting or chassis == "ch3", f"{chassis} put the moved chain in force at once"
        yield f"{chassis} pending", compiler.state
        reports = {c: {"id": c, "applied_revision": 2, "installed_revision": 2} for c in CHASSIS}
        reported = {**after, schema.CHASSIS_STATUS: reports}
        compiler.compile(reported, revision=2, now=1.5)
        yield f"{chassis} retiring", compiler.state
        compiler.compile(reported, revision=2, now=10.0)
        yield f"{chassis} settled", compiler.state


def _moved(docs: Docs) -> Docs:
    """The chain of `four_hops` with its hops reversed and every function bound on ch3."""
    after = {kind: {id: dict(doc) for id, doc in values.items()} for kind, values in docs.items()}
    for port_id, binding in after[schema.PORT_BINDING].items():
        if port_id not in ("client", "server"):
            binding[schema.CHASSIS] = "ch3"
    chain = after[schema.PORT_CHAIN]["c"]
    chain["port_pair_groups"] = chain["port_pair_groups"][::-1]
    return after
