"""CLI commands for what steers traffic: flow classifiers, port chains and service graphs (networking-sfc)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from steerflow.cli.common import (
    ListSpec,
    add_list_show_delete,
    create_fields,
    description_option,
    name_argument,
    name_option,
    named_fields,
    names_of,
    open_client,
    output_options,
    parse_pairs,
    parse_port_range,
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


def classifier_summary(fc: JsonDict) -> list[str]:
    """What a classifier matches, in one line per attribute (like the openstack CLI's Summary column)."""
    lines = [f"{fc.get('ethertype') or 'IPv4'} protocol={fc.get('protocol') or 'any'}"]
    for side in ("source", "destination"):
        prefix = fc.get(f"{side}_ip_prefix")
        low, high = fc.get(f"{side}_port_range_min"), fc.get(f"{side}_port_range_max")
        if prefix or low is not None or high is not None:
            ports = (
                ""
                if low is None and high is None
                else f" ports {low if low is not None else 0}:{high or 65535}"
            )
            lines.append(f"{side} {prefix or 'any'}{ports}")
    if fc.get("classification_group_id"):
        lines.append(f"and classification group {fc['classification_group_id']}")
    return lines


FLOW_CLASSIFIER = ListSpec(
    schema.FLOW_CLASSIFIER, ("id", "name", "summary", "logical_source_port", "logical_destination_port"),
    {"logical_source_port": schema.PORT, "logical_destination_port": schema.PORT},
    {"summary": classifier_summary},
)  # fmt: skip
PORT_CHAIN = ListSpec(
    schema.PORT_CHAIN, ("id", "name", "chain_id", "port_pair_groups", "flow_classifiers", "chain_parameters"),
    {"port_pair_groups": schema.PORT_PAIR_GROUP, "flow_classifiers": schema.FLOW_CLASSIFIER},
)  # fmt: skip
SERVICE_GRAPH = ListSpec(
    schema.SERVICE_GRAPH, ("id", "name", "port_chains"), {"port_chains": schema.PORT_CHAIN}
)

flow_classifier_commands = resource_group("Flow classifiers: which traffic enters a chain.")
port_chain_commands = resource_group("Port chains: classified traffic through port pair groups.")
service_graph_commands = resource_group("Service graphs: port chains linked into a DAG.")
add_list_show_delete(flow_classifier_commands, FLOW_CLASSIFIER, with_rename=True)
add_list_show_delete(port_chain_commands, PORT_CHAIN)
add_list_show_delete(service_graph_commands, SERVICE_GRAPH, with_rename=True)

port_pair_groups_option = click.option(
    "--port-pair-group", "port_pair_groups", multiple=True, metavar="PORT_PAIR_GROUP",
    help="Port pair group name or id (repeatable, in order).",
)  # fmt: skip
flow_classifiers_option = click.option(
    "--flow-classifier", "flow_classifiers", multiple=True, metavar="FLOW_CLASSIFIER",
    help="Flow classifier name or id (repeatable).",
)  # fmt: skip


@dataclass(frozen=True)
class Match:
    """What a flow classifier matches, in the openstack CLI's terms (ports as `MIN:MAX`)."""

    protocol: str | None = None
    ethertype: str | None = None
    source_port: str | None = None
    destination_port: str | None = None
    source_ip_prefix: str | None = None
    destination_ip_prefix: str | None = None
    logical_source_port: str | None = None
    logical_destination_port: str | None = None
    classification_group: str | None = None

    def body(self, client: SteerflowClient) -> JsonDict:
        body: JsonDict = {"ethertype": self.ethertype or "IPv4"}
        for key in ("protocol", "source_ip_prefix", "destination_ip_prefix"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        for key in ("source_port", "destination_port"):
            text = getattr(self, key)
            if text is not None:
                low, high = parse_port_range(text, "--" + key.replace("_", "-"))
                body[f"{key}_range_min"], body[f"{key}_range_max"] = low, high
        for key in ("logical_source_port", "logical_destination_port"):
            if getattr(self, key) is not None:
                body[key] = client.find_id(schema.PORT, getattr(self, key))
        if self.classification_group is not None:
            body["classification_group_id"] = client.find_id(
                schema.CLASSIFICATION_GROUP, self.classification_group
            )
        return body


def create_flow_classifier(client: SteerflowClient, base: JsonDict, match: Match) -> JsonDict:
    """`base`: the name, description and project (create_fields)."""
    body = {**base, **match.body(client)}
    return client.create(schema.FLOW_CLASSIFIER, body)


def chain_parameters(text: str) -> dict[str, Any]:
    """`correlation=<mpls|nsh>,symmetric=<true|false>[,nsh_md_type=<1|2>]` as the API's chain_parameters
    (values as text: the API converts them)."""
    params: dict[str, Any] = {}
    for key, value in parse_pairs(text, "--chain-parameters").items():
        if key == "symmetric" and value.lower() in ("true", "false"):
            params[key] = value.lower() == "true"
        else:
            params[key] = value  # the API validates the rest
    return params


def create_port_chain(
    client: SteerflowClient,
    base: JsonDict,
    port_pair_groups: Sequence[str],
    flow_classifiers: Sequence[str] = (),
    parameters: str | None = None,
    chain_id: int | None = None,
) -> JsonDict:
    body: JsonDict = {
        **base,
        "port_pair_groups": resolve_all(client, schema.PORT_PAIR_GROUP, port_pair_groups),
        "flow_classifiers": resolve_all(client, schema.FLOW_CLASSIFIER, flow_classifiers),
    }
    if parameters is not None:
        body["chain_parameters"] = chain_parameters(parameters)
    if chain_id is not None:
        body["chain_id"] = chain_id
    return client.create(schema.PORT_CHAIN, body)


def create_service_graph(
    client: SteerflowClient, base: JsonDict, branching_points: Sequence[str]
) -> JsonDict:
    """Each branching point is `SRC_CHAIN:DST_CHAIN_1,DST_CHAIN_2,...` (names or ids)."""
    graph: dict[str, list[str]] = {}
    for point in branching_points:
        src, sep, dsts = point.partition(":")
        if not sep or not src or not dsts:
            raise click.BadParameter(
                f"expected SRC:DST[,DST...], got {point!r}", param_hint="--branching-point"
            )
        targets = graph.setdefault(client.find_id(schema.PORT_CHAIN, src), [])
        targets.extend(client.find_id(schema.PORT_CHAIN, d) for d in dsts.split(",") if d)
    body = {**base, "port_chains": graph}
    return client.create(schema.SERVICE_GRAPH, body)


@flow_classifier_commands.command("create", help="Create a flow classifier.")
@name_argument
@click.option("--protocol", help="tcp, udp or icmp (default: any).")
@click.option("--ethertype", help="IPv4 (default) or IPv6.")
@click.option("--source-port", metavar="MIN:MAX", help="Source port range.")
@click.option("--destination-port", metavar="MIN:MAX", help="Destination port range.")
@click.option("--source-ip-prefix", help="Source CIDR.")
@click.option("--destination-ip-prefix", help="Destination CIDR.")
@click.option("--logical-source-port", help="Port (name or id) traffic comes from.")
@click.option("--logical-destination-port", help="Port (name or id) traffic goes to.")
@click.option("--classification-group", help="Classification group (name or id) ANDed with the fields above.")
@description_option
@project_option
@output_options
@click.pass_context
def flow_classifier_create(
    ctx: click.Context,
    name: str,
    protocol: str | None,
    ethertype: str | None,
    source_port: str | None,
    destination_port: str | None,
    source_ip_prefix: str | None,
    destination_ip_prefix: str | None,
    logical_source_port: str | None,
    logical_destination_port: str | None,
    classification_group: str | None,
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    match = Match(
        protocol, ethertype, source_port, destination_port, source_ip_prefix, destination_ip_prefix,
        logical_source_port, logical_destination_port, classification_group,
    )  # fmt: skip
    with open_client(ctx) as client:
        classifier = create_flow_classifier(client, create_fields(name, description, project), match)
        print_one(client, FLOW_CLASSIFIER, classifier, fmt, columns)


@port_chain_commands.command("create", help="Create a port chain.")
@name_argument
@click.option(
    "--port-pair-group", "port_pair_groups", multiple=True, required=True, metavar="PORT_PAIR_GROUP",
    help="Port pair group name or id (repeatable, in order).",
)  # fmt: skip
@flow_classifiers_option
@click.option(
    "--chain-parameters", "parameters",
    metavar="correlation=<mpls|nsh>,symmetric=<true|false>[,nsh_md_type=<1|2>]",
    help="Chain parameters (nsh_md_type: steerflow's NSH metadata type, with correlation=nsh).",
)  # fmt: skip
@click.option("--chain-id", type=int, help="Chain id 1-65535 (default: the lowest free one).")
@description_option
@project_option
@output_options
@click.pass_context
def port_chain_create(
    ctx: click.Context,
    name: str,
    port_pair_groups: Sequence[str],
    flow_classifiers: Sequence[str],
    parameters: str | None,
    chain_id: int | None,
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    base = create_fields(name, description, project)
    with open_client(ctx) as client:
        chain = create_port_chain(client, base, port_pair_groups, flow_classifiers, parameters, chain_id)
        print_one(client, PORT_CHAIN, chain, fmt, columns)


@target_argument(schema.PORT_CHAIN)
@name_option
@description_option
@port_pair_groups_option
@click.option(
    "--no-port-pair-group", is_flag=True, help="Replace the groups (else --port-pair-group appends)."
)
@flow_classifiers_option
@click.option(
    "--no-flow-classifier", is_flag=True, help="Start from no classifiers (else --flow-classifier adds)."
)
@set_output_options
@click.pass_context
def port_chain_set(
    ctx: click.Context,
    target: str,
    name: str | None,
    description: str | None,
    port_pair_groups: Sequence[str],
    no_port_pair_group: bool,
    flow_classifiers: Sequence[str],
    no_flow_classifier: bool,
    fmt: Format | None,
    columns: Sequence[str],
) -> None:
    body = named_fields(name, description)
    with open_client(ctx) as client:
        chain = client.find(schema.PORT_CHAIN, target)
        if port_pair_groups or no_port_pair_group:
            body["port_pair_groups"] = _merge(
                [] if no_port_pair_group else chain["port_pair_groups"],
                resolve_all(client, schema.PORT_PAIR_GROUP, port_pair_groups),
            )
        if flow_classifiers or no_flow_classifier:
            body["flow_classifiers"] = _merge(
                [] if no_flow_classifier else chain["flow_classifiers"],
                resolve_all(client, schema.FLOW_CLASSIFIER, flow_classifiers),
            )
        require_change(body)
        print_one(client, PORT_CHAIN, client.update(schema.PORT_CHAIN, chain["id"], body), fmt, columns)


register_set(port_chain_commands, port_chain_set, "Rename a port chain or change its groups and classifiers.")


@port_chain_commands.command("unset", help="Remove port pair groups or flow classifiers from a port chain.")
@target_argument(schema.PORT_CHAIN)
@click.option(
    "--port-pair-group", "port_pair_groups", multiple=True, metavar="PORT_PAIR_GROUP",
    help="Group to remove (repeatable).",
)  # fmt: skip
@click.option(
    "--flow-classifier", "flow_classifiers", multiple=True, metavar="FLOW_CLASSIFIER",
    help="Classifier to remove (repeatable).",
)  # fmt: skip
@click.option(
    "--all-flow-classifier", "all_flow_classifiers", is_flag=True, help="Remove every flow classifier."
)
@set_output_options
@click.pass_context
def port_chain_unset(
    ctx: click.Context,
    target: str,
    port_pair_groups: Sequence[str],
    flow_classifiers: Sequence[str],
    all_flow_classifiers: bool,
    fmt: Format | None,
    columns: Sequence[str],
) -> None:
    body: JsonDict = {}
    with open_client(ctx) as client:
        chain = client.find(schema.PORT_CHAIN, target)
        if port_pair_groups:
            drop = set(resolve_all(client, schema.PORT_PAIR_GROUP, port_pair_groups))
            body["port_pair_groups"] = [g for g in chain["port_pair_groups"] if g not in drop]
        if flow_classifiers or all_flow_classifiers:
            drop = set(resolve_all(client, schema.FLOW_CLASSIFIER, flow_classifiers))
            body["flow_classifiers"] = (
                [] if all_flow_classifiers else [f for f in chain["flow_classifiers"] if f not in drop]
            )
        require_change(body)
        print_one(client, PORT_CHAIN, client.update(schema.PORT_CHAIN, chain["id"], body), fmt, columns)


def _merge(kept: list[str], added: list[str]) -> list[str]:
    """`kept` then the `added` ids not already in it, order preserved (chains are ordered)."""
    out = list(kept)
    out.extend(a for a in added if a not in out)
    return out


@service_graph_commands.command("create", help="Create a service graph of port chains.")
@name_argument
@click.option(
    "--branching-point", "branching_points", multiple=True, required=True,
    metavar="SRC_CHAIN:DST_CHAIN_1,DST_CHAIN_2",
    help="A source chain and the chains its traffic may continue in (repeatable).",
)  # fmt: skip
@description_option
@project_option
@output_options
@click.pass_context
def service_graph_create(
    ctx: click.Context,
    name: str,
    branching_points: Sequence[str],
    description: str | None,
    project: str | None,
    fmt: Format,
    columns: Sequence[str],
) -> None:
    with open_client(ctx) as client:
        graph = create_service_graph(client, create_fields(name, description, project), branching_points)
        print_one(client, SERVICE_GRAPH, graph, fmt, columns)


@port_chain_commands.command(
    "stats", help="Packets and bytes through a port chain's classifiers, hops and instances."
)
@click.argument("target", metavar="PORT_CHAIN", shell_complete=names_of(schema.PORT_CHAIN))
@click.option("--watch", is_flag=True, help="Refresh until interrupted, with rates.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds between refreshes with --watch.")  # fmt: skip
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def port_chain_stats(ctx: click.Context, target: str, watch: bool, interval: float, fmt: str) -> None:
    from steerflow.cli.chain_stats import show_stats

    with open_client(ctx) as client:
        show_stats(client, client.find_id(schema.PORT_CHAIN, target), watch, interval, fmt == "json")
