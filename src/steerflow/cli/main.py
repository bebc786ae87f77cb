"""The `steerflow` command: the API server, the resource commands and the demo."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer import _click
from typer.core import TyperGroup

from steerflow.cli.agent_cmd import agent, wait
from steerflow.cli.common import Connection
from steerflow.cli.core import network_app, port_app, subnet_app
from steerflow.cli.demo import demo
from steerflow.cli.lab_cmd import lab_app
from steerflow.cli.output import print_error
from steerflow.cli.sfc_chains import flow_classifier_app, port_chain_app, service_graph_app
from steerflow.cli.sfc_pairs import port_pair_app, port_pair_group_app
from steerflow.client import DEFAULT_ENDPOINT, ClientError

ENDPOINT_ENV = "STEERFLOW_ENDPOINT"
TOKEN_ENV = "STEERFLOW_TOKEN"


class ErrorReportingGroup(TyperGroup):
    """Turns every client or API failure of any subcommand into one red line and exit code 1."""

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            print_error(str(exc))
            raise typer.Exit(1) from None


app = typer.Typer(
    name="steerflow",
    cls=ErrorReportingGroup,
    help="steerflow: networking-sfc compatible service function chaining for Open vSwitch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    endpoint: Annotated[
        str, typer.Option(envvar=ENDPOINT_ENV, help="Base URL of the steerflow API.")
    ] = DEFAULT_ENDPOINT,
    token: Annotated[
        str | None, typer.Option(envvar=TOKEN_ENV, help="Token sent as X-Auth-Token (token mode).")
    ] = None,
) -> None:
    ctx.obj = Connection(endpoint, token)


for _name, _sub in (
    ("network", network_app),
    ("subnet", subnet_app),
    ("port", port_app),
    ("port-pair", port_pair_app),
    ("port-pair-group", port_pair_group_app),
    ("flow-classifier", flow_classifier_app),
    ("port-chain", port_chain_app),
    ("service-graph", service_graph_app),
    ("lab", lab_app),
):
    app.add_typer(_sub, name=_name)


app.command(help="Run the local controller of one chassis (programs its Open vSwitch).")(agent)
app.command(help="Wait until every chassis has applied an NB revision.")(wait)


@app.command(help="Run the REST API server (networking-sfc compatible) on a northbound store.")
def api(
    nb: Annotated[
        str | None,
        typer.Option(
            help="Northbound store URL: file:///PATH.db (embedded, default), redis://HOST:PORT/DB, "
            "etcd://HOST:PORT, memory://. Default: $STEERFLOW_NB or the embedded store."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 9696,
    token_file: Annotated[
        str | None,
        typer.Option(
            help='Token mode: JSON file {"TOKEN": {"project_id": ..., "roles": [...]}}. Default: no auth.'
        ),
    ] = None,
) -> None:
    from steerflow.rest.server import serve

    try:
        serve(nb, host, port, token_file)
    except ValueError as exc:  # a bad store URL or token file: say which, without a traceback
        print_error(str(exc))
        raise typer.Exit(2) from None


app.command(
    help="Send echo datagrams without and then through a service chain, on a lab of 2 chassis (root)."
)(demo)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
