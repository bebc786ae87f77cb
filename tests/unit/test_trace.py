"""steerflow trace: the fabric walker and its description in the model's terms, chain shape by shape."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.ofsim import Packet
from steerflow.trace.describe import describe
from steerflow.trace.fabric import Fabric, Walk
from steerflow.trace.probe import ProbeError, probe
from steerflow.trace.render import render
from tests.builders.graph_docs import graph_world, nat, udp_from_client
from tests.builders.pipeline_scenarios import TUNNEL, balance, single_hop, symmetric, taps

Docs = dict[str, dict[str, dict[str, Any]]]


def _trace(docs: Docs, dport: int = 7, **kw: Any) -> tuple[Walk, dict[str, Any]]:
    fabric = Fabric(docs, TUNNEL)
    sent = probe(docs, "client", "server", dport=dport, **kw)
    walk = fabric.walk(sent.packet, sent.chassis)
    return walk, describe(walk, fabric)


def _roles(step: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["object"]["id"]) for m in step["matched"]]


def _legs(described: dict[str, Any]) -> list[dict[str, Any]]:
    found, pending = [], [described["path"]]
    while pending:
        step = pending.pop()
        for out in step["outputs"]:
            found.append(out)
            if "next" in out:
                pending.append(out["next"])
    return found


@pytest.mark.parametrize("header", ["mpls", "nsh"])
@pytest.mark.parametrize("aware", [True, False])
@pytest.mark.parametrize("where", ["ch1", "ch2"])
def test_single_hop_names_classifier_chain_hop_instance_and_header(
    header: str, aware: bool, where: str
) -> None:
    walk, described = _trace(single_hop(header, aware, where).docs)
    assert walk.functions() == ("f",)
    assert [(c, leg.target) for c, leg in walk.deliveries()] == [("ch2", "server")]
    first = _roles(described["path"])
    assert ("classifier", "fc") in first and ("hop", "g") in first
    to_function = next(o for o in _legs(described) if o["kind"] == "function")
    assert to_function["function"]["id"] == "f"
    expected = ({"mpls": [1000]} if header == "mpls" else "nsh") if aware else None
    got = to_function["header"]
    assert (got if header == "mpls" or got is None else "nsh") == expected
    if header == "nsh" and aware:
        assert (got["nsh"]["spi"], got["nsh"]["si"]) == (1, 255)
    delivered = next(o for o in _legs(described) if o["kind"] == "delivery")
    assert delivered["header"] is None and delivered["to_port"]["id"] == "server"
    if where != "ch1":
        tunnels = [o["to"] for o in _legs(described) if o["kind"] == "tunnel"]
        assert tunnels[0] == where


def test_unclassified_traffic_takes_no_chain() -> None:
    walk, described = _trace(single_hop("mpls", True, "ch2").docs, proto="tcp")
    assert walk.functions() == ()
    assert [r for r, _ in _roles(described["path"])].count("classifier") == 0


def test_load_balancing_names_the_hash_and_the_instance_it_chose() -> None:
    docs = balance().docs
    walk, described = _trace(docs)
    assert len(walk.functions()) == 5  # one instance of each of the chain's five groups
    for g, instance in enumerate(walk.functions()):
        assert instance.startswith(f"f{g}-")
    choices = describe_step_choices(described)
    assert len(choices) == 5
    assert all(0 <= c["chosen"] < c["of"] and c["hash"].startswith("0x") for c in choices)
    assert "balanced: " in render(described, "lb", colour=False)


def describe_step_choices(described: dict[str, Any]) -> list[dict[str, Any]]:
    found, pending = [], [described["path"]]
    while pending:
        step = pending.pop()
        found += step["choices"]
        pending += [o["next"] for o in step["outputs"] if "next" in o]
    return found


@pytest.mark.parametrize("header", ["mpls", "nsh"])
def test_symmetric_reverse_crosses_the_same_instances_backwards(header: str) -> None:
    docs = symmetric(header).docs
    fabric = Fabric(docs, TUNNEL)
    there = probe(docs, "client", "server", dport=7)
    forward = fabric.walk(there.packet, there.chassis)
    back = probe(docs, "server", "client", sport=7, dport=5000)
    reverse = fabric.walk(back.packet, back.chassis)
    assert forward.functions()[1] == "u" and forward.functions()[0] in ("a0", "a1")
    assert reverse.functions() == tuple(reversed(forward.functions()))
    assert [leg.target for _, leg in reverse.deliveries()] == ["client"]
    sides = [leg.side for s in reverse.steps() for leg in s.legs if leg.kind == "function"]
    assert sides == ["egress", "egress"]


@pytest.mark.parametrize("header", ["mpls", "nsh"])
def test_taps_get_copies_and_the_packet_goes_on(header: str) -> None:
    walk, described = _trace(taps(header).docs)
    assert sorted(described["taps"]) == ["t1", "t2", "t3"]
    assert walk.functions() == ("u", "a")
    assert [leg.target for _, leg in walk.deliveries()] == ["server"]
    assert "copy to tap" in render(described, "taps", colour=False)


def test_graph_branch_is_named_and_followed_with_a_function_model() -> None:
    docs = graph_world("nsh").docs
    fabric = Fabric(docs, TUNNEL)
    walk = fabric.walk(udp_from_client(7), "ch1", lambda _pair, p: nat(p))
    assert walk.functions() == ("fa", "fb", "fd")
    roles = [m["role"] for s in _steps(describe(walk, fabric)) for m in s["matched"]]
    assert "graph" in roles


def _steps(described: dict[str, Any]) -> list[dict[str, Any]]:
    found, pending = [], [described["path"]]
    while pending:
        step = pending.pop()
        found.append(step)
        pending += [o["next"] for o in step["outputs"] if "next" in o]
    return found


def test_render_shows_every_part_of_the_path() -> None:
    _, described = _trace(single_hop("nsh", True, "ch2").docs)
    text = render(described, "udp 7", colour=False)
    for part in ("classifier fc", "hop g", "instance f", "tunnel to chassis ch2", "with NSH SPI 1 SI 255",
                 "to function f", "delivered to port server", "assumed to forward"):  # fmt: skip
        assert part in text, text
    assert "\x1b[" not in text
    assert "\x1b[" in render(described, "udp 7", colour=True)


@pytest.mark.parametrize(
    ("source", "to", "kw", "message"),
    [
        ("nobody", "server", {}, "no port named 'nobody'"),
        ("client", "server", {"ipv6": True}, "has no IPv6 address"),
        ("client", "2001:db8::1", {}, "not an IPv4 address"),
        ("client", "server", {"proto": "gre"}, "unknown protocol"),
    ],
)
def test_probe_refuses_what_it_cannot_build(source: str, to: str, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        probe(single_hop("mpls", True, "ch2").docs, source, to, **kw)


def test_probe_to_an_address_of_no_port_is_broadcast_to_that_address() -> None:
    sent = probe(single_hop("mpls", True, "ch2").docs, "client", "198.51.100.99", dport=9)
    assert sent.packet == Packet.of(
        in_port=1, eth_src="02:00:00:00:01:01", eth_dst="ff:ff:ff:ff:ff:ff", eth_type=0x0800, ip_proto=17,
        ipv4_src="203.0.113.1", ipv4_dst="198.51.100.99", udp_src=5000, udp_dst=9,
    )  # fmt: skip
