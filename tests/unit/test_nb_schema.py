"""One NB schema: no string literal spells a kind or an allocated attribute outside `model/schema.py`.

Allowed elsewhere, and only there:
- a literal marked `# not the NB schema: <why>` (at the end of its line, or alone on the line above it or
  above the call or display that holds it), for a word that merely equals a kind: an extension alias,
  the lab's own state file, an L4 port;
- the positional arguments of the helpers that run the steerflow and openstack CLIs in tests: command
  words (`network create`) are the CLIs' user interface, not the store's.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from steerflow.model import schema

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("src", "tests", "bench", "integrations")
SCHEMA_MODULE = ROOT / "src/steerflow/model/schema.py"
MARKER = "# not the NB schema:"
# tests/builders/steerflow_cli.py, tests/functional/test_osc_cli.py, test_cli_demo.py
CLI_RUNNERS = frozenset(
    {"sf", "sf_ok", "sf_json", "sf_quiet", "sf_fails"}
    | {"osc", "osc_ok", "osc_json", "osc_json_token"}
    | {"steerflow"}
)


def python_files() -> Iterator[Path]:
    for top in SCANNED:
        yield from sorted((ROOT / top).rglob("*.py"))


def _runner(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _not_literals(tree: ast.AST) -> set[int]:
    """ids of the string constants that are not a literal standing alone: the positional arguments of a
    CLI runner (command words), the text between an f-string's fields."""
    words = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _runner(node) in CLI_RUNNERS
        for arg in node.args
        if isinstance(arg, ast.Constant)
    }
    return words | {
        id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values
    }


def _marked(lines: list[str], node: ast.AST, parent: ast.AST | None) -> bool:
    if MARKER in lines[node.lineno - 1]:
        return True
    starts = {node.lineno} | ({parent.lineno} if isinstance(parent, ast.expr) else set())
    return any(line > 1 and lines[line - 2].strip().startswith(MARKER) for line in starts)


def schema_literals(path: Path) -> list[tuple[int, int, int, str]]:
    """(line, first column, end column, value) of every constant in `path` spelling a schema name, unless
    allowed (see the module docstring). Columns are UTF-8 byte offsets, as `ast` gives them."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    allowed = _not_literals(tree)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if node.value not in schema.NAMES or id(node) in allowed:
            continue
        parent = parents.get(id(node))
        if isinstance(parent, ast.keyword):  # `name="..."`: the call holds it
            parent = parents.get(id(parent))
        if _marked(lines, node, parent):
            continue
        found.append((node.lineno, node.col_offset, node.end_col_offset or 0, node.value))
    return sorted(found)


def test_no_literal_spells_a_kind_or_an_allocated_attribute_outside_the_schema() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in python_files()
        if path != SCHEMA_MODULE
        for line, _, _, value in schema_literals(path)
    ]
    assert offenders == [], "use steerflow.model.schema:\n" + "\n".join(offenders)


def test_the_marker_needs_a_reason() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in python_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.rstrip().endswith(MARKER)
    ]
    assert bare == []


def test_the_scan_sees_a_literal(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        f'x = {{"{schema.PORT_CHAIN}": 1}}\n'
        f'y = "{schema.PAIR_KEY}"  {MARKER} a test\n'
        f"{MARKER} a test\n"
        f'z = dict(\n    a="{schema.PORT}",\n)\n'
        f'sf("{schema.PORT}", "create")\n'
        f'w = f"{schema.PORT}{{x}}"\n'
        f'v = print(\n    "{schema.HOP_LABELS}",\n)\n'
    )
    found = [(line, value) for line, _, _, value in schema_literals(module)]
    assert found == [(1, schema.PORT_CHAIN), (10, schema.HOP_LABELS)]
