"""The agents build the L2 fabric on real OVS: VMs on different chassis talk, networks stay apart."""

import pytest

from tests.fabric import Fabric
from tests.lab_fixtures import requires_lab

pytestmark = [pytest.mark.root, requires_lab]


def test_two_chassis_one_network_ping(fabric: Fabric) -> None:
    fabric.add_chassis("ch1", "198.51.100.11")
    fabric.add_chassis("ch2", "198.51.100.12")
    net = fabric.network("net1", "203.0.113.0/24")
    vm1 = fabric.plug_vm("ch1", "vm1", net)
    vm2 = fabric.plug_vm("ch2", "vm2", net)
    fabric.lab.warm_underlay()
    fabric.wait_applied()
    vm1.wait_ping(vm2.ipv4, timeout=10)
    vm2.wait_ping(vm1.ipv4, timeout=10)
