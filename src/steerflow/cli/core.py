"""CLI commands for the Neutron core resources chains need: networks, subnets and ports."""

from __future__ import annotations

from collections.abc import Sequence

import click

from steerflow.cli.common import (
    ListSpec,
    add_list_show_delete,
    create_fields,
    description_option,
    flag,
    name_argument,
    name_option,
    named_fields,
    open_client,
    output_options,
    parse_pairs,
    print_list,
    print_one,
    project_option,
    put_if_given,
    register_set,
    require_change,
    resource_group,
    set_output_options,
    target_argument,
    update_and_show,
)
from steerflow.cli.output import Format, JsonDict
from steerflow.client import SteerflowClient
from steerflow.model import schema

NETWORK = ListSpec(schema.NETWORK, ("id", "name", "subnets"), {"subnets": schema.SUBNET})
SUBNET = ListSpec(schema.SUBNET, ("id", "name", "network_id", "cidr"), {"network_id": schema.NETWORK})
PORT = ListSpec(
    schema.PORT, ("id", "name", "mac_address", "ip_addresses", "device_id"), {"network_id": schema.NETWORK},
    {"ip_addresses": lambda port: [ip.get("ip_address", "") for ip in port.get("fixed_ips") or []]},
)  # fmt: skip

network_commands = resource_group("Networks (Neutron core).")
subnet_commands = resource_group("Subnets (Neutron core).")
port_commands = resource_group("Ports (Neutron core): the VM and service function interfaces.")
add_list_show_delete(network_commands, NETWORK)
add_list_show_delete(subnet_commands, SUBNET, with_list=False)
add_list_show_delete(port_commands, PORT, with_list=False)

network_option = click.option("--network", required=True, help="Network name or id.")
admin_state_option = flag("--enable/--disable", "enable", "Administrative state (default: enabled).")
port_security_option = flag(
    "--enable-port-security/--disable-port-security", "port_security",
    "Port security (default: enabled; a port's default is its network's).",
)  # fmt: skip
share_option = flag("--share/--no-share", "share", "Visible to every project (default: no).")
mtu_option = click.option("--mtu", type=int, help="MTU of the network (68-65535, default 1442).")
gateway_option = click.option("--gateway", metavar="IP|none", help="Gateway IP, or 'none' for no gateway.")
dhcp_option = flag("--dhcp/--no-dhcp", "dhcp", "DHCP on the subnet.")
device_option = click.option("--device", help="Device (VM) id owning the port.")
device_owner_option = click.option("--device-owner", help="What owns the port, e.g. compute:nova.")
host_option = click.option("--host", help="Binding host (chassis) of the port.")
fixed_ip_option = click.option(
    "--fixed-ip", "fixed_ips", multiple=True, metavar="subnet=SUBNET,ip-address=IP",
    help="subnet=<subnet>,ip-address=<ip> (repeatable).",
)  # fmt: skip


@network_commands.command("create", help="Create a network.")
@name_argument
@description_option
@mtu_option
@share_option
@port_security_option
@admin_state_option
@project_option
@output_options
@click.pass_context
def network_create(
    ctx: click.Context,
    name: str,
    description: str | None,
    mtu: int | None,
    share: bool | None,
    port_security: bool | None,
    enable: bool | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    body = network_fields(create_fields(name, description, project), mtu, share, port_security, enable)
    with open_client(ctx) as client:
        print_one(client, NETWORK, client.create(schema.NETWORK, body), fmt, columns)


def network_fields(
    body: JsonDict, mtu: int | None, share: bool | None, port_security: bool | None, enable: bool | None
) -> JsonDict:
    return put_if_given(
        body, mtu=mtu, shared=share, port_security_enabled=port_security, admin_state_up=enable
    )


@target_argument(schema.NETWORK)
@name_option
@description_option
@mtu_option
@share_option
@port_security_option
@admin_state_option
@set_output_options
@click.pass_context
def network_set(
    ctx: click.Context,
    target: str,
    name: str | None,
    description: str | None,
    mtu: int | None,
    share: bool | None,
    port_security: bool | None,
    enable: bool | None,
    fmt: Format | None,
    columns: Sequence[str],
) -> None:
    body = network_fields(named_fields(name, description), mtu, share, port_security, enable)
    update_and_show(ctx, NETWORK, target, body, fmt, columns)


register_set(
    network_commands, network_set, "Change a network's name, description, MTU, sharing or port security."
)


def _gateway(text: str) -> str | None:
    """The openstack CLI's `--gateway none` means no gateway."""
    return None if text.lower() == "none" else text


def _allocation_pool(text: str) -> JsonDict:
    pairs = parse_pairs(text, "--allocation-pool")
    if set(pairs) != {"start", "end"}:
        raise click.BadParameter(f"expected start=IP,end=IP, got {text!r}", param_hint="--allocation-pool")
    return pairs


@subnet_commands.command("create", help="Create a subnet on a network.")
@name_argument
@network_option
@click.option("--subnet-range", required=True, help="CIDR, e.g. 10.0.0.0/24.")
@gateway_option
@click.option(
    "--allocation-pool", "allocation_pools", multiple=True, metavar="start=IP,end=IP",
    help="Addresses ports get (repeatable).",
)  # fmt: skip
@dhcp_option
@description_option
@project_option
@output_options
@click.pass_context
def subnet_create(
    ctx: click.Context,
    name: str,
    network: str,
    subnet_range: str,
    gateway: str | None,
    allocation_pools: Sequence[str],
    dhcp: bool | None,
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    body = create_fields(name, description, project)
    body.update(cidr=subnet_range, ip_version=6 if ":" in subnet_range else 4)
    if gateway is not None:
        body["gateway_ip"] = _gateway(gateway)
    if allocation_pools:
        body["allocation_pools"] = [_allocation_pool(p) for p in allocation_pools]
    put_if_given(body, enable_dhcp=dhcp)
    with open_client(ctx) as client:
        body["network_id"] = client.find_id(schema.NETWORK, network)
        print_one(client, SUBNET, client.create(schema.SUBNET, body), fmt, columns)


@target_argument(schema.SUBNET)
@name_option
@description_option
@gateway_option
@dhcp_option
@set_output_options
@click.pass_context
def subnet_set(
    ctx: click.Context,
    target: str,
    name: str | None,
    description: str | None,
    gateway: str | None,
    dhcp: bool | None,
    fmt: Format | None,
    columns: Sequence[str],
) -> None:
    body = put_if_given(named_fields(name, description), enable_dhcp=dhcp)
    if gateway is not None:
        body["gateway_ip"] = _gateway(gateway)
    update_and_show(ctx, SUBNET, target, body, fmt, columns)


register_set(subnet_commands, subnet_set, "Change a subnet's name, description, gateway or DHCP.")


@subnet_commands.command("list", help="List subnets.")
@click.option("--name", help="Only the subnets with this name.")
@click.option("--network", help="Only the subnets of this network.")
@output_options
@click.pass_context
def subnet_list(
    ctx: click.Context, name: str | None, network: str | None, fmt: Format, columns: Sequence[str]
) -> None:
    with open_client(ctx) as client:
        query = {"name": name} if name is not None else {}
        if network is not None:
            query["network_id"] = client.find_id(schema.NETWORK, network)
        print_list(client, SUBNET, client.list(schema.SUBNET, **query), fmt, columns)


# the keys of `--fixed-ip subnet=SUBNET,ip-address=IP`, the openstack CLI's words
SUBNET_KEY = "subnet"  # not the NB schema: a key of the --fixed-ip option
ADDRESS_KEY = "ip-address"


def fixed_ip(client: SteerflowClient, spec: str) -> JsonDict:
    """`subnet=NAME_OR_ID,ip-address=IP` (either part optional), as in openstack."""
    pairs = parse_pairs(spec, "--fixed-ip")
    unknown = set(pairs) - {SUBNET_KEY, ADDRESS_KEY}
    if unknown:
        raise click.BadParameter(
            f"unknown key(s) {sorted(unknown)}; the keys are {SUBNET_KEY} and {ADDRESS_KEY}",
            param_hint="--fixed-ip",
        )
    out: JsonDict = {}
    if SUBNET_KEY in pairs:
        out["subnet_id"] = client.find_id(schema.SUBNET, pairs[SUBNET_KEY])
    if ADDRESS_KEY in pairs:
        out["ip_address"] = pairs[ADDRESS_KEY]
    return out


@port_commands.command("create", help="Create a port on a network.")
@name_argument
@network_option
@device_option
@device_owner_option
@fixed_ip_option
@click.option("--mac-address", help="MAC address.")
@host_option
@port_security_option
@admin_state_option
@description_option
@project_option
@output_options
@click.pass_context
def port_create(
    ctx: click.Context,
    name: str,
    network: str,
    device: str | None,
    device_owner: str | None,
    fixed_ips: Sequence[str],
    mac_address: str | None,
    host: str | None,
    port_security: bool | None,
    enable: bool | None,
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    body = put_if_given(
        create_fields(name, description, project), device_id=device, device_owner=device_owner,
        mac_address=mac_address, port_security_enabled=port_security, admin_state_up=enable,
    )  # fmt: skip
    if host is not None:
        body["binding:host_id"] = host
    with open_client(ctx) as client:
        body["network_id"] = client.find_id(schema.NETWORK, network)
        if fixed_ips:
            body["fixed_ips"] = [fixed_ip(client, spec) for spec in fixed_ips]
        print_one(client, PORT, client.create(schema.PORT, body), fmt, columns)


@port_commands.command("list", help="List ports.")
@click.option("--name", help="Only the ports with this name.")
@click.option("--network", help="Only the ports on this network.")
@click.option("--device", help="Only the ports of this device id.")
@output_options
@click.pass_context
def port_list(
    ctx: click.Context,
    name: str | None,
    network: str | None,
    device: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    with open_client(ctx) as client:
        query = {"name": name} if name is not None else {}
        if network is not None:
            query["network_id"] = client.find_id(schema.NETWORK, network)
        if device is not None:
            query["device_id"] = device
        print_list(client, PORT, client.list(schema.PORT, **query), fmt, columns)


@target_argument(schema.PORT)
@name_option
@description_option
@device_option
@device_owner_option
@host_option
@fixed_ip_option
@click.option("--no-fixed-ip", is_flag=True, help="Replace the addresses (else --fixed-ip adds).")
@port_security_option
@admin_state_option
@set_output_options
@click.pass_context
def port_set(
    ctx: click.Context,
    target: str,
    name: str | None,
    description: str | None,
    device: str | None,
    device_owner: str | None,
    host: str | None,
    fixed_ips: Sequence[str],
    no_fixed_ip: bool,
    port_security: bool | None,
    enable: bool | None,
    fmt: Format | None,
    columns: Sequence[str],
) -> None:
    body = put_if_given(
        named_fields(name, description), device_id=device, device_owner=device_owner,
        port_security_enabled=port_security, admin_state_up=enable,
    )  # fmt: skip
    if host is not None:
        body["binding:host_id"] = host
    with open_client(ctx) as client:
        port = client.find(schema.PORT, target)
        if fixed_ips or no_fixed_ip:
            kept = [] if no_fixed_ip else [_ip_key(ip) for ip in port.get("fixed_ips") or []]
            body["fixed_ips"] = kept + [fixed_ip(client, spec) for spec in fixed_ips or ()]
        require_change(body)
        print_one(client, PORT, client.update(schema.PORT, port["id"], body), fmt, columns)


register_set(
    port_commands,
    port_set,
    "Change a port's name, description, device, binding host, addresses or port security.",
)


def _ip_key(ip: JsonDict) -> JsonDict:
    return {"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]}


@port_commands.command("unset", help="Remove addresses or the binding host from a port.")
@target_argument(schema.PORT)
@click.option(
    "--fixed-ip", "fixed_ips", multiple=True, metavar="subnet=SUBNET,ip-address=IP",
    help="Remove the addresses matching this (repeatable).",
)  # fmt: skip
@click.option("--host", is_flag=True, help="Clear the binding host.")
@set_output_options
@click.pass_context
def port_unset(
    ctx: click.Context,
    target: str,
    fixed_ips: Sequence[str],
    host: bool,
    fmt: Format | None,
    columns: Sequence[str],
) -> None:
    body: JsonDict = {}
    if host:
        body["binding:host_id"] = ""
    with open_client(ctx) as client:
        port = client.find(schema.PORT, target)
        if fixed_ips:
            drop = [fixed_ip(client, spec) for spec in fixed_ips]
            current = [_ip_key(ip) for ip in port.get("fixed_ips") or []]
            body["fixed_ips"] = [ip for ip in current if not any(_matches(ip, d) for d in drop)]
        require_change(body)
        print_one(client, PORT, client.update(schema.PORT, port["id"], body), fmt, columns)


def _matches(ip: JsonDict, pattern: JsonDict) -> bool:
    return all(ip.get(key) == value for key, value in pattern.items())
