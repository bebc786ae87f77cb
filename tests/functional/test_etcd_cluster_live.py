"""steerflow on a 3-member etcd cluster: the leader dies while 50 API clients create, update and delete
chains and an established chain carries a steady stream. Every acknowledged write is there afterwards
and applied on every chassis, and the stream loses no datagram."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from steerflow.api.core import core_handlers
from steerflow.api.sfc import sfc_handlers
from steerflow.lab.sh import run
from steerflow.model import schema
from steerflow.nbdb import open_store
from tests.builders.api_server import Rest, start_api_server
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import LabFactory, requires_lab
from tests.builders.servers import EtcdCluster, etcd_cluster
from tests.builders.stream import stream_through

pytestmark = [pytest.mark.root, pytest.mark.server, requires_lab]
CLIENTS = 50
GROUPS = 8  # unbound port pairs in groups: 8 + 56 ordered pairs of them give every client its own list
HOST = "198.51.100.250"  # the host on the lab's underlay, where agents in namespaces reach etcd


@dataclass
class Churn:
    """One API client's chain: created, renamed, and (every other client) deleted; what was
    acknowledged, and whether a write failed (then its outcome is unknown and not checked)."""

    number: int
    expected: dict[tuple[str, str], str | None] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    unknown: set[tuple[str, str]] = field(default_factory=set)  # objects a failed write touched


@pytest.fixture
def cluster_fabric(lab: LabFactory, tmp_path: Path) -> Iterator[tuple[Fabric, EtcdCluster]]:
    made = lab()
    bridge = made.names.underlay_bridge
    run(["ip", "addr", "add", f"{HOST}/24", "dev", bridge])
    # the host's own segments would leave with partial checksums, which the chassis' userspace
    # datapath passes on unfixed and their kernels drop: checksum them here
    run(["ethtool", "-K", bridge, "tx", "off"])
    with etcd_cluster(tmp_path / "etcd", host=HOST) as cluster:
        store = open_store(cluster.url)
        handlers = {h.resource: h for h in [*core_handlers(store), *sfc_handlers(store)]}
        built = Fabric(made, tmp_path, store, handlers, nb=cluster.url)
        try:
            yield built, cluster
        finally:
            built.stop_agents()
            store.close()


def _churn(api: str, churn: Churn, groups: list[str], source_port: str) -> None:
    rest = Rest(api)
    project = {"project_id": f"churn-{churn.number}"}
    try:
        fc = _write(rest, churn, "POST", schema.FLOW_CLASSIFIER, None, {
            "name": f"fc{churn.number}", "protocol": "udp", "logical_source_port": source_port,
            "destination_port_range_min": 2000 + churn.number,
            "destination_port_range_max": 2000 + churn.number, **project,
        })  # fmt: skip
        chain = _write(rest, churn, "POST", schema.PORT_CHAIN, None, {
            "name": f"c{churn.number}", "port_pair_groups": groups, "flow_classifiers": [fc], **project,
        })  # fmt: skip
        _write(rest, churn, "PUT", schema.PORT_CHAIN, chain, {"name": f"c{churn.number}-renamed"})
        if churn.number % 2:
            _write(rest, churn, "DELETE", schema.PORT_CHAIN, chain, None)
            _write(rest, churn, "DELETE", schema.FLOW_CLASSIFIER, fc, None)
    except _Failed:
        pass
    finally:
        rest.close()


class _Failed(Exception):
    pass


def _write(rest: Rest, churn: Churn, method: str, kind: str, id: str | None, body: Any) -> str:
    collection = f"{kind}s"
    try:
        answer = rest.http.request(
            method, rest.path(collection, id), json=None if body is None else {kind: body}
        )
    except httpx.HTTPError as exc:
        _failed(churn, kind, id, f"{method} {collection}: {exc!r}")
        raise _Failed from exc
    if answer.status_code >= 300:
        _failed(churn, kind, id, f"{method} {collection}: {answer.status_code} {answer.text[:300]}")
        raise _Failed
    if method == "DELETE":
        assert id is not None
        churn.expected[(kind, id)] = None
        return id
    obj = answer.json()[kind]
    churn.expected[(kind, obj["id"])] = obj["name"]
    return str(obj["id"])


def _failed(churn: Churn, kind: str, id: str | None, why: str) -> None:
    churn.failed.append(why)
    if id is not None:
        churn.unknown.add((kind, id))


def test_the_leader_dies_under_50_clients_and_a_stream(
    cluster_fabric: tuple[Fabric, EtcdCluster], tmp_path: Path
) -> None:
    fabric, cluster = cluster_fabric
    started = time.monotonic()
    net, client, server = fabric.client_and_server()
    _f1, pair = fabric.plug_function("ch2", "f1", net)
    fabric.lab.warm_underlay()
    g1 = fabric.create(schema.PORT_PAIR_GROUP, name="g1", port_pairs=[pair["id"]])["id"]
    fc = fabric.create(schema.FLOW_CLASSIFIER, name="u9", protocol="udp", destination_port_range_min=9,
                       destination_port_range_max=9, logical_source_port=client.iface_id)  # fmt: skip
    fabric.create(schema.PORT_CHAIN, name="steady", port_pair_groups=[g1], flow_classifiers=[fc["id"]])
    groups = [_unbound_group(fabric, net, n) for n in range(GROUPS)]
    lists = [[g] for g in groups] + [list(p) for p in itertools.permutations(groups, 2)]
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    churns = [Churn(n) for n in range(CLIENTS)]
    with start_api_server(tmp_path / "api", cluster.url) as api:

        def leader_dies_under_churn() -> None:
            threads = [
                threading.Thread(target=_churn, args=(api.url, c, lists[c.number], client.iface_id))
                for c in churns
            ]
            for thread in threads:
                thread.start()
            time.sleep(1.0)  # the clients are under way (pacing, not synchronisation)
            leader = cluster.leader()
            assert leader is not None
            leader.kill()
            for thread in threads:
                thread.join(timeout=120)

        report = stream_through(fabric, client, server, 9, [("leader killed", leader_dies_under_churn)])
    assert report.startswith("hops: 1x900"), report  # every datagram crossed f1
    acknowledged = [(k, name) for c in churns for k, name in c.expected.items() if k not in c.unknown]
    failed = [f for c in churns for f in c.failed]
    assert len(acknowledged) >= CLIENTS, f"too few writes went through: {failed}"
    for (kind, id), name in acknowledged:
        record = fabric.store.get(kind, id)
        assert (record.value["name"] if record else None) == name, f"acknowledged {kind} {id} lost"
    fabric.wait_applied()
    fabric.assert_switches_hold_compiled_state()
    assert time.monotonic() - started < 180


def _unbound_group(fabric: Fabric, net: dict[str, Any], n: int) -> str:
    """A group of one port pair whose ports no chassis binds: chains through it compile (the
    classifier's chassis sends towards nowhere), and it costs the lab nothing."""
    ports = [
        fabric.create(schema.PORT, network_id=net["id"], name=f"u{n}-{side}", device_id=f"u{n}")
        for side in "io"
    ]
    pair = fabric.create(schema.PORT_PAIR, name=f"u{n}", ingress=ports[0]["id"], egress=ports[1]["id"])
    return str(fabric.create(schema.PORT_PAIR_GROUP, name=f"ug{n}", port_pairs=[pair["id"]])["id"])
