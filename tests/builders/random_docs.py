"""Random NB documents and edit histories (hypothesis), for the incremental compiler tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from steerflow.model import schema
from tests.builders.classification import stored_terms

Docs = dict[str, dict[str, dict[str, Any]]]
CHASSIS = ("ch1", "ch2", "ch3")
PORTS, PAIRS, GROUPS, CLASSIFIERS, CHAINS = 8, 5, 4, 4, 4
TUNNEL = 100
# A classifier's classification group, as the API copies its terms into the classifier: none, an OR
# (one alternative contradicts tcp classifiers), an AND (contradicts udp ones: the compiler skips those)
GROUPS_TERMS: tuple[tuple[str, list[dict[str, Any]]] | None, ...] = (
    None,
    ("cg-or", stored_terms("OR", ("ipv4", {"dscp": 46}), ("udp", {"src_port_min": 53, "src_port_max": 53}))),
    ("cg-and", stored_terms("AND", ("tcp", {"flags": 2, "flags_mask": 0x12}), ("ipv4", {"ecn": 1}))),
    (
        "cg-l2",
        stored_terms("OR", ("ethernet", {"vlan_id": 10}), ("ethernet", {"src_addr": "02:00:00:00:00:01"})),
    ),
)


def fixed_docs() -> Docs:
    return {
        schema.NETWORK: {f"net{n}": {"id": f"net{n}", schema.SEGMENTATION_ID: n} for n in (1, 2)},
        schema.CHASSIS: {
            c: {"name": c, "underlay_ip": f"198.51.100.{11 + i}"} for i, c in enumerate(CHASSIS)
        },
    }


def numbered_port(i: int, network: int) -> dict[str, Any]:
    return {
        "id": f"p{i}",
        "network_id": f"net{network}",
        schema.TUNNEL_KEY: i + 1,
        "mac_address": f"02:00:00:00:00:{i + 1:02x}",
        "fixed_ips": [{"subnet_id": "s", "ip_address": f"203.0.113.{i + 1}"}],
        "port_security_enabled": True,
        "project_id": "p1",
    }


@st.composite
def _ports(draw: st.DrawFn, docs: Docs) -> None:
    docs[schema.PORT], docs[schema.PORT_BINDING] = {}, {}
    for i in range(PORTS):
        if draw(st.integers(0, 9)) == 0:
            continue  # absent
        docs[schema.PORT][f"p{i}"] = numbered_port(i, 1 if i < 6 else 2)
        where = draw(st.sampled_from((None, *CHASSIS, *CHASSIS)))
        if where is not None:
            docs[schema.PORT_BINDING][f"p{i}"] = {"port_id": f"p{i}", schema.CHASSIS: where, "ofport": i + 1}


@st.composite
def _functions(draw: st.DrawFn, docs: Docs) -> None:
    docs[schema.PORT_PAIR] = {}
    for i in range(PAIRS):
        if draw(st.booleans()) and i > 0:
            continue
        ingress, egress = 2 + i % 4, 2 + (i + draw(st.integers(0, 1))) % 4
        params = {
            "correlation": draw(st.sampled_from((None, "mpls", "nsh", "vlan"))),  # vlan: tests/plugins
            "weight": draw(st.integers(0, 3)),
        }
        docs[schema.PORT_PAIR][f"pp{i}"] = {
            "id": f"pp{i}",
            "ingress": f"p{ingress}",
            "egress": f"p{egress}",
            schema.PAIR_KEY: i + 1,
            "service_function_parameters": params,
        }
    docs[schema.PORT_PAIR_GROUP] = {}
    for g in range(GROUPS):
        pairs = draw(
            st.lists(st.sampled_from([f"pp{i}" for i in range(PAIRS)]), min_size=1, max_size=3, unique=True)
        )
        lb = draw(st.sampled_from(([], ["ip_src"], ["ip_dst", "udp_dst"])))
        docs[schema.PORT_PAIR_GROUP][f"g{g}"] = {
            "id": f"g{g}",
            "port_pairs": pairs,
            "port_pair_group_parameters": {"lb_fields": lb},
            "tap_enabled": draw(st.sampled_from((False, False, True))),  # a tap: a copy, never crossed
        }


@st.composite
def _chains(draw: st.DrawFn, docs: Docs) -> None:
    docs[schema.FLOW_CLASSIFIER] = {}
    for f in range(CLASSIFIERS):
        source = draw(st.sampled_from((None, "p0", "p1", "p6")))
        docs[schema.FLOW_CLASSIFIER][f"fc{f}"] = {
            "id": f"fc{f}",
            "ethertype": "IPv4",
            "protocol": draw(st.sampled_from(("udp", "tcp"))),
            "logical_source_port": source,
            "logical_destination_port": draw(st.sampled_from((None, "p1"))),
            "destination_port_range_min": 100 + f,
            "destination_port_range_max": 100 + f + draw(st.integers(0, 5)),
        }
        grouped = draw(st.sampled_from(GROUPS_TERMS))
        if grouped is not None:
            docs[schema.FLOW_CLASSIFIER][f"fc{f}"] |= {
                "classification_group_id": grouped[0],
                schema.MATCH_TERMS: grouped[1],
            }
    docs[schema.PORT_CHAIN] = {}
    for c in range(CHAINS):
        if draw(st.booleans()):
            continue
        docs[schema.PORT_CHAIN][f"c{c}"] = _chain_doc(draw, c)
    docs[schema.SERVICE_GRAPH] = {}
    chains = [f"c{c}" for c in range(CHAINS)]  # present or not
    for g in range(draw(st.integers(0, 2))):
        sources = draw(st.lists(st.sampled_from(chains), min_size=1, max_size=2, unique=True))
        links = {
            src: draw(st.lists(st.sampled_from(chains), min_size=1, max_size=2, unique=True))
            for src in sources
        }
        docs[schema.SERVICE_GRAPH][f"sg{g}"] = {"id": f"sg{g}", "port_chains": links}


HEADERS = (
    {"correlation": "mpls"},
    {"correlation": "nsh"},
    {"correlation": "nsh", "nsh_md_type": 2},
    {"correlation": "vlan"},  # a third party's driver (tests/plugins/steerflow_vlan_encap)
)


def _chain_doc(draw: st.DrawFn, c: int) -> dict[str, Any]:
    groups = draw(
        st.lists(st.sampled_from([f"g{g}" for g in range(GROUPS)]), min_size=1, max_size=3, unique=True)
    )
    base = 1000 * (c + 1)
    return {
        "id": f"c{c}",
        "chain_id": c + 1,
        "port_pair_groups": groups,
        "flow_classifiers": draw(
            st.lists(st.sampled_from([f"fc{f}" for f in range(CLASSIFIERS)]), unique=True)
        ),
        "chain_parameters": {
            **draw(st.sampled_from(HEADERS)),
            "symmetric": draw(st.booleans()),
        },
        "project_id": "p1",
        schema.HOP_LABELS: {g: base + 10 * int(g[1:]) for g in groups},
        schema.EXIT_LABEL: base + 99,
        schema.REVERSE_HOP_LABELS: {g: base + 500 + 10 * int(g[1:]) for g in groups},
        schema.REVERSE_EXIT_LABEL: base + 599,
    }


@st.composite
def models(draw: st.DrawFn) -> Docs:
    docs = fixed_docs()
    draw(_ports(docs))
    draw(_functions(docs))
    draw(_chains(docs))
    return docs


def changed_between(before: Docs, after: Docs) -> set[tuple[str, str]]:
    kinds = set(before) | set(after)
    return {
        (kind, id)
        for kind in kinds
        for id in set(before.get(kind, {})) | set(after.get(kind, {}))
        if before.get(kind, {}).get(id) != after.get(kind, {}).get(id)
    }


@st.composite
def chassis_changed(draw: st.DrawFn, docs: Docs) -> Docs:
    """`docs` with one chassis gone, back, or moved to another underlay address."""
    name = draw(st.sampled_from(CHASSIS))
    after = {k: dict(v) for k, v in docs.items()}
    present = after.setdefault(schema.CHASSIS, {})
    if name in present and draw(st.booleans()):
        del present[name]
    else:
        present[name] = {"name": name, "underlay_ip": f"198.51.100.{draw(st.integers(11, 19))}"}
    return after


@st.composite
def network_changed(draw: st.DrawFn, docs: Docs) -> Docs:
    """`docs` with one network renamed, given another key or none, or gone (its ports then forward
    nowhere), or a third network added."""
    name = draw(st.sampled_from(["net1", "net2", "net3"]))
    after = {k: dict(v) for k, v in docs.items()}
    networks = after.setdefault(schema.NETWORK, {})
    doc = dict(networks.get(name, {"id": name}))
    change = draw(st.sampled_from(["rename", "key", "no key", "gone"]))
    if change == "gone":
        networks.pop(name, None)
        return after
    if change == "rename":
        doc["name"] = f"renamed-{draw(st.integers(0, 9))}"
    elif change == "key":  # keys are unique (the API allocates them)
        taken = {d.get(schema.SEGMENTATION_ID) for n, d in networks.items() if n != name}
        doc[schema.SEGMENTATION_ID] = draw(st.sampled_from([k for k in range(1, 6) if k not in taken]))
    else:
        doc.pop(schema.SEGMENTATION_ID, None)
    networks[name] = doc
    return after


@st.composite
def histories(draw: st.DrawFn) -> list[Docs]:
    """A model, then a few changes of one document each (to what another random model has there)."""
    steps = [draw(models())]
    for _ in range(draw(st.integers(1, 8))):
        step = draw(st.integers(0, 5))
        if step <= 1:
            steps.append(draw((chassis_changed if step == 0 else network_changed)(steps[-1])))
            continue
        other = draw(models())
        kind = draw(st.sampled_from(sorted(set(other) - {schema.NETWORK, schema.CHASSIS})))
        ids = sorted(set(steps[-1].get(kind, {})) | set(other.get(kind, {})))
        if not ids:
            continue
        id = draw(st.sampled_from(ids))
        after = {k: dict(v) for k, v in steps[-1].items()}
        after.setdefault(kind, {}).pop(id, None)
        if id in other.get(kind, {}):
            after[kind][id] = other[kind][id]
        steps.append(after)
    return steps
