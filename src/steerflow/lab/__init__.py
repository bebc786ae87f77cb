"""The lab: emulated chassis (netns + ovsdb-server + userspace ovs-vswitchd) and VMs for tests and demos."""

from steerflow.lab.chassis import INTEGRATION_BRIDGE, TUNNEL_OFPORT, TUNNEL_PORT, ChassisHandle
from steerflow.lab.cleanup import destroy, leftovers, sweep_orphans
from steerflow.lab.function import FunctionCounters, FunctionHandle, FunctionNic
from steerflow.lab.lab import ChassisStatus, Lab
from steerflow.lab.names import LabNames
from steerflow.lab.sh import LabCommandError, LabError
from steerflow.lab.static_flows import install_static_l2, static_l2_flows
from steerflow.lab.vm import VmHandle

__all__ = [
    "INTEGRATION_BRIDGE",
    "TUNNEL_OFPORT",
    "TUNNEL_PORT",
    "ChassisHandle",
    "ChassisStatus",
    "FunctionCounters",
    "FunctionHandle",
    "FunctionNic",
    "Lab",
    "LabCommandError",
    "LabError",
    "LabNames",
    "VmHandle",
    "destroy",
    "install_static_l2",
    "leftovers",
    "static_l2_flows",
    "sweep_orphans",
]
