"""CLI commands for service functions: port pairs and port pair groups (networking-sfc)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from steerflow.cli.common import (
    Decorator,
    ListSpec,
    add_list_show_delete,
    create_fields,
    description_option,
    name_argument,
    name_option,
    named_fields,
    open_client,
    output_options,
    parse_pairs,
    print_one,
    project_option,
    register_set,
    require_change,
    resolve_all,
    resource_group,
    set_output_options,
    target_argument,
)
from steerflow.cli.output import Format, JsonDict
from steerflow.client import SteerflowClient
from steerflow.model import schema

PORT_PAIR = ListSpec(
    schema.PORT_PAIR, ("id", "name", "ingress", "egress", "service_function_parameters"),
    {"ingress": schema.PORT, "egress": schema.PORT},
)  # fmt: skip
PORT_PAIR_GROUP = ListSpec(
    schema.PORT_PAIR_GROUP,
    ("id", "name", "group_id", "port_pairs", "port_pair_group_parameters", "tap_enabled"),
    {"port_pairs": schema.PORT_PAIR},
)

port_pair_commands = resource_group("Port pairs: one service function's ingress and egress ports.")
port_pair_group_commands = resource_group(
    "Port pair groups: equivalent service functions one chain hop balances over."
)
add_list_show_delete(port_pair_commands, PORT_PAIR, with_rename=True)
add_list_show_delete(port_pair_group_commands, PORT_PAIR_GROUP)


def n_tuple_option(flag: str, name: str, direction: str) -> Decorator[Any]:
    return click.option(
        flag,
        name,
        metavar="KEY=VALUE,...",
        help=f"ppg_n_tuple_mapping of traffic {direction} the group's functions: source_ip_prefix, "
        "destination_ip_prefix, source_port_range_min/max, destination_port_range_min/max.",
    )


port_pairs_option = click.option(
    "--port-pair", "port_pairs", multiple=True, metavar="PORT_PAIR", help="Port pair name or id (repeatable)."
)


def create_port_pair(
    client: SteerflowClient, base: JsonDict, ingress: str, egress: str, parameters: str | None = None
) -> JsonDict:
    """`base`: the name, description and project (create_fields)."""
    body: JsonDict = {
        **base,
        "ingress": client.find_id(schema.PORT, ingress),
        "egress": client.find_id(schema.PORT, egress),
    }
    if parameters is not None:
        body["service_function_parameters"] = sf_parameters(parameters)
    return client.create(schema.PORT_PAIR, body)


def sf_parameters(text: str) -> dict[str, Any]:
    """`correlation=<none|mpls|nsh>,weight=<n>` as the API's service_function_parameters."""
    params: dict[str, Any] = {}
    for key, value in parse_pairs(text, "--service-function-parameters").items():
        if key == "correlation":
            params[key] = None if value.lower() in ("", "none") else value
        elif key == "weight":
            params[key] = int(value) if value.isdigit() else value
        else:
            params[key] = value  # the API rejects unknown keys with a clear message
    return params


def create_port_pair_group(
    client: SteerflowClient,
    base: JsonDict,
    port_pairs: Sequence[str] = (),
    tap: bool | None = None,
    parameters: str | None = None,
    n_tuples: dict[str, str] | None = None,
) -> JsonDict:
    """`n_tuples`: the `key=value,...` text of `ingress_n_tuple` / `egress_n_tuple`, when given."""
    body: JsonDict = {**base, "port_pairs": resolve_all(client, schema.PORT_PAIR, port_pairs)}
    if tap is not None:
        body["tap_enabled"] = tap
    if parameters is not None or n_tuples:
        params = ppg_parameters(parameters or "")
        if n_tuples:
            params["ppg_n_tuple_mapping"] = {
                side: n_tuple(text, f"--{side.replace('_', '-')}") for side, text in n_tuples.items()
            }
        body["port_pair_group_parameters"] = params
    return client.create(schema.PORT_PAIR_GROUP, body)


def n_tuple(text: str, option: str) -> dict[str, Any]:
    """`source_ip_prefix=10.0.0.0/24,destination_port_range_min=80,...`: how a group rewrites the
    n-tuple on the way in or out (port numbers as integers)."""
    return {key: int(value) if value.isdigit() else value for key, value in parse_pairs(text, option).items()}


def ppg_parameters(text: str) -> dict[str, Any]:
    """`lb-fields=ip_src&ip_dst` (the openstack CLI's form) as port_pair_group_parameters."""
    params: dict[str, Any] = {}
    for key, value in parse_pairs(text, "--port-pair-group-parameters").items():
        if key in ("lb-fields", "lb_fields"):
            params["lb_fields"] = [f for f in value.split("&") if f]
        else:
            params[key] = value
    return params


@port_pair_commands.command("create", help="Create a port pair (a service function's ingress and egress).")
@name_argument
@click.option("--ingress", required=True, help="Ingress port name or id.")
@click.option("--egress", required=True, help="Egress port name or id.")
@click.option(
    "--service-function-parameters", "parameters", metavar="correlation=<none|mpls|nsh>,weight=<n>",
    help="Service function parameters.",
)  # fmt: skip
@description_option
@project_option
@output_options
@click.pass_context
def port_pair_create(
    ctx: click.Context,
    name: str,
    ingress: str,
    egress: str,
    parameters: str | None,
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    with open_client(ctx) as client:
        pair = create_port_pair(
            client, create_fields(name, description, project), ingress, egress, parameters
        )
        print_one(client, PORT_PAIR, pair, fmt, columns)


@port_pair_group_commands.command("create", help="Create a port pair group.")
@name_argument
@port_pairs_option
@click.option("--enable-tap/--disable-tap", "tap", default=None, help="Passive (tap) service functions.")
@click.option(
    "--port-pair-group-parameters", "parameters", metavar="lb-fields=<field>&<field>...",
    help="Balance on: eth_src, eth_dst, ip_src, ip_dst, tcp_src, tcp_dst, udp_src, udp_dst.",
)  # fmt: skip
@n_tuple_option("--ingress-n-tuple", "ingress_n_tuple", "entering")
@n_tuple_option("--egress-n-tuple", "egress_n_tuple", "leaving")
@description_option
@project_option
@output_options
@click.pass_context
def port_pair_group_create(
    ctx: click.Context,
    name: str,
    port_pairs: Sequence[str],
    tap: bool | None,
    parameters: str | None,
    ingress_n_tuple: str | None,
    egress_n_tuple: str | None,
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    base = create_fields(name, description, project)
    sides = {"ingress_n_tuple": ingress_n_tuple, "egress_n_tuple": egress_n_tuple}
    n_tuples = {side: text for side, text in sides.items() if text is not None}
    with open_client(ctx) as client:
        group = create_port_pair_group(client, base, port_pairs, tap, parameters, n_tuples)
        print_one(client, PORT_PAIR_GROUP, group, fmt, columns)


@target_argument(schema.PORT_PAIR_GROUP)
@name_option
@description_option
@port_pairs_option
@click.option("--no-port-pair", is_flag=True, help="Start from an empty list (else --port-pair adds).")
@set_output_options
@click.pass_context
def port_pair_group_set(
    ctx: click.Context,
    target: str,
    name: str | None,
    description: str | None,
    port_pairs: Sequence[str],
    no_port_pair: bool,
    fmt: Format | None,
    columns: Sequence[str],
) -> None:
    body = named_fields(name, description)
    with open_client(ctx) as client:
        ppg = client.find(schema.PORT_PAIR_GROUP, target)
        if port_pairs or no_port_pair:
            kept = [] if no_port_pair else list(ppg["port_pairs"])
            added = [pp for pp in resolve_all(client, schema.PORT_PAIR, port_pairs) if pp not in kept]
            body["port_pairs"] = kept + added
        require_change(body)
        print_one(
            client, PORT_PAIR_GROUP, client.update(schema.PORT_PAIR_GROUP, ppg["id"], body), fmt, columns
        )


register_set(
    port_pair_group_commands, port_pair_group_set, "Rename a port pair group or change its port pairs."
)


@port_pair_group_commands.command("unset", help="Remove port pairs from a port pair group.")
@target_argument(schema.PORT_PAIR_GROUP)
@click.option(
    "--port-pair", "port_pairs", multiple=True, metavar="PORT_PAIR", help="Port pair to remove (repeatable)."
)
@click.option("--all-port-pair", "all_port_pairs", is_flag=True, help="Remove every port pair.")
@set_output_options
@click.pass_context
def port_pair_group_unset(
    ctx: click.Context,
    target: str,
    port_pairs: Sequence[str],
    all_port_pairs: bool,
    fmt: Format | None,
    columns: Sequence[str],
) -> None:
    if not (port_pairs or all_port_pairs):
        require_change({})  # a usage error, before any request
    with open_client(ctx) as client:
        ppg = client.find(schema.PORT_PAIR_GROUP, target)
        drop = set(resolve_all(client, schema.PORT_PAIR, port_pairs))
        kept = [] if all_port_pairs else [pp for pp in ppg["port_pairs"] if pp not in drop]
        updated = client.update(schema.PORT_PAIR_GROUP, ppg["id"], {"port_pairs": kept})
        print_one(client, PORT_PAIR_GROUP, updated, fmt, columns)
