"""Functions that bridge everything (a transparent firewall, an IPS in bump-in-the-wire mode) on real OVS
across three chassis: floods never reach them, what they emit besides a steered return goes nowhere,
every datagram of the chain arrives once through one instance per group, and br-int stays quiet."""

import pytest

from steerflow.lab import ChassisHandle, FunctionHandle, VmHandle
from steerflow.lab.traffic import udp_flow_datagrams
from steerflow.model import schema
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]

PAYLOAD = b"\x00\x7f\xfe"
FLOWS = 8
NOISE_BOUND = 300  # frames all br-ints may receive while the noise settles: a loop makes 20,000/s
CASES = [
    (None, (3,)),  # the reported layout: one group, one instance per chassis
    (None, (1, 1, 1)),
    (None, (1, 2)),
    ("mpls", (3,)),
    ("mpls", (1, 2)),
    ("nsh", (1, 1, 1)),
]


def _received(chassis: dict[str, ChassisHandle]) -> dict[tuple[str, str], tuple[int, int]]:
    return {(name, port): rx_tx for name, ch in chassis.items() for port, rx_tx in ch.port_packets().items()}


def _delta(
    before: dict[tuple[str, str], tuple[int, int]], after: dict[tuple[str, str], tuple[int, int]]
) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        k: (rx - before.get(k, (0, 0))[0], tx - before.get(k, (0, 0))[1]) for k, (rx, tx) in after.items()
    }


def _make_noise(client: VmHandle, functions: list[FunctionHandle]) -> None:
    """Broadcasts and multicast from a VM and from the functions' own kernels (both their NICs)."""
    client_nic = client.nic
    client.exec(["ping", "-c", "2", "-i", "0.2", "-W", "1", "203.0.113.250"], check=False)  # ARP: nobody's
    client.exec(["ping", "-c", "2", "-i", "0.2", "-W", "1", "-b", "203.0.113.255"], check=False)
    client.exec(["ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", f"ff02::1%{client_nic}"], check=False)
    for fn in functions:
        for nic in {fn.ingress.nic, fn.egress.nic}:
            fn.exec(["ping", "-c", "1", "-W", "1", "-I", nic, "203.0.113.251"], check=False)
            fn.exec(["ping", "-6", "-c", "1", "-W", "1", f"ff02::1%{nic}"], check=False)


@pytest.mark.parametrize(
    ("correlation", "shape"), CASES, ids=[f"{c or 'unaware'}-{'.'.join(map(str, s))}" for c, s in CASES]
)
def test_bridging_functions_never_loop(
    fabric: Fabric, correlation: str | None, shape: tuple[int, ...]
) -> None:
    net, client, server = fabric.client_and_server()
    groups, functions, n = [], [], 0
    for g, size in enumerate(shape):
        pairs = []
        for _ in range(size):
            n += 1  # instances round-robin over the chassis, so hops keep crossing between them
            fn, pair = fabric.plug_function(
                f"ch{1 + n % 3}", f"f{n}", net, correlation=correlation, bridge=True
            )
            functions.append(fn)
            pairs.append(pair["id"])
        groups.append(fabric.create(schema.PORT_PAIR_GROUP, name=f"g{g}", port_pairs=pairs)["id"])
    fabric.lab.warm_underlay()
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp", protocol="udp", logical_source_port=client.iface_id
    )
    params = {"correlation": correlation or "mpls"}
    fabric.create(
        schema.PORT_CHAIN,
        name="c",
        port_pair_groups=groups,
        flow_classifiers=[fc["id"]],
        chain_parameters=params,
    )
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    service = {(fn.chassis, str(nic.ofport)) for fn in functions for nic in (fn.ingress, fn.egress)}

    before = _received(fabric.chassis)
    _make_noise(client, functions)
    noise = _delta(before, _received(fabric.chassis))
    assert {k: tx for k, (_, tx) in noise.items() if k in service and tx} == {}  # nothing reached a function
    assert sum(rx for rx, _ in noise.values()) < NOISE_BOUND, noise

    before = _received(fabric.chassis)
    arrived = udp_flow_datagrams(client, server, PAYLOAD, flows=FLOWS, port=7, wait=3.0)
    expected = bytes((b + len(shape)) % 256 for b in PAYLOAD)
    assert sorted(arrived) == [(20000 + i, expected) for i in range(FLOWS)]  # each once, each group once
    traffic = _delta(before, _received(fabric.chassis))
    crossed = sum(tx for k, (_, tx) in traffic.items() if k in service)
    assert crossed == FLOWS * len(shape), traffic  # one instance per group per datagram, nothing else
    # per datagram: the client's port, each function's egress, and a tunnel per hop at most
    assert sum(rx for rx, _ in traffic.values()) <= FLOWS * 2 * (len(shape) + 2) + NOISE_BOUND, traffic
    for fn in functions:
        assert fn.counters().send_errors == 0
