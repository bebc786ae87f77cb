"""`steerflow chassis list|show|delete`: the registered hypervisors, whether alive, and forgetting one."""

from __future__ import annotations

from collections.abc import Sequence

import click

from steerflow.cli.common import (
    ListSpec,
    add_show,
    delete_each,
    open_client,
    output_options,
    print_list,
    resource_group,
    target_argument,
)
from steerflow.cli.output import Format
from steerflow.client import SteerflowClient
from steerflow.model import schema

CHASSIS = ListSpec(
    schema.CHASSIS,
    ("id", "underlay_ip", "alive", "heartbeat_age", "last_seen", "applied_revision"),
)
chassis_commands = resource_group("Chassis (admin): the hypervisors agents registered, and their liveness.")


@chassis_commands.command("list", help="List chassis (alive or down).")
@click.option("--down", "only_down", is_flag=True, help="Only the chassis that are down.")
@output_options
@click.pass_context
def chassis_list(ctx: click.Context, only_down: bool, fmt: Format, columns: Sequence[str]) -> None:
    with open_client(ctx) as client:
        query = {"alive": "false"} if only_down else {}
        print_list(client, CHASSIS, client.list(schema.CHASSIS, **query), fmt, columns)


add_show(chassis_commands, CHASSIS)


@chassis_commands.command(
    "delete",
    help="Forget dead chassis: each one's registration, status and port bindings (its ports go DOWN and "
    "other chassis stop tunnelling to it). A chassis whose agent still runs registers again.",
)
@target_argument(schema.CHASSIS, many=True)
@click.pass_context
def chassis_delete(ctx: click.Context, targets: Sequence[str]) -> None:
    with open_client(ctx) as client:
        delete_each(client, CHASSIS, targets, _delete_one)


def _delete_one(client: SteerflowClient, target: str) -> None:
    chassis = client.find(schema.CHASSIS, target)
    client.delete(schema.CHASSIS, str(chassis["id"]))
    if chassis.get("alive"):
        click.echo(
            f"Warning: chassis {chassis['id']} was alive: its agent registers it again within a "
            "heartbeat; stop the agent first to remove the chassis for good",
            err=True,
        )
