"""CLI commands for the Neutron core resources chains need: networks, subnets and ports."""

from __future__ import annotations

from typing import Annotated

import typer

from steerflow.cli.common import (
    ColumnOption,
    DescriptionOption,
    FormatOption,
    ListSpec,
    NameOption,
    ProjectOption,
    SetFormatOption,
    add_list_show_delete,
    create_fields,
    named_fields,
    open_client,
    parse_pairs,
    print_list,
    print_one,
    put_if_given,
    register_set,
    require_change,
    resource_app,
    target_arg,
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

network_app = resource_app("Networks (Neutron core).")
subnet_app = resource_app("Subnets (Neutron core).")
port_app = resource_app("Ports (Neutron core): the VM and service function interfaces.")
add_list_show_delete(network_app, NETWORK)
add_list_show_delete(subnet_app, SUBNET, with_list=False)
add_list_show_delete(port_app, PORT, with_list=False)

NetworkOption = Annotated[str, typer.Option("--network", help="Network name or id.")]
AdminStateOption = Annotated[
    bool | None, typer.Option("--enable/--disable", help="Administrative state (default: enabled).")
]
PortSecurityOption = Annotated[
    bool | None,
    typer.Option(
        "--enable-port-security/--disable-port-security",
        help="Port security (default: enabled; a port's default is its network's).",
    ),
]
ShareOption = Annotated[
    bool | None, typer.Option("--share/--no-share", help="Visible to every project (default: no).")
]
MtuOption = Annotated[int | None, typer.Option("--mtu", help="MTU of the network (68-65535, default 1442).")]
GatewayOption = Annotated[
    str | None, typer.Option("--gateway", metavar="IP|none", help="Gateway IP, or 'none' for no gateway.")
]
DhcpOption = Annotated[bool | None, typer.Option("--dhcp/--no-dhcp", help="DHCP on the subnet.")]
DeviceOption = Annotated[str | None, typer.Option("--device", help="Device (VM) id owning the port.")]
DeviceOwnerOption = Annotated[
    str | None, typer.Option("--device-owner", help="What owns the port, e.g. compute:nova.")
]
HostOption = Annotated[str | None, typer.Option("--host", help="Binding host (chassis) of the port.")]
FixedIpOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fixed-ip",
        metavar="subnet=SUBNET,ip-address=IP",
        help="subnet=<subnet>,ip-address=<ip> (repeatable).",
    ),
]


@network_app.command("create", help="Create a network.")
def network_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new network.")],
    description: DescriptionOption = None,
    mtu: MtuOption = None,
    share: ShareOption = None,
    port_security: PortSecurityOption = None,
    enable: AdminStateOption = None,
    project: ProjectOption = None,
    fmt: FormatOption = Format.table,
    columns: ColumnOption = None,
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


def network_set(
    ctx: typer.Context,
    target: Annotated[str, target_arg(schema.NETWORK)],
    name: NameOption = None,
    description: DescriptionOption = None,
    mtu: MtuOption = None,
    share: ShareOption = None,
    port_security: PortSecurityOption = None,
    enable: AdminStateOption = None,
    fmt: SetFormatOption = None,
    columns: ColumnOption = None,
) -> None:
    body = network_fields(named_fields(name, description), mtu, share, port_security, enable)
    update_and_show(ctx, NETWORK, target, body, fmt, columns)


register_set(network_app, network_set, "Change a network's name, description, MTU, sharing or port security.")


def _gateway(text: str) -> str | None:
    """The openstack CLI's `--gateway none` means no gateway."""
    return None if text.lower() == "none" else text


def _allocation_pool(text: str) -> JsonDict:
    pairs = parse_pairs(text, "--allocation-pool")
    if set(pairs) != {"start", "end"}:
        raise typer.BadParameter(f"expected start=IP,end=IP, got {text!r}", param_hint="--allocation-pool")
    return pairs


@subnet_app.command("create", help="Create a subnet on a network.")
def subnet_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new subnet.")],
    network: NetworkOption,
    subnet_range: Annotated[str, typer.Option("--subnet-range", help="CIDR, e.g. 10.0.0.0/24.")],
    gateway: GatewayOption = None,
    allocation_pools: Annotated[
        list[str] | None,
        typer.Option(
            "--allocation-pool", metavar="start=IP,end=IP", help="Addresses ports get (repeatable)."
        ),
    ] = None,
    dhcp: DhcpOption = None,
    description: DescriptionOption = None,
    project: ProjectOption = None,
    fmt: FormatOption = Format.table,
    columns: ColumnOption = None,
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


def subnet_set(
    ctx: typer.Context,
    target: Annotated[str, target_arg(schema.SUBNET)],
    name: NameOption = None,
    description: DescriptionOption = None,
    gateway: GatewayOption = None,
    dhcp: DhcpOption = None,
    fmt: SetFormatOption = None,
    columns: ColumnOption = None,
) -> None:
    body = put_if_given(named_fields(name, description), enable_dhcp=dhcp)
    if gateway is not None:
        body["gateway_ip"] = _gateway(gateway)
    update_and_show(ctx, SUBNET, target, body, fmt, columns)


register_set(subnet_app, subnet_set, "Change a subnet's name, description, gateway or DHCP.")


@subnet_app.command("list", help="List subnets.")
def subnet_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Only the subnets with this name.")] = None,
    network: Annotated[str | None, typer.Option(help="Only the subnets of this network.")] = None,
    fmt: FormatOption = Format.table,
    columns: ColumnOption = None,
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
        raise typer.BadParameter(
            f"unknown key(s) {sorted(unknown)}; the keys are {SUBNET_KEY} and {ADDRESS_KEY}",
            param_hint="--fixed-ip",
        )
    out: JsonDict = {}
    if SUBNET_KEY in pairs:
        out["subnet_id"] = client.find_id(schema.SUBNET, pairs[SUBNET_KEY])
    if ADDRESS_KEY in pairs:
        out["ip_address"] = pairs[ADDRESS_KEY]
    return out


@port_app.command("create", help="Create a port on a network.")
def port_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new port.")],
    network: NetworkOption,
    device: DeviceOption = None,
    device_owner: DeviceOwnerOption = None,
    fixed_ips: FixedIpOption = None,
    mac_address: Annotated[str | None, typer.Option("--mac-address", help="MAC address.")] = None,
    host: HostOption = None,
    port_security: PortSecurityOption = None,
    enable: AdminStateOption = None,
    description: DescriptionOption = None,
    project: ProjectOption = None,
    fmt: FormatOption = Format.table,
    columns: ColumnOption = None,
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


@port_app.command("list", help="List ports.")
def port_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Only the ports with this name.")] = None,
    network: Annotated[str | None, typer.Option(help="Only the ports on this network.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Only the ports of this device id.")] = None,
    fmt: FormatOption = Format.table,
    columns: ColumnOption = None,
) -> None:
    with open_client(ctx) as client:
        query = {"name": name} if name is not None else {}
        if network is not None:
            query["network_id"] = client.find_id(schema.NETWORK, network)
        if device is not None:
            query["device_id"] = device
        print_list(client, PORT, client.list(schema.PORT, **query), fmt, columns)


def port_set(
    ctx: typer.Context,
    target: Annotated[str, target_arg(schema.PORT)],
    name: NameOption = None,
    description: DescriptionOption = None,
    device: DeviceOption = None,
    device_owner: DeviceOwnerOption = None,
    host: HostOption = None,
    fixed_ips: FixedIpOption = None,
    no_fixed_ip: Annotated[
        bool, typer.Option("--no-fixed-ip", help="Replace the addresses (else --fixed-ip adds).")
    ] = False,
    port_security: PortSecurityOption = None,
    enable: AdminStateOption = None,
    fmt: SetFormatOption = None,
    columns: ColumnOption = None,
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
    port_app, port_set, "Change a port's name, description, device, binding host, addresses or port security."
)


def _ip_key(ip: JsonDict) -> JsonDict:
    return {"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]}


@port_app.command("unset", help="Remove addresses or the binding host from a port.")
def port_unset(
    ctx: typer.Context,
    target: Annotated[str, target_arg(schema.PORT)],
    fixed_ips: Annotated[
        list[str] | None,
        typer.Option(
            "--fixed-ip",
            metavar="subnet=SUBNET,ip-address=IP",
            help="Remove the addresses matching this (repeatable).",
        ),
    ] = None,
    host: Annotated[bool, typer.Option("--host", help="Clear the binding host.")] = False,
    fmt: SetFormatOption = None,
    columns: ColumnOption = None,
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
