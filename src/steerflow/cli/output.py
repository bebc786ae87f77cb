"""How the CLI shows results: the openstack CLI's formats (table, json, yaml, value, csv) and `-c` columns.

Tables are plain ASCII drawn here, never wrapped to the terminal's width (an id split over two lines
cannot be copied), so the same text reaches a terminal, a pipe or a file. `table` shows referenced
objects as `name (id)`; the machine formats (json, yaml, value, csv) keep the API's values.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

JsonDict = dict[str, Any]
NameOf = Callable[[str, str], str]


class Format(StrEnum):
    """Output formats of every command that prints resources (those of `openstack ... -f`)."""

    table = "table"
    json = "json"
    yaml = "yaml"
    value = "value"
    csv = "csv"


class ColumnError(ValueError):
    """`-c` named a column the output does not have."""


RED = "\x1b[1;31m"
RESET = "\x1b[0m"


def print_error(message: str) -> None:
    """One line on stderr (red on a terminal), never wrapped, so a long API message stays greppable."""
    line = f"Error: {message}"
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        line = f"{RED}{line}{RESET}"
    sys.stderr.write(line + "\n")


def one_line(exc: BaseException) -> str:
    """An exception as one line: its text (or its type when it has none), newlines folded."""
    return " ".join(str(exc).split()) or type(exc).__name__


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def print_yaml(data: Any) -> None:
    import yaml  # only this format needs it

    sys.stdout.write(yaml.safe_dump(data, default_flow_style=False, sort_keys=True, allow_unicode=True))


def cell(value: Any) -> str:
    """One value as table text: lists one item a line, dicts as key=value lines."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "\n".join(f"{k}={_compact(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "\n".join(_inline(item) for item in value)
    return str(value)


def _inline(value: Any) -> str:
    """An item of a list as one line: a dict (a port's fixed IP, say) as `k=v, k=v`."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items())
    return cell(value)


def flat(value: Any) -> str:
    """One value on one line (the `value` and `csv` formats): lists and dicts comma-separated."""
    if isinstance(value, Mapping):
        return ",".join(f"{k}={_compact(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        # items that are dicts hold commas themselves
        return (";" if any(isinstance(v, Mapping) for v in value) else ",").join(flat(v) for v in value)
    return cell(value)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


ACRONYMS = {"Id": "ID", "Ip": "IP", "Mac": "MAC", "Mtu": "MTU"}


def heading(column: str) -> str:
    """A field's column heading in a list table, as the openstack CLI writes them ("Port Pair Groups")."""
    words = column.replace("_", " ").replace(":", " ").title().split()
    return " ".join(ACRONYMS.get(w, w) for w in words)


def _column_key(text: str) -> str:
    return text.strip().lower().replace(" ", "_").replace("-", "_")


def select_columns(
    wanted: Sequence[str] | None, available: Sequence[str], default: Sequence[str]
) -> list[str]:
    """The fields `-c` asks for (by field name or heading, any case), else `default`."""
    if not wanted:
        return list(default)
    by_key = {_column_key(c): c for c in available}
    by_key.update({_column_key(heading(c)): c for c in available})
    unknown = [w for w in wanted if _column_key(w) not in by_key]
    if unknown:
        raise ColumnError(
            f"no column {', '.join(repr(u) for u in unknown)}; the columns are: {', '.join(available)}"
        )
    chosen = {by_key[_column_key(w)] for w in wanted}
    return [c for c in available if c in chosen]  # in the output's own order, as the openstack CLI does


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An ASCII table like the openstack CLI's: a cell's lines stack in its row, nothing is wrapped."""
    split = [[cell_text.split("\n") for cell_text in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in split:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in lines))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [rule, _line(headers, widths), rule]
    for row in split:
        height = max((len(lines) for lines in row), default=1)
        for k in range(height):
            out.append(_line([lines[k] if k < len(lines) else "" for lines in row], widths))
    if rows:
        out.append(rule)
    return "\n".join(out) + "\n"


def _line(texts: Sequence[str], widths: Sequence[int]) -> str:
    return "| " + " | ".join(t.ljust(w) for t, w in zip(texts, widths, strict=True)) + " |"


def ref_text(value: Any, kind: str | None, name_of: NameOf | None) -> str:
    """A field as table text; ids of another kind (`kind`) read `name (id)`, a graph `a (id) -> b (id)`."""
    if kind is None or name_of is None or value is None:
        return cell(value)
    if isinstance(value, list):
        return "\n".join(_named(name_of, kind, str(v)) for v in value)
    if isinstance(value, dict):
        return "\n".join(
            f"{_named(name_of, kind, k)} -> {', '.join(_named(name_of, kind, d) for d in v)}"
            for k, v in value.items()
        )
    return _named(name_of, kind, str(value))


def _named(name_of: NameOf, kind: str, id: str) -> str:
    name = name_of(kind, id)
    return id if not name or name == id else f"{name} ({id})"


def _csv(rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def emit_one(
    obj: JsonDict,
    fmt: Format,
    columns: Sequence[str] | None = None,
    name_of: NameOf | None = None,
    refs: Mapping[str, str] | None = None,
) -> None:
    """One object: a Field / Value table (fields sorted, as the openstack CLI does) or a machine format."""
    fields = select_columns(columns, sorted(obj), sorted(obj))
    picked = {f: obj.get(f) for f in fields}
    if fmt is Format.json:
        print_json(picked)
    elif fmt is Format.yaml:
        print_yaml(picked)
    elif fmt is Format.value:
        sys.stdout.write("".join(flat(picked[f]) + "\n" for f in fields))
    elif fmt is Format.csv:
        sys.stdout.write(_csv([fields, [flat(picked[f]) for f in fields]]))
    else:
        rows = [[f, ref_text(picked[f], (refs or {}).get(f), name_of)] for f in fields]
        sys.stdout.write(render_table(["Field", "Value"], rows))


def emit_list(
    rows: Sequence[JsonDict],
    fmt: Format,
    default_columns: Sequence[str],
    columns: Sequence[str] | None = None,
    name_of: NameOf | None = None,
    refs: Mapping[str, str] | None = None,
) -> None:
    """Objects as rows: `default_columns` unless `-c` picks others (any field of the objects)."""
    available = list(default_columns)
    for row in rows:
        available.extend(k for k in row if k not in available)
    picked = select_columns(columns, available, default_columns)
    if fmt is Format.json:
        print_json([{c: row.get(c) for c in picked} for row in rows] if columns else list(rows))
    elif fmt is Format.yaml:
        print_yaml([{c: row.get(c) for c in picked} for row in rows] if columns else list(rows))
    elif fmt is Format.value:
        sys.stdout.write("".join(" ".join(flat(row.get(c)) for c in picked) + "\n" for row in rows))
    elif fmt is Format.csv:
        body = [[flat(row.get(c)) for c in picked] for row in rows]
        sys.stdout.write(_csv([[heading(c) for c in picked], *body]))
    elif rows:  # no rows: no table at all, as the openstack CLI does
        table = [[ref_text(row.get(c), (refs or {}).get(c), name_of) for c in picked] for row in rows]
        sys.stdout.write(render_table([heading(c) for c in picked], table))
