"""What every resource command shares: connection settings, output options, parsers, list/show/set/delete."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

from steerflow.cli.output import ColumnError, Format, JsonDict, emit_list, emit_one, print_error
from steerflow.client import DEFAULT_ENDPOINT, ApiError, ClientError, SteerflowClient

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

FORMATS = click.Choice(Format)
format_option = click.option(
    "--format", "-f", "fmt", type=FORMATS, default=Format.table, show_default=True,
    help="Output format: table, json, yaml, value or csv.",
)  # fmt: skip
set_format_option = click.option(
    "--format", "-f", "fmt", type=FORMATS, default=None,
    help="Print the changed object in this format (default: print nothing).",
)  # fmt: skip
column_option = click.option(
    "--column", "-c", "columns", multiple=True, metavar="COLUMN", help="Show only this column (repeatable)."
)
name_option = click.option("--name", help="New name.")
description_option = click.option("--description", help="Description.")
project_option = click.option("--project", help="Owner project id (admin only; default: the caller's).")


name_argument = click.argument("name")  # the name a `create` gives the new object


def flag(on_off: str, name: str, help: str) -> Decorator[Any]:
    """A `--x/--no-x` option that is None when not given (the API's default then applies)."""
    return click.option(on_off, name, default=None, help=help)


def output_options(f: F) -> F:
    """`-f` and `-c` of the commands that print an object or a list."""
    return format_option(column_option(f))


def set_output_options(f: F) -> F:
    """`-f` and `-c` of the commands that change an object (they print nothing unless asked)."""
    return set_format_option(column_option(f))


@dataclass
class Connection:
    """Where the API is and how to authenticate; set by the root command's options."""

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = None

    def client(self) -> SteerflowClient:
        return SteerflowClient(self.endpoint, self.token)


def resource_group(help: str) -> click.Group:
    """The subcommand group of one resource kind; click lists its commands alphabetically."""
    return click.Group(help=help, no_args_is_help=True)


def target_argument(kind: str, many: bool = False) -> Decorator[Any]:
    """The positional NAME_OR_ID argument (`target`, or `targets` with `many`) of a command on `kind`,
    its names completed from the API."""
    if many:
        return click.argument("targets", nargs=-1, required=True, metavar=f"{kind.upper()}...",
                              shell_complete=names_of(kind))  # fmt: skip
    return click.argument("target", metavar=kind.upper(), shell_complete=names_of(kind))


COMPLETION_TIMEOUT = 2.0  # seconds a <TAB> may wait for the API


def names_of(kind: str) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """Shell completion of a name-or-id argument: the names (else ids) of `kind` the API lists."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        params = ctx.find_root().params  # completion parses the root options but runs no callback
        endpoint, token = params.get("endpoint") or DEFAULT_ENDPOINT, params.get("token")
        try:
            with SteerflowClient(endpoint, token, timeout=COMPLETION_TIMEOUT) as client:
                names = {str(o.get("name") or o["id"]) for o in client.list(kind)}
        except ClientError:
            return []
        return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]

    return complete


def connection(ctx: click.Context) -> Connection:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Connection) else Connection()


def open_client(ctx: click.Context) -> SteerflowClient:
    return connection(ctx).client()


@dataclass(frozen=True)
class ListSpec:
    """How a resource is shown: its list columns and which fields hold ids of which other kind."""

    kind: str
    columns: tuple[str, ...]
    refs: Mapping[str, str] = field(default_factory=dict)
    derived: Mapping[str, Callable[[JsonDict], list[str]]] = field(default_factory=dict)  # computed columns

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ")

    @property
    def plural(self) -> str:
        return self.label if self.label.endswith("s") else f"{self.label}s"


class NameCache:
    """Resolves ids to names for tables, listing each referenced kind at most once."""

    def __init__(self, client: SteerflowClient) -> None:
        self._client = client
        self._names: dict[str, dict[str, str]] = {}

    def __call__(self, kind: str, id: str) -> str:
        if kind not in self._names:
            try:
                self._names[kind] = {o["id"]: o.get("name") or "" for o in self._client.list(kind)}
            except ApiError:
                self._names[kind] = {}
        return self._names[kind].get(id, "")


def usage_error(exc: ColumnError) -> click.BadParameter:
    return click.BadParameter(str(exc), param_hint="'--column' / '-c'")


def print_list(
    client: SteerflowClient,
    spec: ListSpec,
    rows: Sequence[JsonDict],
    fmt: Format,
    columns: Sequence[str] | None = None,
) -> None:
    if spec.derived and (fmt not in (Format.json, Format.yaml) or columns):
        rows = [{**row, **{col: derive(row) for col, derive in spec.derived.items()}} for row in rows]
    try:
        emit_list(rows, fmt, spec.columns, columns, NameCache(client), spec.refs)
    except ColumnError as exc:
        raise usage_error(exc) from None


def print_one(
    client: SteerflowClient,
    spec: ListSpec,
    obj: JsonDict,
    fmt: Format | None,
    columns: Sequence[str] | None = None,
) -> None:
    """One object, its references named in a table (`fmt` None: a `set` that prints nothing)."""
    if fmt is None and not columns:
        return
    try:
        emit_one(obj, fmt or Format.table, columns, NameCache(client), spec.refs)
    except ColumnError as exc:
        raise usage_error(exc) from None


def register_set(group: click.Group, callback: Callable[..., None], help: str) -> None:
    """`set`, and `update` as its hidden alias (the name steerflow used first)."""
    command = group.command("set", help=help)(callback)
    alias = copy.copy(command)
    alias.name, alias.hidden, alias.help = "update", True, f"Alias of set: {help[0].lower()}{help[1:]}"
    group.add_command(alias)


def add_list_show_delete(
    group: click.Group, spec: ListSpec, with_list: bool = True, with_rename: bool = False
) -> None:
    """Register `list` (filtered by `--name`), `show` and `delete` for one resource kind, and with
    `with_rename` a `set` that changes only name and description (all those kinds allow)."""
    add_show(group, spec)
    _add_delete(group, spec)
    if with_rename:
        _add_rename(group, spec)
    if not with_list:
        return
    label = spec.label

    @group.command("list", help=f"List {label}s.")
    @click.option("--name", help=f"Only the {label}s with this name.")
    @output_options
    @click.pass_context
    def list_command(ctx: click.Context, name: str | None, fmt: Format, columns: Sequence[str]) -> None:
        with open_client(ctx) as client:
            query = {"name": name} if name is not None else {}
            print_list(client, spec, client.list(spec.kind, **query), fmt, columns)


def add_show(group: click.Group, spec: ListSpec) -> None:
    """Register `show` (one object by name or id) for one resource kind."""

    @group.command("show", help=f"Show one {spec.label}.")
    @target_argument(spec.kind)
    @output_options
    @click.pass_context
    def show(ctx: click.Context, target: str, fmt: Format, columns: Sequence[str]) -> None:
        with open_client(ctx) as client:
            print_one(client, spec, client.find(spec.kind, target), fmt, columns)


def _add_rename(group: click.Group, spec: ListSpec) -> None:
    @target_argument(spec.kind)
    @name_option
    @description_option
    @set_output_options
    @click.pass_context
    def rename(
        ctx: click.Context,
        target: str,
        name: str | None,
        description: str | None,
        fmt: Format | None,
        columns: Sequence[str],
    ) -> None:
        update_and_show(ctx, spec, target, named_fields(name, description), fmt, columns)

    register_set(group, rename, f"Change a {spec.label}'s name or description.")


def _add_delete(group: click.Group, spec: ListSpec) -> None:
    @group.command("delete", help=f"Delete {spec.label}s (goes on past a failure, then exits 1).")
    @target_argument(spec.kind, many=True)
    @click.pass_context
    def delete(ctx: click.Context, targets: Sequence[str]) -> None:
        with open_client(ctx) as client:
            delete_each(client, spec, targets)


def delete_each(
    client: SteerflowClient,
    spec: ListSpec,
    targets: Sequence[str],
    delete_one: Callable[[SteerflowClient, str], None] | None = None,
) -> None:
    """Delete every target (`delete_one(client, target)`, default: by name or id), reporting each
    failure, then "N of M ... failed to delete." and exit 1 (one target: its error alone)."""
    delete = delete_one or (lambda c, target: c.delete(spec.kind, c.find_id(spec.kind, target)))
    if len(targets) == 1:
        delete(client, targets[0])
        return
    failed = 0
    for target in targets:
        try:
            delete(client, target)
        except ClientError as exc:
            failed += 1
            print_error(f"failed to delete {spec.label} with name or ID {target!r}: {exc}")
    if failed:
        print_error(f"{failed} of {len(targets)} {spec.plural} failed to delete.")
        raise click.exceptions.Exit(1)


def parse_pairs(text: str, option: str) -> dict[str, str]:
    """`key=value,key=value` (the openstack CLI's form for parameter dicts)."""
    out: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value[,key=value...], got {item!r}", param_hint=option)
        out[key.strip()] = value.strip()
    return out


def parse_port_range(text: str, option: str) -> tuple[int, int]:
    """`MIN:MAX` or a single port `N` (meaning N:N)."""
    low, sep, high = text.partition(":")
    try:
        first = int(low)
        return first, int(high) if sep else first
    except ValueError:
        raise click.BadParameter(f"expected <min-port>:<max-port>, got {text!r}", param_hint=option) from None


def named_fields(name: str | None, description: str | None) -> JsonDict:
    """The body part for `--name` / `--description` (only what was given)."""
    body: JsonDict = {}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    return body


def create_fields(name: str, description: str | None, project: str | None) -> JsonDict:
    """What every create body starts with: the name, and the description and project when given."""
    return put_if_given({"name": name}, description=description, project_id=project)


def put_if_given(body: JsonDict, **values: Any) -> JsonDict:
    """Add the options that were given (not None) to a request body; returns `body`."""
    body.update({key: value for key, value in values.items() if value is not None})
    return body


def resolve_all(client: SteerflowClient, kind: str, names: Sequence[str] | None) -> list[str]:
    return [client.find_id(kind, n) for n in names or ()]


def require_change(body: Mapping[str, Any]) -> None:
    if not body:
        raise click.BadParameter("nothing to change: give at least one option")


def update_and_show(
    ctx: click.Context,
    spec: ListSpec,
    target: str,
    body: JsonDict,
    fmt: Format | None,
    columns: Sequence[str] | None = None,
) -> None:
    """PUT `body` on the object named or identified by `target`; print the result if asked to."""
    require_change(body)
    with open_client(ctx) as client:
        updated = client.update(spec.kind, client.find_id(spec.kind, target), body)
        print_one(client, spec, updated, fmt, columns)
