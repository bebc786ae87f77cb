"""Neutron request bodies: JSON decoding and the singular / plural (bulk) envelope of each resource."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from steerflow.api.errors import HTTPBadRequest
from steerflow.nbdb.api import JsonDict

# Deeper documents are hostile: no resource attribute nests anywhere near this much.
MAX_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(raw: bytes) -> Any:
    """The JSON document of a request body; 400 "Body contains invalid data" when it is not one."""
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise HTTPBadRequest("Body contains invalid data") from exc
    if _depth(doc) > MAX_DEPTH:
        raise HTTPBadRequest("Body contains invalid data")
    return doc


def _depth(doc: Any) -> int:
    """Nesting depth of a JSON document, computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


@dataclass(frozen=True)
class CreateRequest:
    """The resource bodies of a POST: one (singular envelope) or several (bulk, plural envelope)."""

    items: list[Any]
    bulk: bool


def unwrap_create(doc: Any, resource: str, collection: str) -> CreateRequest:
    """Neutron POST envelopes: `{resource: {...}}` or `{collection: [{...} or {resource: {...}}]}`."""
    if not isinstance(doc, dict):
        raise HTTPBadRequest("Body contains invalid data")
    if collection in doc:
        items = doc[collection]
        if not items:
            raise HTTPBadRequest("Resources required")
        if not isinstance(items, list):
            raise HTTPBadRequest("Body contains invalid data")
        return CreateRequest([_bulk_item(item, resource) for item in items], bulk=True)
    return CreateRequest([_singular(doc, resource)], bulk=False)


def _bulk_item(item: Any, resource: str) -> Any:
    if isinstance(item, dict) and resource in item:
        return _singular(item, resource)
    if not isinstance(item, dict):
        raise HTTPBadRequest(f"Object '{resource}' contains invalid data")
    return item


def unwrap_update(doc: Any, resource: str, collection: str) -> JsonDict:
    """The body of a PUT: only the singular envelope (bulk update does not exist)."""
    if not isinstance(doc, dict):
        raise HTTPBadRequest("Body contains invalid data")
    if collection in doc:
        raise HTTPBadRequest("Bulk operation not supported")
    return _singular(doc, resource)


def _singular(doc: JsonDict, resource: str) -> JsonDict:
    inner = doc.get(resource)
    if inner is None:
        raise HTTPBadRequest(f"Unable to find '{resource}' in request body")
    if not isinstance(inner, dict):
        raise HTTPBadRequest(f"Object '{resource}' contains invalid data")
    return inner
