"""How the CLI shows results: rich tables for people, `-f json` for scripts, one red line for errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

JsonDict = dict[str, Any]
NameOf = Callable[[str, str], str]


class Format(StrEnum):
    """Output formats of every command that prints resources."""

    table = "table"
    json = "json"


def console() -> Console:
    """A console on the current stdout (looked up per call so that test runners can capture it)."""
    return Console(file=sys.stdout, highlight=False)


def print_error(message: str) -> None:
    """One red line on stderr, never wrapped, so a long API message stays greppable."""
    Console(file=sys.stderr, highlight=False).print(
        f"Error: {message}", style="bold red", soft_wrap=True, markup=False
    )


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def cell(value: Any) -> str:
    """One value as table text: lists one item a line, dicts as key=value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        if not value:
            return ""
        return "\n".join(f"{k}={_compact(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "\n".join(cell(item) for item in value)
    return str(value)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def show_table(obj: Mapping[str, Any], title: str | None = None) -> Table:
    """One object as a Field / Value table, fields sorted like the openstack CLI does."""
    table = Table(title=title, title_justify="left")
    table.add_column("Field", no_wrap=True)
    table.add_column("Value", overflow="fold")
    for key in sorted(obj):
        table.add_row(key, cell(obj[key]))
    return table


def list_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    title: str | None = None,
    name_of: NameOf | None = None,
    refs: Mapping[str, str] | None = None,
) -> Table:
    """Objects as rows. `refs` maps a column to the resource kind its ids point to; those show as names."""
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in columns:
        # ids are what people copy: never cut them, fold other long values rather than ellipsize
        table.add_column(_heading(column), overflow="fold")
    for row in rows:
        table.add_row(*[_ref_cell(row.get(c), (refs or {}).get(c), name_of) for c in columns])
    return table


ACRONYMS = {"Id": "ID", "Ip": "IP", "Mac": "MAC"}


def _heading(column: str) -> str:
    words = column.replace("_", " ").replace(":", " ").title().split()
    return " ".join(ACRONYMS.get(w, w) for w in words)


def _ref_cell(value: Any, kind: str | None, name_of: NameOf | None) -> str:
    if kind is None or name_of is None or value is None:
        return cell(value)
    if isinstance(value, list):
        return "\n".join(name_of(kind, str(v)) for v in value)
    if isinstance(value, dict):
        return "\n".join(
            f"{name_of(kind, k)} -> {', '.join(name_of(kind, d) for d in v)}" for k, v in value.items()
        )
    return name_of(kind, str(value))


def emit_one(obj: JsonDict, fmt: Format, title: str | None = None) -> None:
    if fmt is Format.json:
        print_json(obj)
    else:
        console().print(show_table(obj, title))


def emit_list(
    rows: Sequence[JsonDict],
    fmt: Format,
    columns: Sequence[str],
    title: str | None = None,
    name_of: NameOf | None = None,
    refs: Mapping[str, str] | None = None,
) -> None:
    if fmt is Format.json:
        print_json(list(rows))
    else:
        console().print(list_table(rows, columns, title, name_of, refs))
