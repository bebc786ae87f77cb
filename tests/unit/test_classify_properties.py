"""Classifier matches, property-tested: port-range masks against brute force, random classifiers and
packets against an oracle written from the API's definitions, and specificity that narrowing increases."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.compiler.classify import MAX_PORT_MASKS, ClassifierError, match_volume, port_range_masks
from steerflow.model.sfc import Ethertype, FlowClassifier, PortId
from tests.builders.classify import ADDRS, ICMP, OUT, TCP, UDP, V4, V6, Pkt, fc, switch_for

# --- port_range_masks against brute force ---------------------------------------------------------


def _optimal_prefix_count(lo: int, hi: int, start: int = 0, size: int = 1 << 16) -> int:
    """The fewest aligned blocks covering [lo, hi], by walking the binary trie (the known optimum)."""
    end = start + size - 1
    if hi < start or end < lo:
        return 0
    if lo <= start and end <= hi:
        return 1
    half = size // 2
    return _optimal_prefix_count(lo, hi, start, half) + _optimal_prefix_count(lo, hi, start + half, half)


def _covered(value: int, mask: int) -> list[int]:
    """Every port with port & mask == value, by enumerating the free bits (no structure assumed)."""
    free = ~mask & 0xFFFF
    ports, sub = [], free
    while True:
        ports.append(value | sub)
        if sub == 0:
            return ports
        sub = (sub - 1) & free


ranges = st.integers(0, 0xFFFF).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(lo, 0xFFFF)))


@settings(max_examples=300, deadline=None)
@given(ranges)
def test_port_range_masks_cover_exactly_and_minimally(bounds: tuple[int, int]) -> None:
    lo, hi = bounds
    blocks = port_range_masks(lo, hi)
    hits = bytearray(1 << 16)
    for value, mask in blocks:
        assert value & ~mask & 0xFFFF == 0
        for port in _covered(value, mask):
            hits[port] += 1
    assert hits == bytes(lo) + b"\x01" * (hi - lo + 1) + bytes(0xFFFF - hi)  # exact, each port once
    assert len(blocks) == _optimal_prefix_count(lo, hi) <= MAX_PORT_MASKS
    assert list(blocks) == sorted(blocks)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 65535, ((0, 0),)),
        (80, 80, ((80, 0xFFFF),)),
        (0, 1023, ((0, 0xFC00),)),
        (
            1024,
            65535,
            (
                (1024, 0xFC00),
                (2048, 0xF800),
                (4096, 0xF000),
                (8192, 0xE000),
                (16384, 0xC000),
                (32768, 0x8000),
            ),
        ),
    ],
)
def test_port_range_masks_examples(lo: int, hi: int, expected: tuple[tuple[int, int], ...]) -> None:
    assert port_range_masks(lo, hi) == expected


@pytest.mark.parametrize(("lo", "hi"), [(2, 1), (-1, 5), (0, 65536)])
def test_port_range_masks_refuses_bad_ranges(lo: int, hi: int) -> None:
    with pytest.raises(ClassifierError):
        port_range_masks(lo, hi)


# --- every field at once, against an oracle -------------------------------------------------------


def _oracle(classifier: FlowClassifier, pkt: Pkt) -> bool:
    """Whether the classifier's header part takes the packet, from the API's definitions alone."""
    if pkt.ethertype != classifier.ethertype:
        return False
    kind = classifier.ethertype
    src, dst = (
        ipaddress.ip_address(pkt.src or ADDRS[kind][0]),
        ipaddress.ip_address(pkt.dst or ADDRS[kind][1]),
    )
    for network, address in ((classifier.source_network, src), (classifier.destination_network, dst)):
        if network is not None and address not in network:
            return False
    if classifier.protocol is None:
        return True
    wanted = {TCP: "tcp", UDP: "udp", ICMP: "icmp4" if kind is V4 else "icmp6"}[classifier.protocol]
    (slo, shi), (dlo, dhi) = classifier.source_ports.bounds(), classifier.destination_ports.bounds()
    return pkt.proto == wanted and slo <= pkt.sport <= shi and dlo <= pkt.dport <= dhi


@st.composite
def classifiers(draw: st.DrawFn) -> FlowClassifier:
    kind = draw(st.sampled_from([V4, V6]))
    bits = 32 if kind is V4 else 128
    prefix = st.none() | st.builds(
        lambda a, n: str(ipaddress.ip_network((_address(kind, a), n), strict=False)),
        st.integers(0, (1 << bits) - 1),
        st.integers(0, bits),
    )
    protocol = draw(st.sampled_from([None, TCP, UDP, ICMP]))
    attrs: dict[str, Any] = {"ethertype": kind, "protocol": protocol}
    attrs |= {"source_ip_prefix": draw(prefix), "destination_ip_prefix": draw(prefix)}
    if protocol in (TCP, UDP):
        for side in ("source", "destination"):
            lo = draw(st.none() | st.integers(0, 0xFFFF))
            hi = draw(st.none() | st.integers(lo or 0, 0xFFFF))
            attrs |= {f"{side}_port_range_min": lo, f"{side}_port_range_max": hi}
    return fc(**attrs)


def _address(kind: Ethertype, value: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.IPv4Address(value) if kind is V4 else ipaddress.IPv6Address(value)


def _near(draw: st.DrawFn, network: Any, kind: Ethertype) -> str:
    """An address inside `network`, at its edges, or anywhere."""
    top = (1 << (32 if kind is V4 else 128)) - 1
    if network is None or draw(st.booleans()):
        return str(_address(kind, draw(st.integers(0, top))))
    low, high = int(network.network_address), int(network.broadcast_address)
    edge = draw(st.sampled_from([low - 1, low, high, high + 1, (low + high) // 2]))
    return str(_address(kind, min(max(edge, 0), top)))


def _port_near(draw: st.DrawFn, bounds: tuple[int, int]) -> int:
    """A port at the range's edges (lo-1, lo, hi, hi+1), or anywhere."""
    if draw(st.booleans()):
        return draw(st.integers(0, 0xFFFF))
    lo, hi = bounds
    return min(max(draw(st.sampled_from([lo - 1, lo, hi, hi + 1])), 0), 0xFFFF)


@st.composite
def packets_for(draw: st.DrawFn, classifier: FlowClassifier) -> Pkt:
    kind = classifier.ethertype if draw(st.integers(0, 9)) else (V6 if classifier.ethertype is V4 else V4)
    same = kind is classifier.ethertype
    src = _near(draw, classifier.source_network if same else None, kind)
    dst = _near(draw, classifier.destination_network if same else None, kind)
    proto = draw(st.sampled_from(["tcp", "udp", "icmp4", "icmp6", "sctp", "none"]))
    sport = _port_near(draw, classifier.source_ports.bounds())
    dport = _port_near(draw, classifier.destination_ports.bounds())
    return Pkt(str(kind), src, dst, proto, sport, dport)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_field_at_once_agrees_with_the_oracle(data: st.DataObject) -> None:
    classifier = data.draw(classifiers())
    switch = switch_for(classifier)  # validates every match as OVS would
    for _ in range(8):
        pkt = data.draw(packets_for(classifier))
        assert (switch.run(pkt.packet()).ports == (OUT,)) is _oracle(classifier, pkt), pkt


def _narrowings(outer: FlowClassifier) -> list[dict[str, Any]]:
    """Each way to shrink `outer` strictly along one field."""
    bits = 32 if outer.ethertype is V4 else 128
    steps: list[dict[str, Any]] = []
    for side in ("source", "destination"):
        network = getattr(outer, f"{side}_network")
        length = 0 if network is None else network.prefixlen
        if length < bits:
            base = network or ipaddress.ip_network("0.0.0.0/0" if bits == 32 else "::/0")
            steps.append({f"{side}_ip_prefix": str(next(base.subnets(prefixlen_diff=1)))})
        lo, hi = getattr(outer, f"{side}_ports").bounds()
        if outer.protocol in (TCP, UDP) and lo < hi:
            steps.append({f"{side}_port_range_min": lo + 1, f"{side}_port_range_max": hi})
        if getattr(outer, f"logical_{side}_port") is None:
            steps.append({f"logical_{side}_port": PortId("p")})
    if outer.protocol is None:
        steps += [{"protocol": p} for p in (TCP, UDP, ICMP)]
    return steps


@settings(max_examples=200, deadline=None)
@given(classifiers(), st.data())
def test_a_classifier_strictly_inside_another_has_a_smaller_volume(
    outer: FlowClassifier, data: st.DataObject
) -> None:
    step = data.draw(st.sampled_from(_narrowings(outer)))
    inner = fc(**{**outer.__dict__, "id": "inner", **step})
    assert match_volume(inner) < match_volume(outer)
