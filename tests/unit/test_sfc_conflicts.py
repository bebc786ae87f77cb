"""The flow classifier conflict predicates, checked against brute force with hypothesis."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.api import sfc_errors as err
from steerflow.api.sfc_conflicts import basic_conflict, conflict, port_ranges_overlap, prefixes_intersect
from steerflow.model import schema
from steerflow.model.sfc import FlowClassifier, PortRange
from tests.builders.sfc_world import ALICE, World

TOP = 20  # a small port space so brute force stays cheap


@st.composite
def port_ranges(draw: st.DrawFn) -> PortRange:
    low = draw(st.none() | st.integers(0, TOP))
    high = draw(st.none() | st.integers(0 if low is None else low, TOP))
    return PortRange(low, high)


def ports_of(r: PortRange) -> set[int]:
    return set(range(r.min or 0, (TOP if r.max is None else r.max) + 1))


@given(port_ranges(), port_ranges())
def test_port_ranges_overlap_is_set_intersection(a: PortRange, b: PortRange) -> None:
    assert port_ranges_overlap(a, b) == bool(ports_of(a) & ports_of(b))
    assert port_ranges_overlap(a, b) == port_ranges_overlap(b, a)


prefixes = st.none() | st.builds(
    lambda host, length: f"10.0.0.{host}/{length}", st.integers(0, 15), st.integers(28, 32)
)
SPACE = [ipaddress.ip_address(f"10.0.0.{i}") for i in range(16)]


def addresses_of(prefix: str | None) -> set[Any]:
    if prefix is None:
        return set(SPACE)
    net = ipaddress.ip_network(prefix, strict=False)
    return {a for a in SPACE if a in net}


@given(prefixes, prefixes)
def test_prefixes_intersect_is_set_intersection(a: str | None, b: str | None) -> None:
    assert prefixes_intersect(a, b) == bool(addresses_of(a) & addresses_of(b))


def test_prefixes_of_different_versions_never_intersect() -> None:
    assert not prefixes_intersect("10.0.0.0/8", "::/0")


def fc(**kw: Any) -> FlowClassifier:
    return FlowClassifier(id=kw.pop("id", "x"), **kw)


@pytest.mark.parametrize(
    ("a", "b", "basic", "full"),
    [
        (fc(), fc(), True, True),
        (fc(protocol="tcp"), fc(), True, True),
        (fc(protocol="tcp"), fc(protocol="udp"), False, False),
        (fc(ethertype="IPv6"), fc(), False, False),
        (fc(logical_source_port="p1"), fc(logical_source_port="p2"), True, False),
        (fc(logical_destination_port="p1"), fc(), True, True),
        (fc(source_ip_prefix="10.0.0.0/24"), fc(source_ip_prefix="10.0.1.0/24"), False, False),
        (fc(destination_port_range_min=80), fc(destination_port_range_max=79), False, False),
    ],
)
def test_conflict_table(a: FlowClassifier, b: FlowClassifier, basic: bool, full: bool) -> None:
    assert (basic_conflict(a, b), conflict(a, b)) == (basic, full)
    assert (basic_conflict(b, a), conflict(b, a)) == (basic, full)


classifier_bodies = st.fixed_dictionaries(
    {},
    optional={
        "protocol": st.sampled_from(["tcp", "udp", "icmp"]),
        "source_ip_prefix": st.sampled_from(["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "192.168.0.0/24"]),
        "destination_port_range_min": st.sampled_from([10, 80]),
        "logical_source_port": st.sampled_from([0, 1]),
    },
)


@settings(max_examples=40, deadline=None)
@given(st.lists(classifier_bodies, max_size=6))
def test_stored_classifiers_never_conflict(bodies: list[dict[str, Any]]) -> None:
    """Whatever the creation sequence, the store ends up without two conflicting classifiers."""
    w = World()
    ports = [w.port("vm"), w.port("vm")]
    for body in bodies:
        body = dict(body)
        if "destination_port_range_min" in body and body.get("protocol") not in ("tcp", "udp"):
            body["protocol"] = "tcp"
        if "logical_source_port" in body:
            body["logical_source_port"] = ports[body["logical_source_port"]]
        with contextlib.suppress(err.FlowClassifierInConflict):
            w.fc.create(ALICE, body)
    stored = [FlowClassifier.from_dict(r.value) for r in w.store.list(schema.FLOW_CLASSIFIER)]
    for i, a in enumerate(stored):
        assert not any(conflict(a, b) for b in stored[i + 1 :])


V4_NESTED = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "10.1.3.0/24"]
V6_NESTED = ["::/0", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::7/128", "2001:db8:2::/48"]


@st.composite
def indexed_bodies(draw: st.DrawFn, ports: int) -> dict[str, Any]:
    """Classifiers told apart by nested prefixes of either version and by logical ports: the fields the
    conflict check's index narrows by."""
    v6 = draw(st.booleans())
    prefix = st.none() | st.sampled_from(V6_NESTED if v6 else V4_NESTED)
    body: dict[str, Any] = {"ethertype": "IPv6" if v6 else "IPv4", "protocol": "udp"}
    for field, value in (
        ("source_ip_prefix", draw(prefix)),
        ("destination_ip_prefix", draw(prefix)),
        ("logical_source_port", draw(st.none() | st.integers(0, ports - 1))),
        ("logical_destination_port", draw(st.none() | st.integers(0, ports - 1))),
        ("destination_port_range_min", draw(st.none() | st.sampled_from([80, 443]))),
    ):
        if value is not None:
            body[field] = value
    return body


@settings(max_examples=60, deadline=None)
@given(st.lists(indexed_bodies(ports=3), max_size=12))
def test_refusals_match_a_full_scan_naming_its_first_conflict(bodies: list[dict[str, Any]]) -> None:
    """The indexed check refuses exactly what comparing with every stored classifier refuses, naming
    the same (lowest id) conflicting classifier."""
    w = World()
    ports = [w.port("vm") for _ in range(3)]
    for drawn in bodies:
        body = dict(drawn)
        for field in ("logical_source_port", "logical_destination_port"):
            if field in body:
                body[field] = ports[body[field]]
        stored = sorted(w.store.list(schema.FLOW_CLASSIFIER), key=lambda rec: rec.id)
        new = FlowClassifier.from_dict({"id": "new", **body})
        clashing = [rec.id for rec in stored if conflict(new, FlowClassifier.from_dict(rec.value))]
        try:
            w.fc.create(ALICE, body)
        except err.FlowClassifierInConflict as exc:
            assert clashing and exc.kwargs["id"] == clashing[0], (body, clashing)
        else:
            assert not clashing, (body, clashing)
