"""Hostile bodies: whatever JSON a client sends, a handler answers a 4xx NeutronError or succeeds."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steerflow.api.errors import NeutronError
from steerflow.api.sfc_attributes import (
    FLOW_CLASSIFIER,
    PORT_CHAIN,
    PORT_PAIR,
    PORT_PAIR_GROUP,
    SERVICE_GRAPH,
)
from tests.builders.sfc_world import ALICE, UNKNOWN, World

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        ["", "x", "5", "true", "None", "mpls", "nsh", "tcp", "IPv6", "10.0.0.0/8", UNKNOWN, "ip_src"]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "correlation",
                    "weight",
                    "symmetric",
                    "lb_fields",
                    "ppg_n_tuple_mapping",
                    "ingress_n_tuple",
                    "source_port_range_min",
                    "source_ip_prefix",
                    UNKNOWN,
                    "k",
                ]
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)
MAPS = {"pp": PORT_PAIR, "ppg": PORT_PAIR_GROUP, "pc": PORT_CHAIN, "fc": FLOW_CLASSIFIER, "sg": SERVICE_GRAPH}
WORLD = World()  # shared on purpose: objects accumulate, so later bodies meet a populated store
WORLD.pc.quota = WORLD.ppg.quota = WORLD.sg.quota = -1
WORLD.chain(fcs=[WORLD.classifier()["id"]])


def bodies(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from([*MAPS[kind].attributes, "bogus"])
    return st.dictionaries(keys, json_values, max_size=4)


def answers_4xx_or_succeeds(call: Any) -> None:
    before = WORLD.store.revision()
    try:
        call()
    except NeutronError as e:
        assert 400 <= e.status < 500, e
        assert WORLD.store.revision() == before


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(MAPS)), st.data())
def test_create_and_update_never_fail_with_a_server_error(kind: str, data: st.DataObject) -> None:
    handler = getattr(WORLD, kind)
    body = data.draw(bodies(kind))
    answers_4xx_or_succeeds(lambda: handler.create(ALICE, body))
    existing = WORLD.store.list(handler.resource)
    if existing:
        answers_4xx_or_succeeds(lambda: handler.update(ALICE, existing[0].id, body))


INFINITE = float("inf")


def test_non_finite_numbers_are_4xx() -> None:
    cases = [
        (WORLD.pc, {"port_pair_groups": [UNKNOWN], "chain_id": INFINITE}),
        (WORLD.fc, {"protocol": "tcp", "source_port_range_min": -INFINITE}),
        (
            WORLD.pp,
            {"ingress": UNKNOWN, "egress": UNKNOWN, "service_function_parameters": {"weight": INFINITE}},
        ),
        (
            WORLD.ppg,
            {
                "port_pair_group_parameters": {
                    "ppg_n_tuple_mapping": {"ingress_n_tuple": {"source_port_range_min": INFINITE}}
                }
            },
        ),
    ]
    for handler, body in cases:
        answers_4xx_or_succeeds(lambda h=handler, b=body: h.create(ALICE, b))
