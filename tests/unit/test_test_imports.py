"""Tests read as documentation: a test module never imports another test module or a conftest.

What tests share lives in `tests/builders` (builders, servers, sandboxes, fixture plugins); fixtures reach
a test through conftest, never through an import. Tests that need root (namespaces, OVS) live in
`tests/functional`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SHARED = "tests.builders"


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in `path`, at any depth; relative imports made absolute."""
    package = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            yield node.lineno, module
            if node.module is None or node.level:  # `from . import test_x`: the names are modules
                yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)


def _is_test_module(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def _allowed(module: str) -> bool:
    if _is_test_module(module):
        return False
    return (module != "tests" and not module.startswith("tests.")) or module.startswith(SHARED)


def test_test_modules_import_only_the_shared_builders() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}: imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in imported_modules(path)
        if not _allowed(module)
    ]
    assert offenders == [], "move what is shared to tests/builders:\n" + "\n".join(offenders)


def test_root_needing_tests_are_functional() -> None:
    """The unit and contract suites run unprivileged: none builds a lab, a fabric or an OVS sandbox (the
    lab's pure parts, its names and address plan, are fine)."""
    needs_root = ("tests.builders.lab_fixtures", "tests.builders.ovs_fixtures", "tests.builders.fabric")
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}: imports {module}"
        for folder in ("unit", "contract")
        for path in sorted((TESTS / folder).rglob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith(needs_root)
    ]
    assert offenders == []


def test_the_scan_sees_an_import_of_a_test_module() -> None:
    assert not _allowed("tests.unit.test_classify")
    assert not _allowed("tests.functional.conftest")
    assert not _allowed("conftest")
    assert _allowed("tests.builders.classify")
    assert _allowed("steerflow.model.schema")
