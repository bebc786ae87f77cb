"""Hypothesis: the AND of two terms takes exactly the packets both take (the merge is exact), and the
matches of a term take exactly the packets its definition says, checked through ofsim."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.compiler.classify import term_matches
from steerflow.flows.types import Flow, Output
from steerflow.model import classification as cls_terms
from steerflow.ofsim import Packet, Switch

IPV4_ONLY = cls_terms.term({"eth_type": 0x0800})
SOURCES = ("10.1.2.3", "10.1.9.9", "10.2.0.1", "11.0.0.1")
PREFIXES = ("10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "10.1.2.3/32", "10.1.2.3")


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


@st.composite
def ports(draw: st.DrawFn) -> dict[str, Any]:
    lo = draw(_maybe(st.integers(0, 20)))
    hi = draw(_maybe(st.integers(lo or 0, 20)))
    return {k: v for k, v in (("dst_port_min", lo), ("dst_port_max", hi)) if v is not None}


@st.composite
def definitions(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    c_type = draw(st.sampled_from(("ipv4", "tcp", "udp")))
    if c_type == "ipv4":
        fields = {
            "src_addr": draw(_maybe(st.sampled_from(PREFIXES))),
            "protocol": draw(_maybe(st.sampled_from((6, 17)))),
            "dscp": draw(_maybe(st.sampled_from((0, 46)))),
            "ecn": draw(_maybe(st.sampled_from((0, 1)))),
        }
        return c_type, {k: v for k, v in fields.items() if v is not None}
    fields = draw(ports())
    if c_type == "tcp" and draw(st.booleans()):
        mask = draw(st.integers(0, 7))
        fields |= {"flags": draw(st.integers(0, 7)) & mask, "flags_mask": mask}
    return c_type, fields


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    proto = draw(st.sampled_from(("tcp", "udp")))
    fields: dict[str, Any] = {
        "in_port": 1, "eth_type": 0x0800, "ipv4_src": draw(st.sampled_from(SOURCES)),
        "ipv4_dst": "192.0.2.1", "ip_proto": 6 if proto == "tcp" else 17,
        "ip_dscp": draw(st.sampled_from((0, 46))), "ip_ecn": draw(st.sampled_from((0, 1))),
        f"{proto}_src": 999, f"{proto}_dst": draw(st.integers(0, 21)),
    }  # fmt: skip
    if proto == "tcp":
        fields["tcp_flags"] = draw(st.integers(0, 7))
    return Packet.of(**fields)


def takes(term: cls_terms.Term, packet: Packet) -> bool:
    ipv4 = cls_terms.merge(term, IPV4_ONLY)
    assert ipv4 is not None
    flows = [Flow(0, 100, m, (Output(2),)) for m in term_matches(ipv4)]
    return Switch(flows).run(packet).ports == (2,)


def by_definition(c_type: str, definition: dict[str, Any], packet: Packet) -> bool:
    """The oracle: the definition read directly against the packet's fields."""
    checks = []
    if c_type == "ipv4":
        if "src_addr" in definition:
            network = ipaddress.ip_network(definition["src_addr"], strict=False)
            checks.append(ipaddress.ip_address(packet["ipv4_src"]) in network)
        exact = (("protocol", "ip_proto"), ("dscp", "ip_dscp"), ("ecn", "ip_ecn"))
        checks += [packet[f] == definition[k] for k, f in exact if k in definition]
        return all(checks)
    proto = 6 if c_type == "tcp" else 17
    if packet["ip_proto"] != proto:
        return False
    port = int(packet[f"{c_type}_dst"])
    checks.append(definition.get("dst_port_min", 0) <= port <= definition.get("dst_port_max", 65535))
    if "flags" in definition:
        checks.append(int(packet["tcp_flags"]) & definition["flags_mask"] == definition["flags"])
    return all(checks)


@settings(max_examples=300, deadline=None)
@given(definitions(), packets())
def test_a_definition_compiles_to_exactly_its_packets(
    member: tuple[str, dict[str, Any]], packet: Packet
) -> None:
    term = cls_terms.definition_term(*member)
    assert takes(term, packet) == by_definition(*member, packet)


@settings(max_examples=300, deadline=None)
@given(definitions(), definitions(), packets())
def test_the_and_of_two_terms_takes_exactly_what_both_take(
    first: tuple[str, dict[str, Any]], second: tuple[str, dict[str, Any]], packet: Packet
) -> None:
    a, b = cls_terms.definition_term(*first), cls_terms.definition_term(*second)
    both = cls_terms.merge(a, b)
    expected = takes(a, packet) and takes(b, packet)
    assert (both is not None and takes(both, packet)) == expected
    if expected:
        assert cls_terms.overlaps((a,), (b,))
