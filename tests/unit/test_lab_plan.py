"""The lab's naming scheme, address plan and static flows: pure parts, no root needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from steerflow.cli.lab_cmd import MAX_VMS, LabPlan
from steerflow.lab import ChassisHandle, LabNames, VmHandle, static_l2_flows
from steerflow.lab.names import check_mac, check_prefix, check_tenant_cidr, check_underlay_ip

IFNAMSIZ = 15


def test_every_interface_name_fits_linux_limit() -> None:
    names = LabNames("abcdefgh")
    longest = [*names.chassis_uplink(9999), *names.vm_link(9999), names.underlay_bridge]
    assert max(len(n) for n in longest) <= IFNAMSIZ


@pytest.mark.parametrize("prefix", ["", "a", "ABC", "abcdefghi", "1ab", "a-b", "a_b"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        check_prefix(prefix)


def test_a_prefix_never_claims_what_a_longer_prefix_owns() -> None:
    short, long = LabNames("sf1"), LabNames("sf1c1")
    theirs = [long.underlay_bridge, *long.chassis_uplink(2), *long.vm_link(3)]
    assert [n for n in theirs if short.owns_link(n)] == []
    assert all(long.owns_link(n) for n in theirs)
    assert not short.owns_netns(long.netns("ch1"))
    assert short.owns_netns(short.netns("ch1"))
    assert not short.owns_link("sf1c2x") and not short.owns_link("eth0")


@pytest.mark.parametrize("ip", ["192.0.2.5", "198.51.101.1", "198.51.100.0", "198.51.100.255", "10.0.0.1"])
def test_underlay_addresses_stay_in_the_documentation_range(ip: str) -> None:
    with pytest.raises(ValueError, match="underlay"):
        check_underlay_ip(ip)


@pytest.mark.parametrize(
    ("cidr", "version"),
    [
        ("192.0.2.1/24", 4),
        ("203.0.113.1/16", 4),
        ("2001:db9::1/64", 6),
        ("203.0.113.1/24", 6),
        ("fe80::1/64", 6),
    ],
)
def test_tenant_addresses_stay_in_the_documentation_ranges(cidr: str, version: int) -> None:
    with pytest.raises(ValueError, match="tenant"):
        check_tenant_cidr(cidr, version)


def test_valid_addresses_are_normalised() -> None:
    assert check_tenant_cidr("2001:DB8:0::5/64", 6) == "2001:db8::5/64"
    assert check_mac("02:AA:00:00:00:01") == "02:aa:00:00:00:01"
    with pytest.raises(ValueError, match="unicast"):
        check_mac("01:00:5e:00:00:01")


def test_cli_plan_addresses_are_all_valid_and_distinct() -> None:
    plan = LabPlan(chassis=2, vms_per_chassis=2)
    addresses = [plan.vm_addresses(k) for k in range(1, MAX_VMS + 1)]
    for mac, ipv4, ipv6 in addresses:
        assert check_mac(mac) == mac
        assert check_tenant_cidr(ipv4, 4) == ipv4
        assert check_tenant_cidr(ipv6, 6) == ipv6
    assert len({a for triple in addresses for a in triple}) == 3 * MAX_VMS
    assert check_underlay_ip(plan.chassis_ip(200)) == "198.51.100.210"


def _chassis(name: str, ip: str, create_br_int: bool = True) -> ChassisHandle:
    return ChassisHandle(name, 0, f"p-{name}", ip, Path("/x") / name, "pc0p", create_br_int)


def _vm(name: str, chassis: str, mac: str, ofport: int) -> VmHandle:
    return VmHandle(name, 0, f"p-{name}", chassis, mac, "203.0.113.1/24", None, name, "e", "p", ofport)


def test_static_flows_deliver_locally_tunnel_remotely_and_flood_to_every_peer() -> None:
    chassis = [
        _chassis("a", "198.51.100.1"),
        _chassis("b", "198.51.100.2"),
        _chassis("c", "198.51.100.3", False),
    ]
    vms = [_vm("v1", "a", "02:00:00:00:00:01", 1), _vm("v2", "a", "02:00:00:00:00:02", 2)]
    vms += [_vm("v3", "b", "02:00:00:00:00:03", 5), _vm("v4", "c", "02:00:00:00:00:04", 6)]
    flows = static_l2_flows(chassis, vms, tunnel_key=7)

    assert set(flows) == {"a", "b"}  # c's br-int belongs to the agent
    a = flows["a"]
    assert "priority=20,in_port=1,dl_dst=02:00:00:00:00:02,actions=output:2" in a
    assert (
        "priority=20,in_port=1,dl_dst=02:00:00:00:00:03,"
        "actions=set_field:7->tun_id,set_field:198.51.100.2->tun_dst,output:100"
    ) in a
    flood = next(f for f in a if f.startswith("priority=10,in_port=1,"))
    assert flood.endswith(
        "actions=output:2,set_field:7->tun_id,set_field:198.51.100.2->tun_dst,output:100,"
        "set_field:198.51.100.3->tun_dst,output:100"
    )
    assert (
        "priority=10,in_port=100,tun_id=7,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=output:1,output:2"
        in a
    )
    assert "priority=20,in_port=100,tun_id=7,dl_dst=02:00:00:00:00:03,actions=output:5" in flows["b"]
