"""steerflow-neutron's mirror and resync on an in-memory NB, with Neutron's objects given as data."""

from __future__ import annotations

import copy
from typing import Any

from steerflow_neutron.mirror import Mirror
from steerflow_neutron.resync import NeutronView, resync

from steerflow.model import schema
from steerflow.nbdb import open_store

NET, SUB = "11111111-0000-0000-0000-000000000001", "11111111-0000-0000-0000-000000000002"
PORTS = [f"22222222-0000-0000-0000-00000000000{i}" for i in range(4)]
PAIR, GROUP, OTHER_GROUP = (f"33333333-0000-0000-0000-00000000000{i}" for i in range(3))
CHAIN = "44444444-0000-0000-0000-000000000001"


def neutron_view() -> NeutronView:
    """What Neutron's API lists for a network, four ports and a chain through one pair (its dicts carry
    attributes steerflow does not keep, like security groups)."""
    project = {"project_id": "p1", "tenant_id": "p1"}
    ports = {
        pid: {"id": pid, "network_id": NET, "mac_address": f"fa:16:3e:00:00:0{i}", "device_id": "vm",
              "fixed_ips": [{"subnet_id": SUB, "ip_address": f"10.0.0.{10 + i}"}],
              "security_groups": ["sg"], "binding:vif_type": "ovs", **project}
        for i, pid in enumerate(PORTS)
    }  # fmt: skip
    return {
        schema.NETWORK: {NET: {"id": NET, "name": "n", "mtu": 1450, "provider:network_type": "geneve",
                               **project}},
        schema.SUBNET: {SUB: {"id": SUB, "network_id": NET, "cidr": "10.0.0.0/24", "ip_version": 4,
                              "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}],
                              "gateway_ip": "10.0.0.1", "host_routes": [], **project}},
        schema.PORT: ports,
        schema.PORT_PAIR: {PAIR: {"id": PAIR, "ingress": PORTS[1], "egress": PORTS[2], **project}},
        schema.PORT_PAIR_GROUP: {GROUP: {"id": GROUP, "port_pairs": [PAIR], "group_id": 7, **project}},
        schema.PORT_CHAIN: {CHAIN: {"id": CHAIN, "port_pair_groups": [GROUP], "flow_classifiers": [],
                                    "chain_id": 42, **project}},
    }  # fmt: skip


def test_resync_fills_an_empty_nb_as_steerflows_api_would_and_is_then_idempotent() -> None:
    mirror = Mirror(open_store("memory://"))
    view = neutron_view()
    report = resync(mirror, lambda: view)
    assert not report.failed
    assert report.lines()[-1] == "9 created"
    chain = mirror.stored(schema.PORT_CHAIN, CHAIN)
    assert chain is not None and chain["chain_id"] == 42 and list(chain[schema.HOP_LABELS]) == [GROUP]
    port = mirror.stored(schema.PORT, PORTS[0])
    assert port is not None and "security_groups" not in port and port[schema.TUNNEL_KEY] == 1
    assert resync(mirror, lambda: view).lines() == ["in sync"]


def test_an_object_still_used_is_deleted_once_its_user_has_moved_on() -> None:
    mirror = Mirror(open_store("memory://"))
    resync(mirror, lambda: neutron_view())
    # Neutron now chains through another group holding the same pair; the old group is gone. A cycle in
    # the NB: the old group cannot go while the chain uses it, the new one cannot take the pair the old
    # one holds, the chain cannot move to a group not there yet. Resync replaces the chain to break it.
    view = neutron_view()
    groups: dict[str, Any] = view[schema.PORT_PAIR_GROUP]
    groups[OTHER_GROUP] = {**copy.deepcopy(groups.pop(GROUP)), "id": OTHER_GROUP}
    view[schema.PORT_CHAIN][CHAIN]["port_pair_groups"] = [OTHER_GROUP]
    report = resync(mirror, lambda: view)
    assert not report.failed, report.lines()
    assert f"delete port_chain {CHAIN} (to replace: breaks a dependency)" in report.lines()
    assert report.lines()[-1] == "1 created, 1 replaced, 2 deleted"
    assert mirror.stored(schema.PORT_PAIR_GROUP, GROUP) is None
    chain = mirror.stored(schema.PORT_CHAIN, CHAIN)
    assert chain is not None and chain["port_pair_groups"] == [OTHER_GROUP]
    assert resync(mirror, lambda: view).lines() == ["in sync"]


def test_what_steerflow_refuses_is_reported_and_the_rest_is_done() -> None:
    mirror = Mirror(open_store("memory://"))
    view = neutron_view()
    view[schema.PORT][PORTS[3]]["fixed_ips"] = [{"subnet_id": SUB, "ip_address": "10.9.9.9"}]  # not in SUB
    report = resync(mirror, lambda: view)
    assert [str(a) for a, _ in report.failed] == [f"create port {PORTS[3]}"]
    assert "InvalidIpForSubnet" in report.failed[0][1]
    assert report.lines()[-1] == "8 created; 1 failed"
