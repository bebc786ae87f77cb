"""Classification groups as the API stores them, for compiler and conflict tests."""

from __future__ import annotations

from typing import Any

from steerflow.model import classification as cls_terms

Definition = tuple[str, dict[str, Any]]  # (classification type, definition)
Member = Definition | cls_terms.Disjunction  # a classification, or a nested group's terms


def _part(member: Member) -> cls_terms.Disjunction:
    if isinstance(member[0], str):
        c_type, definition = member
        return (cls_terms.definition_term(c_type, definition),)
    return member


def terms(operator: str, *members: Member) -> cls_terms.Disjunction:
    """A group's disjunction: its members' terms ANDed or ORed, as the API expands them."""
    parts = [_part(m) for m in members]
    return cls_terms.conjunction(parts) if operator == "AND" else cls_terms.disjunction(parts)


def stored_terms(operator: str, *members: Member) -> list[dict[str, Any]]:
    """The same, in the JSON form a flow classifier document holds under `schema.MATCH_TERMS`."""
    return cls_terms.to_json(terms(operator, *members))
