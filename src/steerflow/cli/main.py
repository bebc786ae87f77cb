"""The `steerflow` command: the API server, the agent, the resource commands, the lab and the demo.

Each subcommand's module is imported only when that subcommand runs (or `--help` lists details), so a
resource command does not pay for the agent's, the lab's or the demo's imports.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer import _click
from typer.core import TyperGroup

from steerflow.cli.common import Connection
from steerflow.cli.output import print_error
from steerflow.client import DEFAULT_ENDPOINT, ClientError
from steerflow.model import schema

ENDPOINT_ENV = "STEERFLOW_ENDPOINT"
TOKEN_ENV = "STEERFLOW_TOKEN"


@dataclass(frozen=True)
class Lazy:
    """A subcommand as `module:attribute` (a Typer app, or a function for a single command)."""

    target: str
    help: str

    def load(self, name: str) -> _click.Command:
        module, _, attribute = self.target.partition(":")
        obj = getattr(importlib.import_module(module), attribute)
        if not isinstance(obj, typer.Typer):
            single = typer.Typer(add_completion=False, rich_markup_mode=None)
            single.command(name=name, help=self.help)(obj)
            obj = single
        command = typer.main.get_command(obj)
        command.name = name
        return command


def command_word(kind: str) -> str:
    """A resource kind's subcommand as the openstack CLI spells it: `port_pair_group` -> `port-pair-group`."""
    return kind.replace("_", "-")


RESOURCES: dict[str, Lazy] = {
    schema.NETWORK: Lazy("steerflow.cli.core:network_app", "Networks (Neutron core)."),
    schema.SUBNET: Lazy("steerflow.cli.core:subnet_app", "Subnets (Neutron core)."),
    schema.PORT: Lazy(
        "steerflow.cli.core:port_app", "Ports (Neutron core): the VM and service function interfaces."
    ),
    schema.PORT_PAIR: Lazy(
        "steerflow.cli.sfc_pairs:port_pair_app",
        "Port pairs: one service function's ingress and egress ports.",
    ),
    schema.PORT_PAIR_GROUP: Lazy(
        "steerflow.cli.sfc_pairs:port_pair_group_app",
        "Port pair groups: equivalent service functions one chain hop balances over.",
    ),
    schema.FLOW_CLASSIFIER: Lazy(
        "steerflow.cli.sfc_chains:flow_classifier_app", "Flow classifiers: which traffic enters a chain."
    ),
    schema.PORT_CHAIN: Lazy(
        "steerflow.cli.sfc_chains:port_chain_app", "Port chains: classified traffic through port pair groups."
    ),
    schema.SERVICE_GRAPH: Lazy(
        "steerflow.cli.sfc_chains:service_graph_app", "Service graphs: port chains linked into a DAG."
    ),
}
SUBCOMMANDS: dict[str, Lazy] = {
    **{command_word(kind): lazy for kind, lazy in RESOURCES.items()},
    "api": Lazy(
        "steerflow.cli.api_cmd:api",
        "Run the REST API server (networking-sfc compatible) on a northbound store.",
    ),
    "agent": Lazy(
        "steerflow.cli.agent_cmd:agent",
        "Run the local controller of one chassis (programs its Open vSwitch).",
    ),
    "wait": Lazy("steerflow.cli.agent_cmd:wait", "Wait until every chassis has applied an NB revision."),
    "lab": Lazy(
        "steerflow.cli.lab_cmd:lab_app", "Emulated chassis (netns + userspace OVS) and VMs on this machine."
    ),
    "demo": Lazy(
        "steerflow.cli.demo:demo",
        "Send echo datagrams without and then through a service chain, on a lab of 2 chassis (root).",
    ),
}


class SteerflowGroup(TyperGroup):
    """Loads subcommands on first use, and turns every client or API failure into one line and exit 1."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*self.commands, *(name for name in SUBCOMMANDS if name not in self.commands)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in self.commands and cmd_name in SUBCOMMANDS:
            self.commands[cmd_name] = SUBCOMMANDS[cmd_name].load(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        # the listing needs only the one-line helps: no subcommand module is imported for `--help`
        rows = [(name, SUBCOMMANDS[name].help) for name in SUBCOMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            print_error(str(exc))
            raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"steerflow {version('steerflow')}")
        except PackageNotFoundError:
            typer.echo("steerflow (not installed: version unknown)")
        raise typer.Exit()


app = typer.Typer(
    name="steerflow",
    cls=SteerflowGroup,
    help="steerflow: networking-sfc compatible service function chaining for Open vSwitch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    endpoint: Annotated[
        str, typer.Option(envvar=ENDPOINT_ENV, help="Base URL of the steerflow API (without /v2.0).")
    ] = DEFAULT_ENDPOINT,
    token: Annotated[
        str | None, typer.Option(envvar=TOKEN_ENV, help="Token sent as X-Auth-Token (token mode).")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print steerflow's version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = Connection(endpoint, token)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
