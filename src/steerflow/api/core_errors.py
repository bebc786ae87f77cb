"""Neutron core API errors (networks, subnets, ports): upstream's class names, HTTP codes and messages."""

from __future__ import annotations

from steerflow.api.errors import (
    BadRequest,
    Conflict,
    InUse,
    InvalidInput,
    NeutronError,
    NotFound,
    ServiceUnavailable,
)


class NetworkNotFound(NotFound):
    template = "Network %(id)s could not be found."


class SubnetNotFound(NotFound):
    template = "Subnet %(id)s could not be found."


class PortNotFound(NotFound):
    template = "Port %(id)s could not be found."


class ChassisNotFound(NotFound):
    template = "Chassis %(id)s could not be found."


class NetworkInUse(InUse):
    template = (
        "Unable to complete operation on network %(net_id)s. There are one or more ports still in use "
        "on the network, id for these ports is: %(ports)s."
    )


class SubnetInUse(InUse):
    template = (
        "Unable to complete operation on subnet %(subnet_id)s: One or more ports have an IP allocation "
        "from this subnet."
    )


class PortInUse(InUse):
    """A port a port pair or a flow classifier refers to (upstream's foreign keys refuse the delete)."""

    template = "Unable to complete operation on port %(port_id)s: it is used by %(user)s."


class MacAddressInUse(InUse):
    template = "Unable to complete operation for network %(net_id)s. The mac address %(mac)s is in use."


class IpAddressAlreadyAllocated(Conflict):
    template = "IP address %(ip)s already allocated in subnet %(subnet_id)s"


class IpAddressGenerationFailure(Conflict):
    template = "No more IP addresses available on network %(net_id)s."


class InvalidSharedSetting(Conflict):
    template = (
        "Unable to reconfigure sharing settings for network %(network)s. Multiple tenants are using it."
    )


class InvalidIpForSubnet(BadRequest):
    template = "IP address %(ip_address)s is not a valid IP for the specified subnet."


class InvalidIpForNetwork(BadRequest):
    template = "IP address %(ip_address)s is not a valid IP for any of the subnets on the specified network."


class InvalidAllocationPool(BadRequest):
    template = "The allocation pool %(pool)s is not valid."


class OverlappingAllocationPools(Conflict):
    template = "Found overlapping allocation pools: %(pool_1)s %(pool_2)s for subnet %(subnet_cidr)s."


class OutOfBoundsAllocationPool(BadRequest):
    template = "The allocation pool %(pool)s spans beyond the subnet cidr %(subnet_cidr)s."


class GatewayConflictWithAllocationPools(InUse):
    template = "Gateway ip %(ip_address)s conflicts with allocation pool %(pool)s."


class ReadOnlyResource(NeutronError):
    """A collection the agents write and the API only shows."""

    status = 405
    template = "%(collection)s are written by the steerflow agents; the API only reads them."


__all__ = [
    "ChassisNotFound",
    "GatewayConflictWithAllocationPools",
    "InvalidAllocationPool",
    "InvalidInput",
    "InvalidIpForNetwork",
    "InvalidIpForSubnet",
    "InvalidSharedSetting",
    "IpAddressAlreadyAllocated",
    "IpAddressGenerationFailure",
    "MacAddressInUse",
    "NetworkInUse",
    "NetworkNotFound",
    "OutOfBoundsAllocationPool",
    "OverlappingAllocationPools",
    "PortInUse",
    "PortNotFound",
    "ReadOnlyResource",
    "SubnetInUse",
    "SubnetNotFound",
]


class NoNetworkAvailable(ServiceUnavailable):
    """Every Geneve VNI is taken (Neutron's class and its 503)."""

    template = "Unable to create the network. No tenant network is available for allocation."


class PortKeyExhausted(Conflict):
    template = "Network %(net_id)s has no free port key left (at most %(limit)d ports per network)."
