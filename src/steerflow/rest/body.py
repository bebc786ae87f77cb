"""Neutron request bodies: JSON decoding and the singular / plural (bulk) envelope of each resource."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from steerflow.api.errors import HTTPBadRequest
from steerflow.nbdb.api import JsonDict

# Deeper documents are hostile: no resource attribute nests anywhere near this much.
MAX_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf, which no attribute can hold
        raise ValueError(f"{text} is out of range")
    return value


def decode_json(raw: bytes) -> Any:
    """The JSON document of a request body; 400 "Body contains invalid data" when it is not one."""
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise HTTPBadRequest("Body contains invalid data") from exc
    if not _acceptable(doc):
        raise HTTPBadRequest("Body contains invalid data")
    return doc


def _acceptable(doc: Any) -> bool:
    """Not nested deeper than MAX_DEPTH, and every string valid Unicode (JSON lets lone surrogates in,
    which no store or response could encode). Iterative, so depth cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, level = stack.pop()
        if level > MAX_DEPTH:
            return False
        if isinstance(node, dict):
            if not all(_valid_text(k) for k in node):
                return False
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
        elif isinstance(node, str) and not _valid_text(node):
            return False
    return True


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class CreateRequest:
    """The resource bodies of a POST: one (singular envelope) or several (bulk, plural envelope)."""

    items: list[Any]
    bulk: bool


def unwrap_create(doc: Any, resource: str, collection: str) -> CreateRequest:
    """Neutron POST envelopes: `{resource: {...}}` or `{collection: [{...} or {resource: {...}}]}`."""
    if not isinstance(doc, dict):
        raise HTTPBadRequest("Body contains invalid data")
    # a collection named like its resource (chassis) is bulk only when it holds a list
    if collection in doc and not (collection == resource and isinstance(doc[collection], dict)):
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
    if collection in doc and collection != resource:
        raise HTTPBadRequest("Bulk operation not supported")
    return _singular(doc, resource)


def _singular(doc: JsonDict, resource: str) -> JsonDict:
    inner = doc.get(resource)
    if inner is None:
        raise HTTPBadRequest(f"Unable to find '{resource}' in request body")
    if not isinstance(inner, dict):
        raise HTTPBadRequest(f"Object '{resource}' contains invalid data")
    return inner
