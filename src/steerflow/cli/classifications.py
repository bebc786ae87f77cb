"""CLI commands for neutron-classifier's classifications and classification groups (docs/classifier.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from steerflow.cli.common import (
    ListSpec,
    add_list_show_delete,
    create_fields,
    description_option,
    name_argument,
    open_client,
    output_options,
    parse_pairs,
    print_one,
    project_option,
    resolve_all,
    resource_group,
)
from steerflow.cli.output import Format, JsonDict
from steerflow.model import schema
from steerflow.model.classification import CLASSIFICATION_TYPES, OPERATORS

CLASSIFICATION = ListSpec(schema.CLASSIFICATION, ("id", "name", "type", "definition", "shared"))
CLASSIFICATION_GROUP = ListSpec(
    schema.CLASSIFICATION_GROUP,
    ("id", "name", "operator", "classifications", "classification_groups", "shared"),
    {"classifications": schema.CLASSIFICATION, "classification_groups": schema.CLASSIFICATION_GROUP},
)

classification_commands = resource_group(
    "Classifications: one layer's match (ethernet, ipv4, ipv6, tcp, udp)."
)
classification_group_commands = resource_group("Classification groups: classifications joined by AND or OR.")
add_list_show_delete(classification_commands, CLASSIFICATION, with_rename=True)
add_list_show_delete(classification_group_commands, CLASSIFICATION_GROUP, with_rename=True)
shared_option = click.option("--shared", is_flag=True, default=None, help="Usable by every project.")


def definition(text: str) -> dict[str, Any]:
    """`key=value,...` as a definition: numbers (decimal or 0x hex) as integers, the rest as text (the
    API validates keys and values per type)."""
    out: dict[str, Any] = {}
    for key, value in parse_pairs(text, "--definition").items():
        try:
            out[key] = int(value, 0)
        except ValueError:
            out[key] = value
    return out


@classification_commands.command("create", help="Create a classification.")
@name_argument
@click.option("--type", "c_type", required=True, type=click.Choice(CLASSIFICATION_TYPES), help="Layer.")
@click.option(
    "--definition", "text", default="", metavar="KEY=VALUE,...",
    help="What to match, by type: ethernet src_addr, dst_addr, ethertype, vlan_id; ipv4 src_addr, dst_addr, "
    "protocol, dscp, ecn; ipv6 src_addr, dst_addr, next_header, dscp, ecn, traffic_class[_mask]; tcp "
    "src/dst_port_min/max, flags, flags_mask; udp src/dst_port_min/max.",
)  # fmt: skip
@shared_option
@description_option
@project_option
@output_options
@click.pass_context
def classification_create(
    ctx: click.Context,
    name: str,
    c_type: str,
    text: str,
    shared: bool | None,
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    body: JsonDict = {
        **create_fields(name, description, project),
        "type": c_type,
        "definition": definition(text),
    }
    if shared:
        body["shared"] = True
    with open_client(ctx) as client:
        print_one(client, CLASSIFICATION, client.create(schema.CLASSIFICATION, body), fmt, columns)


@classification_group_commands.command("create", help="Create a classification group.")
@name_argument
@click.option(
    "--classification", "classifications", multiple=True, metavar="CLASSIFICATION",
    help="Classification name or id (repeatable).",
)  # fmt: skip
@click.option(
    "--classification-group", "groups", multiple=True, metavar="CLASSIFICATION_GROUP",
    help="Nested classification group name or id (repeatable).",
)  # fmt: skip
@click.option("--operator", type=click.Choice(OPERATORS), default="AND", show_default=True, help="AND or OR.")
@shared_option
@description_option
@project_option
@output_options
@click.pass_context
def classification_group_create(
    ctx: click.Context,
    name: str,
    classifications: Sequence[str],
    groups: Sequence[str],
    operator: str,
    shared: bool | None,
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    with open_client(ctx) as client:
        body: JsonDict = {
            **create_fields(name, description, project),
            "operator": operator,
            "classifications": resolve_all(client, schema.CLASSIFICATION, classifications),
            "classification_groups": resolve_all(client, schema.CLASSIFICATION_GROUP, groups),
        }
        if shared:
            body["shared"] = True
        print_one(
            client, CLASSIFICATION_GROUP, client.create(schema.CLASSIFICATION_GROUP, body), fmt, columns
        )
