"""The `steerflow` command: the API server, the agent, the resource commands, the lab and the demo.

Each subcommand's module is imported only when that subcommand runs (or `--help` lists details), so a
resource command does not pay for the agent's, the lab's or the demo's imports.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import click

from steerflow.cli import config
from steerflow.cli.common import Connection
from steerflow.cli.output import print_error
from steerflow.client import DEFAULT_ENDPOINT, ClientError
from steerflow.model import schema

PROG = "steerflow"
ENDPOINT_ENV = "STEERFLOW_ENDPOINT"
TOKEN_ENV = "STEERFLOW_TOKEN"
COMPLETE_ENV = "_STEERFLOW_COMPLETE"  # click's shell completion protocol, named after the program


@dataclass(frozen=True)
class Lazy:
    """A subcommand as `module:attribute` (a click command or group), imported on first use."""

    target: str
    help: str

    def load(self, name: str) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), self.target
        command.name = name
        return command


def command_word(kind: str) -> str:
    """A resource kind's subcommand as the openstack CLI spells it: `port_pair_group` -> `port-pair-group`."""
    return kind.replace("_", "-")


RESOURCES: dict[str, Lazy] = {
    schema.NETWORK: Lazy("steerflow.cli.core:network_commands", "Networks (Neutron core)."),
    schema.SUBNET: Lazy("steerflow.cli.core:subnet_commands", "Subnets (Neutron core)."),
    schema.PORT: Lazy(
        "steerflow.cli.core:port_commands", "Ports (Neutron core): the VM and service function interfaces."
    ),
    schema.PORT_PAIR: Lazy(
        "steerflow.cli.sfc_pairs:port_pair_commands",
        "Port pairs: one service function's ingress and egress ports.",
    ),
    schema.PORT_PAIR_GROUP: Lazy(
        "steerflow.cli.sfc_pairs:port_pair_group_commands",
        "Port pair groups: equivalent service functions one chain hop balances over.",
    ),
    schema.FLOW_CLASSIFIER: Lazy(
        "steerflow.cli.sfc_chains:flow_classifier_commands", "Flow classifiers: which traffic enters a chain."
    ),
    schema.PORT_CHAIN: Lazy(
        "steerflow.cli.sfc_chains:port_chain_commands",
        "Port chains: classified traffic through port pair groups.",
    ),
    schema.SERVICE_GRAPH: Lazy(
        "steerflow.cli.sfc_chains:service_graph_commands", "Service graphs: port chains linked into a DAG."
    ),
    schema.CLASSIFICATION: Lazy(
        "steerflow.cli.classifications:classification_commands",
        "Classifications: one layer's match (ethernet, ipv4, ipv6, tcp, udp).",
    ),
    schema.CLASSIFICATION_GROUP: Lazy(
        "steerflow.cli.classifications:classification_group_commands",
        "Classification groups: classifications joined by AND or OR.",
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
    "wait": Lazy("steerflow.cli.agent_cmd:wait", "Wait until every live chassis has applied an NB revision."),
    "trace": Lazy(
        "steerflow.cli.trace_cmd:trace",
        "Follow one packet across the chassis in the model's terms (from the NB; --chassis: a live switch).",
    ),
    "detrace": Lazy(
        "steerflow.cli.trace_cmd:detrace", "Name the NB object of every flow in ofproto/trace output (stdin)."
    ),
    schema.CHASSIS: Lazy(
        "steerflow.cli.chassis_cmd:chassis_commands",
        "Chassis (admin): the hypervisors agents registered, and their liveness.",
    ),
    "config": Lazy(
        "steerflow.cli.config_cmd:config_commands",
        "The configuration file: check one and show the effective settings (secrets masked).",
    ),
    "nb": Lazy(
        "steerflow.cli.nb_cmd:nb_commands", "The NB store's schema version: show it, migrate an older one."
    ),
    "lab": Lazy(
        "steerflow.cli.lab_cmd:lab_commands",
        "Emulated chassis (netns + userspace OVS) and VMs on this machine.",
    ),
    "bench": Lazy(
        "steerflow.cli.bench_cmd:bench",
        "Run the benchmark suite of a source checkout (bench/run.py): JSON results and plots.",
    ),
    "demo": Lazy(
        "steerflow.cli.demo:demo",
        "Send echo datagrams without and then through a service chain, on a lab of 2 chassis (root).",
    ),
}


class SteerflowGroup(click.Group):
    """Loads subcommands on first use, and turns every client or API failure into one line and exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *(name for name in SUBCOMMANDS if name not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in SUBCOMMANDS:
            command = SUBCOMMANDS[cmd_name].load(cmd_name)
            config.bind_environment(cmd_name, command)
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in config.CONFIGURED and command is not None and not ctx.resilient_parsing:
            try:  # only the commands that take settings read the file: a bad one fails only them
                config.read_for(ctx, name, command)
            except config.ConfigError as exc:
                print_error(str(exc))
                raise click.exceptions.Exit(2) from None
        return name, command, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the listing needs only the one-line helps: no subcommand module is imported for `--help`
        rows = [(name, SUBCOMMANDS[name].help) for name in SUBCOMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            print_error(str(exc))
            raise click.exceptions.Exit(1) from None


def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        click.echo(f"{PROG} {version('steerflow')}")
    except PackageNotFoundError:
        click.echo(f"{PROG} (not installed: version unknown)")
    ctx.exit()


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    ctx.meta[config.GIVEN_META] = value or None  # read by the subcommands that take settings


SHELLS = ("bash", "zsh", "fish")


def completion_script(ctx: click.Context, shell: str) -> str:
    """The script that makes `shell` complete steerflow (click's protocol, through COMPLETE_ENV)."""
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)
    if complete is None:  # click knows every name of SHELLS
        raise click.BadParameter(f"unsupported shell {shell!r}")
    return complete(ctx.find_root().command, {}, PROG, COMPLETE_ENV).source()


def current_shell() -> str:
    return os.environ.get("SHELL", "bash").rpartition("/")[2]


def _show_completion(ctx: click.Context, param: click.Parameter, shell: str | None) -> None:
    if shell is None or ctx.resilient_parsing:
        return
    shell = shell or current_shell()
    if shell not in SHELLS:
        raise click.BadParameter(f"no completion for {shell!r}; the shells are {', '.join(SHELLS)}")
    click.echo(completion_script(ctx, shell), nl=False)
    ctx.exit()


def _install_completion(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from pathlib import Path

    shell = current_shell()
    if shell not in SHELLS:
        raise click.UsageError(
            f"cannot install completion for {shell!r}: use --show-completion {{bash|zsh|fish}}"
        )
    home = Path.home()
    if shell == "fish":
        target = home / ".config/fish/completions" / f"{PROG}.fish"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(completion_script(ctx, shell))
    else:
        target = home / f".{shell}rc"
        line = f'eval "$({COMPLETE_ENV}={shell}_source {PROG})"'
        existing = target.read_text() if target.exists() else ""
        if line not in existing:
            with target.open("a") as rc:
                rc.write(f"\n{line}\n")
    click.echo(f"{shell} completion installed in {target}; it applies to new shells.")
    ctx.exit()


@click.group(
    PROG,
    cls=SteerflowGroup,
    help="steerflow: networking-sfc compatible service function chaining for Open vSwitch.",
    no_args_is_help=True,
)
@click.option(
    "--endpoint", envvar=ENDPOINT_ENV, default=DEFAULT_ENDPOINT, show_default=True, show_envvar=True,
    help="Base URL of the steerflow API (without /v2.0).",
)  # fmt: skip
@click.option("--token", envvar=TOKEN_ENV, show_envvar=True, help="Token sent as X-Auth-Token (token mode).")
@click.option(
    "--config", "config_file", envvar=config.CONFIG_ENV, show_envvar=True, expose_value=False, is_eager=True,
    metavar="PATH", callback=_remember_config,
    help=f"Configuration file of the daemons (default: {config.DEFAULT_PATH}, if there).",
)  # fmt: skip
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
    help="Print steerflow's version and exit.",
)  # fmt: skip
@click.option(
    "--install-completion", is_flag=True, expose_value=False, is_eager=True, callback=_install_completion,
    help="Install completion for the current shell ($SHELL: bash, zsh or fish).",
)  # fmt: skip
@click.option(
    "--show-completion", is_flag=False, flag_value="", metavar="[bash|zsh|fish]", expose_value=False,
    is_eager=True, callback=_show_completion,
    help="Print the completion script of a shell (default: $SHELL's), to install it by hand.",
)  # fmt: skip
@click.pass_context
def app(ctx: click.Context, endpoint: str, token: str | None) -> None:
    ctx.obj = Connection(endpoint, token)


def main() -> None:
    app(prog_name=PROG)


if __name__ == "__main__":
    main()
