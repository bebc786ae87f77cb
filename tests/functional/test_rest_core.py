"""Neutron core resources over a real server: networks, subnets, ports, MAC and IP allocation, conflicts."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from steerflow.model import schema
from tests.builders.api_server import ApiServer, Rest

pytestmark = pytest.mark.server

MAC_RE = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")


def error_of(resp: httpx.Response, status: int) -> dict[str, str]:
    assert resp.status_code == status, resp.text
    err: dict[str, str] = resp.json()["NeutronError"]
    return err


def network_with_subnets(rest: Rest, *cidrs: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    net = rest.create("networks", name="net")
    subnets = [
        rest.create("subnets", network_id=net["id"], cidr=c, ip_version=6 if ":" in c else 4) for c in cidrs
    ]
    return net, subnets


def test_subnet_defaults_gateway_and_pools(rest: Rest) -> None:
    net, (v4, v6) = network_with_subnets(rest, "10.0.0.0/24", "fd00::/64")
    assert (v4["gateway_ip"], v4["allocation_pools"]) == (
        "10.0.0.1",
        [{"start": "10.0.0.2", "end": "10.0.0.254"}],
    )
    assert v4["enable_dhcp"] is True and v4["ip_version"] == 4
    assert v6["gateway_ip"] == "fd00::"
    assert v6["allocation_pools"] == [{"start": "fd00::1", "end": "fd00::ffff:ffff:ffff:ffff"}]
    assert rest.http.get(f"/v2.0/networks/{net['id']}").json()[schema.NETWORK]["subnets"] == [
        v4["id"],
        v6["id"],
    ]
    no_gw = rest.create("subnets", network_id=net["id"], cidr="10.9.0.1/24", ip_version=4, gateway_ip=None)
    assert (no_gw["cidr"], no_gw["gateway_ip"]) == ("10.9.0.0/24", None)
    assert no_gw["allocation_pools"] == [{"start": "10.9.0.1", "end": "10.9.0.254"}]
    mid = rest.create(
        "subnets", network_id=net["id"], cidr="10.8.0.0/29", ip_version=4, gateway_ip="10.8.0.4"
    )
    assert mid["allocation_pools"] == [
        {"start": "10.8.0.1", "end": "10.8.0.3"},
        {"start": "10.8.0.5", "end": "10.8.0.6"},
    ]


def test_subnet_validation(rest: Rest) -> None:
    net, _ = network_with_subnets(rest, "10.0.0.0/24")

    def post(**attrs: Any) -> httpx.Response:
        return rest.http.post("/v2.0/subnets", json={schema.SUBNET: {"network_id": net["id"], **attrs}})

    missing = error_of(post(cidr="10.1.0.0/24"), 400)
    assert missing["message"] == "Failed to parse request. Required attribute 'ip_version' not specified"
    mismatch = error_of(post(cidr="10.1.0.0/24", ip_version=6), 400)
    assert (mismatch["type"], "does not match the ip_version" in mismatch["message"]) == (
        "InvalidInput",
        True,
    )
    assert error_of(post(cidr="10.0.0.0/25", ip_version=4), 400)["type"] == "InvalidInput"  # overlaps
    assert error_of(post(cidr="bad", ip_version=4), 400)["type"] == "HTTPBadRequest"
    assert error_of(post(cidr="10.1.0.0/24", ip_version=5), 400)["type"] == "HTTPBadRequest"
    pools = [{"start": "10.1.0.1", "end": "10.1.0.9"}]
    assert error_of(post(cidr="10.1.0.0/24", ip_version=4, allocation_pools=pools), 409)["type"] == (
        "GatewayConflictWithAllocationPools"
    )
    outside = [{"start": "10.1.0.10", "end": "10.2.0.9"}]
    assert error_of(post(cidr="10.1.0.0/24", ip_version=4, allocation_pools=outside), 400)["type"] == (
        "OutOfBoundsAllocationPool"
    )
    unknown = rest.http.post(
        "/v2.0/subnets",
        json={schema.SUBNET: {"network_id": str(uuid.uuid4()), "cidr": "10.3.0.0/24", "ip_version": 4}},
    )
    assert error_of(unknown, 404)["type"] == "NetworkNotFound"


def test_port_gets_mac_and_one_address_per_ip_version(rest: Rest) -> None:
    net, (v4a, _v4b, v6) = network_with_subnets(rest, "10.0.0.0/24", "10.1.0.0/24", "fd00::/64")
    port = rest.create("ports", network_id=net["id"], name="p", device_id="vm1")
    assert MAC_RE.match(port["mac_address"])
    assert port["fixed_ips"] == [
        {"subnet_id": v4a["id"], "ip_address": "10.0.0.2"},
        {"subnet_id": v6["id"], "ip_address": "fd00::1"},
    ]
    assert (port["status"], port["admin_state_up"], port["port_security_enabled"]) == ("DOWN", True, True)
    assert (port["device_id"], port["device_owner"], port["binding:host_id"]) == ("vm1", "", "")
    second = rest.create("ports", network_id=net["id"])
    assert second["fixed_ips"][0]["ip_address"] == "10.0.0.3"
    assert second["mac_address"] != port["mac_address"]


def test_port_without_subnets_and_port_security_from_network(rest: Rest) -> None:
    net = rest.create("networks", name="bare", port_security_enabled=False)
    port = rest.create("ports", network_id=net["id"], **{"binding:host_id": "chassis-1"})
    assert (port["fixed_ips"], port["port_security_enabled"]) == ([], False)
    assert port["binding:host_id"] == "chassis-1"
    assert rest.create("ports", network_id=net["id"], port_security_enabled=True)["port_security_enabled"]


def test_explicit_addresses_and_their_conflicts(rest: Rest) -> None:
    net, (sub,) = network_with_subnets(rest, "10.0.0.0/24")
    other_net, (other_sub,) = network_with_subnets(rest, "10.5.0.0/24")

    def post(fixed_ips: list[dict[str, str]], **attrs: Any) -> httpx.Response:
        return rest.http.post(
            "/v2.0/ports", json={schema.PORT: {"network_id": net["id"], "fixed_ips": fixed_ips, **attrs}}
        )

    first = post([{"subnet_id": sub["id"], "ip_address": "10.0.0.50"}], mac_address="FA:16:3E:00:00:01")
    assert first.status_code == 201
    assert first.json()[schema.PORT]["mac_address"] == "fa:16:3e:00:00:01"
    taken = error_of(post([{"ip_address": "10.0.0.50"}]), 409)
    assert taken == {
        "type": "IpAddressAlreadyAllocated",
        "message": f"IP address 10.0.0.50 already allocated in subnet {sub['id']}",
        "detail": "",
    }
    assert error_of(post([], mac_address="fa:16:3e:00:00:01"), 409)["type"] == "MacAddressInUse"
    assert (
        error_of(post([{"subnet_id": sub["id"], "ip_address": "10.9.0.5"}]), 400)["type"]
        == "InvalidIpForSubnet"
    )
    assert (
        error_of(post([{"subnet_id": sub["id"], "ip_address": "10.0.0.0"}]), 400)["type"]
        == "InvalidIpForSubnet"
    )
    assert error_of(post([{"ip_address": "10.9.0.5"}]), 400)["type"] == "InvalidIpForNetwork"
    assert error_of(post([{"subnet_id": str(uuid.uuid4())}]), 404)["type"] == "SubnetNotFound"
    assert error_of(post([{"subnet_id": other_sub["id"]}]), 400)["type"] == "InvalidInput"
    assert error_of(post([{"ip_address": "bad"}]), 400)["message"] == (
        "Invalid input for fixed_ips. Reason: 'bad' is not a valid IP address."
    )
    assert error_of(post([], mac_address="zz"), 400)["type"] == "HTTPBadRequest"
    # the same MAC on another network is fine, the gateway can be taken explicitly
    elsewhere = rest.http.post(
        "/v2.0/ports", json={schema.PORT: {"network_id": other_net["id"], "mac_address": "fa:16:3e:00:00:01"}}
    )
    assert elsewhere.status_code == 201
    assert post([{"ip_address": "10.0.0.1"}]).status_code == 201
    assert len(rest.list("ports")) == 3


def test_address_exhaustion_is_a_conflict(rest: Rest) -> None:
    net, _ = network_with_subnets(rest, "10.0.0.0/30")  # one usable address besides the gateway
    rest.create("ports", network_id=net["id"])
    err = error_of(rest.http.post("/v2.0/ports", json={schema.PORT: {"network_id": net["id"]}}), 409)
    assert err["type"] == "IpAddressGenerationFailure"


def test_port_update_reallocates_fixed_ips(rest: Rest) -> None:
    net, (sub_a, sub_b) = network_with_subnets(rest, "10.0.0.0/24", "10.1.0.0/24")
    port = rest.create("ports", network_id=net["id"])
    url = f"/v2.0/ports/{port['id']}"
    keep = rest.http.put(
        url, json={schema.PORT: {"fixed_ips": [{"subnet_id": sub_a["id"]}, {"subnet_id": sub_b["id"]}]}}
    )
    assert keep.json()[schema.PORT]["fixed_ips"] == [
        {"subnet_id": sub_a["id"], "ip_address": "10.0.0.2"},
        {"subnet_id": sub_b["id"], "ip_address": "10.1.0.2"},
    ]
    moved = rest.http.put(
        url, json={schema.PORT: {"fixed_ips": [{"ip_address": "10.1.0.77"}], "device_id": "vm9"}}
    )
    assert moved.json()[schema.PORT]["fixed_ips"] == [{"subnet_id": sub_b["id"], "ip_address": "10.1.0.77"}]
    assert moved.json()[schema.PORT]["device_id"] == "vm9"
    reused = rest.create("ports", network_id=net["id"])  # the freed 10.0.0.2 is handed out again
    assert reused["fixed_ips"][0]["ip_address"] == "10.0.0.2"
    refused = rest.http.put(url, json={schema.PORT: {"mac_address": "fa:16:3e:00:00:09"}})
    assert error_of(refused, 400)["message"] == (
        "Cannot update read-only attribute mac_address: it is set when the port is created "
        "(create a new port to change it)"
    )


def test_port_filters(rest: Rest) -> None:
    net, (sub,) = network_with_subnets(rest, "10.0.0.0/24")
    a = rest.create("ports", network_id=net["id"], device_id="vm-a", name="a")
    b = rest.create("ports", network_id=net["id"], device_id="vm-b", name="b")

    def ids(**params: Any) -> list[str]:
        return sorted(p["id"] for p in rest.list("ports", **params))

    assert ids(device_id="vm-a") == [a["id"]]
    assert ids(mac_address=b["mac_address"].upper()) == [b["id"]]
    assert ids(fixed_ips="ip_address=10.0.0.3") == [b["id"]]
    assert ids(fixed_ips=f"subnet_id={sub['id']}") == sorted([a["id"], b["id"]])
    assert ids(network_id=net["id"], name="b") == [b["id"]]


def test_deletes_respect_what_is_in_use(rest: Rest, api_server: ApiServer) -> None:
    net, (sub,) = network_with_subnets(rest, "10.0.0.0/24")
    port = rest.create("ports", network_id=net["id"])
    in_use = error_of(rest.http.delete(f"/v2.0/networks/{net['id']}"), 409)
    assert in_use["type"] == "NetworkInUse" and port["id"] in in_use["message"]
    assert error_of(rest.http.delete(f"/v2.0/subnets/{sub['id']}"), 409)["type"] == "SubnetInUse"
    assert rest.http.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert rest.http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert api_server.store.list(schema.SUBNET) == []  # the network took its subnets along


def test_subnet_delete_updates_its_network(rest: Rest) -> None:
    net, (a, b) = network_with_subnets(rest, "10.0.0.0/24", "10.1.0.0/24")
    assert rest.http.delete(f"/v2.0/subnets/{a['id']}").status_code == 204
    assert rest.http.get(f"/v2.0/networks/{net['id']}").json()[schema.NETWORK]["subnets"] == [b["id"]]


def test_chassis_are_admin_only_and_deletable_not_writable(rest: Rest, api_server: ApiServer) -> None:
    from steerflow.model.core import Chassis
    from steerflow.nbdb.api import Put

    chassis = Chassis.from_dict({"name": "hv1", "underlay_ip": "192.0.2.1"})
    api_server.store.commit([Put(schema.CHASSIS, chassis.id, chassis.to_dict())])
    listed = rest.http.get("/v2.0/steerflow/chassis").json()[schema.CHASSIS]
    never_heard = {"alive": False, "last_seen": None, "heartbeat_age": None}  # no report yet: down
    assert listed == [{**chassis.to_dict(), "applied_revision": 0, "installed_revision": 0, **never_heard}]
    report = {"id": "hv1", "applied_revision": 9, "installed_revision": 11}  # the agent's (`nbdb.status`)
    api_server.store.commit([Put(schema.CHASSIS_STATUS, "hv1", report)])
    shown = rest.http.get("/v2.0/steerflow/chassis/hv1").json()[schema.CHASSIS]
    assert (shown["applied_revision"], shown["installed_revision"]) == (9, 11)
    listed = rest.http.get("/v2.0/steerflow/chassis").json()[schema.CHASSIS]
    assert [(c["applied_revision"], c["installed_revision"]) for c in listed] == [(9, 11)]
    # agents register chassis: POST and PUT are a 405 naming the method, with `Allow`
    refused = rest.http.post("/v2.0/steerflow/chassis", json={schema.CHASSIS: {"name": "x"}})
    assert error_of(refused, 405)["message"] == "The method POST is not allowed for this resource."
    assert "POST" not in refused.headers["allow"] and "GET" in refused.headers["allow"]
    assert (
        error_of(rest.http.put("/v2.0/steerflow/chassis/hv1", json={}), 405)["type"] == "HTTPMethodNotAllowed"
    )
    assert rest.http.delete("/v2.0/steerflow/chassis/hv1").status_code == 204  # an admin forgets a dead one
    assert rest.http.get("/v2.0/steerflow/chassis/hv1").status_code == 404
