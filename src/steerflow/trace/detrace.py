"""detrace: `ovs-appctl ofproto/trace` output with every flow's cookie named by its NB object."""

from __future__ import annotations

import re
from collections.abc import Iterable

from steerflow.pipeline.cookies import PURPOSES, Owner, cookie_kind, owners
from steerflow.trace.describe import object_ref
from steerflow.trace.fabric import Docs

COOKIE = re.compile(r"\bcookie (0x[0-9a-fA-F]+)")


def cookies_in(lines: Iterable[str]) -> list[int]:
    """The cookies of the flows an `ofproto/trace` output shows, in order."""
    return [int(m.group(1), 16) for line in lines for m in COOKIE.finditer(line)]


def annotate(text: str, docs: Docs) -> str:
    """`text` (ofproto/trace output) with "[kind name (id)]" after every cookie of an NB object's flow."""
    lines = text.splitlines()
    names = owners(docs, cookies_in(lines))
    return "\n".join(_line(line, docs, names) for line in lines) + ("\n" if text.endswith("\n") else "")


def cookie_text(value: int, docs: Docs, names: dict[int, Owner | None]) -> str:
    """What a cookie names: "classifier web (id)", "infra", or "unknown object" (drift, or another NB)."""
    owner = names.get(value)
    if owner is not None:
        ref = object_ref(docs, owner.kind, owner.id)
        label = f"{ref['name']} ({ref['id']})" if ref["name"] else ref["id"]
        return f"{owner.cookie_kind.name.lower()} {label}"
    kind = cookie_kind(value)
    if kind is None:
        return "not steerflow's"
    if kind.name == "INFRA":
        return f"infra: {PURPOSES[kind]}"
    return f"{kind.name.lower()} of an object not in the NB"


def _line(line: str, docs: Docs, names: dict[int, Owner | None]) -> str:
    found = COOKIE.findall(line)
    if not found:
        return line
    notes = "; ".join(cookie_text(int(c, 16), docs, names) for c in found)
    return f"{line}  [{notes}]"
