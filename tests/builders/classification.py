"""Classification groups as the API stores them, for compiler and conflict tests."""

from __future__ import annotations

from typing import Any

from steerflow.model import classification as cls_terms

Definition = tuple[str, dict[str, Any]]  # (classification type, definition)


def terms(operator: str, *members: Definition | cls_terms.Disjunction) -> cls_terms.Disjunction:
    """A group's disjunction: its classifications' terms (and nested groups' disjunctions) ANDed or ORed."""
    parts = [
        (cls_terms.definition_term(m[0], m[1]),) if isinstance(m[0], str) else m  # type: ignore[arg-type]
        for m in members
    ]
    if operator == "AND":
        return cls_terms.conjunction(parts)  # type: ignore[arg-type]
    return cls_terms.disjunction(parts)  # type: ignore[arg-type]


def stored_terms(operator: str, *members: Definition | cls_terms.Disjunction) -> list[dict[str, Any]]:
    """The same, in the JSON form a flow classifier document holds under `schema.MATCH_TERMS`."""
    return cls_terms.to_json(terms(operator, *members))
