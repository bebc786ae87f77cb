"""CLI commands for the Neutron core resources chains need: networks, subnets and ports."""

from __future__ import annotations

from typing import Annotated

import typer

from steerflow.cli.common import (
    DescriptionOption,
    FormatOption,
    ListSpec,
    NameOption,
    add_list_show_delete,
    named_fields,
    open_client,
    parse_pairs,
    print_list,
    update_and_show,
)
from steerflow.cli.output import Format, JsonDict, emit_one
from steerflow.client import SteerflowClient

NETWORK = ListSpec("network", ("id", "name", "subnets"), {"subnets": "subnet"})
SUBNET = ListSpec("subnet", ("id", "name", "network_id", "cidr"), {"network_id": "network"})
PORT = ListSpec(
    "port", ("id", "name", "mac_address", "ip_addresses", "device_id"), {},
    {"ip_addresses": lambda port: "\n".join(ip.get("ip_address", "") for ip in port.get("fixed_ips") or [])},
)  # fmt: skip

network_app = typer.Typer(help="Networks (Neutron core).", no_args_is_help=True)
subnet_app = typer.Typer(help="Subnets (Neutron core).", no_args_is_help=True)
port_app = typer.Typer(
    help="Ports (Neutron core): the VM and service function interfaces.", no_args_is_help=True
)
add_list_show_delete(network_app, NETWORK, with_rename=True)
add_list_show_delete(subnet_app, SUBNET, with_list=False, with_rename=True)
add_list_show_delete(port_app, PORT, with_list=False)

NetworkOption = Annotated[str, typer.Option("--network", help="Network name or id.")]


def create_network(client: SteerflowClient, name: str, description: str | None = None) -> JsonDict:
    return client.create("network", {"name": name, **named_fields(None, description)})


def create_subnet(
    client: SteerflowClient,
    name: str,
    network: str,
    cidr: str,
    gateway: str | None = None,
    description: str | None = None,
) -> JsonDict:
    body: JsonDict = {"name": name, "network_id": client.find_id("network", network), "cidr": cidr}
    body.update(named_fields(None, description))
    body["ip_version"] = 6 if ":" in cidr else 4
    if gateway is not None:
        # the openstack CLI's `--gateway none` means no gateway
        body["gateway_ip"] = None if gateway.lower() == "none" else gateway
    return client.create("subnet", body)


def create_port(
    client: SteerflowClient,
    name: str,
    network: str,
    device: str | None = None,
    fixed_ips: list[str] | None = None,
    mac_address: str | None = None,
    host: str | None = None,
    description: str | None = None,
) -> JsonDict:
    """`fixed_ips` items are `subnet=NAME_OR_ID,ip-address=IP` (either part optional), as in openstack."""
    body: JsonDict = {"name": name, "network_id": client.find_id("network", network)}
    body.update(named_fields(None, description))
    if device is not None:
        body["device_id"] = device
    if mac_address is not None:
        body["mac_address"] = mac_address
    if host is not None:
        body["binding:host_id"] = host
    if fixed_ips:
        body["fixed_ips"] = [_fixed_ip(client, spec) for spec in fixed_ips]
    return client.create("port", body)


def _fixed_ip(client: SteerflowClient, spec: str) -> JsonDict:
    pairs = parse_pairs(spec, "--fixed-ip")
    unknown = set(pairs) - {"subnet", "ip-address"}
    if unknown:
        raise typer.BadParameter(f"unknown key(s) {sorted(unknown)}", param_hint="--fixed-ip")
    out: JsonDict = {}
    if "subnet" in pairs:
        out["subnet_id"] = client.find_id("subnet", pairs["subnet"])
    if "ip-address" in pairs:
        out["ip_address"] = pairs["ip-address"]
    return out


@network_app.command("create", help="Create a network.")
def network_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new network.")],
    description: DescriptionOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    with open_client(ctx) as client:
        emit_one(create_network(client, name, description), fmt)


@subnet_app.command("create", help="Create a subnet on a network.")
def subnet_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new subnet.")],
    network: NetworkOption,
    subnet_range: Annotated[str, typer.Option("--subnet-range", help="CIDR, e.g. 10.0.0.0/24.")],
    gateway: Annotated[str | None, typer.Option(help="Gateway IP, or 'none'.")] = None,
    description: DescriptionOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    with open_client(ctx) as client:
        emit_one(create_subnet(client, name, network, subnet_range, gateway, description), fmt)


@subnet_app.command("list", help="List subnets.")
def subnet_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Only the subnets with this name.")] = None,
    network: Annotated[str | None, typer.Option(help="Only the subnets of this network.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    with open_client(ctx) as client:
        query = {"name": name} if name is not None else {}
        if network is not None:
            query["network_id"] = client.find_id("network", network)
        print_list(client, SUBNET, client.list("subnet", **query), fmt)


@port_app.command("create", help="Create a port on a network.")
def port_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new port.")],
    network: NetworkOption,
    device: Annotated[str | None, typer.Option(help="Device (VM) id owning the port.")] = None,
    fixed_ip: Annotated[
        list[str] | None,
        typer.Option(
            "--fixed-ip",
            metavar="subnet=SUBNET,ip-address=IP",
            help="subnet=<subnet>,ip-address=<ip> (repeatable).",
        ),
    ] = None,
    mac_address: Annotated[str | None, typer.Option("--mac-address", help="MAC address.")] = None,
    host: Annotated[str | None, typer.Option(help="Binding host (chassis) of the port.")] = None,
    description: DescriptionOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    with open_client(ctx) as client:
        emit_one(create_port(client, name, network, device, fixed_ip, mac_address, host, description), fmt)


@port_app.command("list", help="List ports.")
def port_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Only the ports with this name.")] = None,
    network: Annotated[str | None, typer.Option(help="Only the ports on this network.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Only the ports of this device id.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    with open_client(ctx) as client:
        query = {"name": name} if name is not None else {}
        if network is not None:
            query["network_id"] = client.find_id("network", network)
        if device is not None:
            query["device_id"] = device
        print_list(client, PORT, client.list("port", **query), fmt)


@port_app.command("update", help="Change a port's name, description, device or binding host.")
def port_update(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="PORT", help="port name or id")],
    name: NameOption = None,
    description: DescriptionOption = None,
    device: Annotated[str | None, typer.Option(help="Device (VM) id owning the port.")] = None,
    host: Annotated[str | None, typer.Option(help="Binding host (chassis) of the port.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    body = named_fields(name, description)
    if device is not None:
        body["device_id"] = device
    if host is not None:
        body["binding:host_id"] = host
    update_and_show(ctx, "port", target, body, fmt)
