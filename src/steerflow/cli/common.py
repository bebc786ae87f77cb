"""What every resource command shares: the connection settings, argument parsers and list/show/delete."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from steerflow.cli.output import Format, JsonDict, emit_list, emit_one
from steerflow.client import DEFAULT_ENDPOINT, ApiError, SteerflowClient

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
NameOption = Annotated[str | None, typer.Option("--name", help="New name.")]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="Description.")]


@dataclass
class Connection:
    """Where the API is and how to authenticate; set by the root command's options."""

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = None

    def client(self) -> SteerflowClient:
        return SteerflowClient(self.endpoint, self.token)


def connection(ctx: typer.Context) -> Connection:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Connection) else Connection()


def open_client(ctx: typer.Context) -> SteerflowClient:
    return connection(ctx).client()


@dataclass(frozen=True)
class ListSpec:
    """How a resource is listed: its table columns and which columns hold ids of which other kind."""

    kind: str
    columns: tuple[str, ...]
    refs: Mapping[str, str] = field(default_factory=dict)
    derived: Mapping[str, Callable[[JsonDict], str]] = field(default_factory=dict)  # computed columns

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ")


class NameCache:
    """Resolves ids to names for tables, listing each referenced kind at most once."""

    def __init__(self, client: SteerflowClient) -> None:
        self._client = client
        self._names: dict[str, dict[str, str]] = {}

    def __call__(self, kind: str, id: str) -> str:
        if kind not in self._names:
            try:
                self._names[kind] = {o["id"]: o.get("name") or o["id"] for o in self._client.list(kind)}
            except ApiError:
                self._names[kind] = {}
        return self._names[kind].get(id, id)


def print_list(client: SteerflowClient, spec: ListSpec, rows: Sequence[JsonDict], fmt: Format) -> None:
    title = f"{spec.label}s".capitalize()
    if fmt is Format.table and spec.derived:
        rows = [{**row, **{col: derive(row) for col, derive in spec.derived.items()}} for row in rows]
    emit_list(rows, fmt, spec.columns, title, NameCache(client), spec.refs)


def add_list_show_delete(
    app: typer.Typer, spec: ListSpec, with_list: bool = True, with_rename: bool = False
) -> None:
    """Register `list` (filtered by `--name`), `show` and `delete` for one resource kind, and with
    `with_rename` an `update` that changes only name and description (all those kinds allow)."""
    _add_show(app, spec)
    _add_delete(app, spec)
    if with_rename:
        _add_rename(app, spec)
    if not with_list:
        return
    label = spec.label

    @app.command("list", help=f"List {label}s.")
    def list_command(
        ctx: typer.Context,
        name: Annotated[str | None, typer.Option("--name", help=f"Only the {label}s with this name.")] = None,
        fmt: FormatOption = Format.table,
    ) -> None:
        with open_client(ctx) as client:
            query = {"name": name} if name is not None else {}
            print_list(client, spec, client.list(spec.kind, **query), fmt)


def _add_show(app: typer.Typer, spec: ListSpec) -> None:
    label = spec.label

    @app.command("show", help=f"Show one {label}.")
    def show(
        ctx: typer.Context,
        target: Annotated[str, typer.Argument(metavar=spec.kind.upper(), help=f"{label} name or id")],
        fmt: FormatOption = Format.table,
    ) -> None:
        with open_client(ctx) as client:
            emit_one(client.find(spec.kind, target), fmt)


def _add_rename(app: typer.Typer, spec: ListSpec) -> None:
    label = spec.label

    @app.command("update", help=f"Change a {label}'s name or description.")
    def update(
        ctx: typer.Context,
        target: Annotated[str, typer.Argument(metavar=spec.kind.upper(), help=f"{label} name or id")],
        name: NameOption = None,
        description: DescriptionOption = None,
        fmt: FormatOption = Format.table,
    ) -> None:
        update_and_show(ctx, spec.kind, target, named_fields(name, description), fmt)


def _add_delete(app: typer.Typer, spec: ListSpec) -> None:
    label = spec.label

    @app.command("delete", help=f"Delete {label}s.")
    def delete(
        ctx: typer.Context,
        targets: Annotated[list[str], typer.Argument(metavar=f"{spec.kind.upper()}...", help="names or ids")],
    ) -> None:
        with open_client(ctx) as client:
            for target in targets:
                client.delete(spec.kind, client.find_id(spec.kind, target))


def parse_pairs(text: str, option: str) -> dict[str, str]:
    """`key=value,key=value` (the openstack CLI's form for parameter dicts)."""
    out: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value[,key=value...], got {item!r}", param_hint=option)
        out[key.strip()] = value.strip()
    return out


def parse_port_range(text: str, option: str) -> tuple[int, int]:
    """`MIN:MAX` or a single port `N` (meaning N:N)."""
    low, sep, high = text.partition(":")
    try:
        first = int(low)
        return first, int(high) if sep else first
    except ValueError:
        raise typer.BadParameter(f"expected <min-port>:<max-port>, got {text!r}", param_hint=option) from None


def named_fields(name: str | None, description: str | None) -> JsonDict:
    """The body part for `--name` / `--description` (only what was given)."""
    body: JsonDict = {}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    return body


def resolve_all(client: SteerflowClient, kind: str, names: Sequence[str] | None) -> list[str]:
    return [client.find_id(kind, n) for n in names or ()]


def require_change(body: Mapping[str, Any]) -> None:
    if not body:
        raise typer.BadParameter("nothing to update: give at least one option")


def update_and_show(ctx: typer.Context, kind: str, target: str, body: JsonDict, fmt: Format) -> None:
    """PUT `body` on the object named or identified by `target` and print the result."""
    require_change(body)
    with open_client(ctx) as client:
        emit_one(client.update(kind, client.find_id(kind, target), body), fmt)
