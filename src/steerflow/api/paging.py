"""Neutron's list paging and sorting: `limit`, `marker`, `page_reverse`, `sort_key`/`sort_dir` and links.

As neutron-server (`neutron/api/api_common.py`): a handler either pages natively, like Neutron's core
plugin (the page is ordered by the sort keys then `id`, and starts after the marker object's values: an
unknown marker is the resource's 404), or emulates paging, like networking-sfc's plugins (the page is a
slice of the list as it is, and an unknown marker is an empty page). Only a handler's `sort_keys` (the
attributes upstream marks `is_sort_key`) may be sorted on.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from steerflow.api.errors import BadRequest, HTTPBadRequest
from steerflow.nbdb.api import JsonDict

ASC, DESC = "asc", "desc"
ID = "id"


@dataclass(frozen=True)
class SortKey:
    attribute: str
    ascending: bool


@dataclass(frozen=True)
class ListQuery:
    """What a list request asks of the order and the page; `limit` None: the whole list."""

    limit: int | None = None
    marker: str | None = None
    reverse: bool = False
    sorts: tuple[SortKey, ...] = ()


def parse_limit(raw: str | None, max_limit: int | None = None) -> int | None:
    """`limit=` as Neutron reads it: an integer >= 0, 0 = no paging; `max_limit` caps every page."""
    text = "0" if raw is None else raw
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 0:
        raise BadRequest(resource="limit", msg=f"Limit must be an integer 0 or greater and not '{text}'")
    if max_limit is not None and max_limit > 0:
        limit = min(max_limit, limit) or max_limit
    return limit or None


def parse_sorts(keys: Sequence[str], dirs: Sequence[str], allowed: frozenset[str]) -> tuple[SortKey, ...]:
    """Paired `sort_key`/`sort_dir` values (empty ones skipped), checked as Neutron does."""
    keys, dirs = [k for k in keys if k], [d for d in dirs if d]
    if len(keys) != len(dirs):
        raise HTTPBadRequest("The number of sort_keys and sort_dirs must be same")
    absent = [k for k in keys if k not in allowed]
    if absent:
        raise HTTPBadRequest(f"{absent!r} is invalid attribute for sort_keys")
    invalid = [d for d in dirs if d not in (ASC, DESC)]
    if invalid:
        raise HTTPBadRequest(
            f"{invalid!r} is invalid value for sort_dirs, valid value is '{ASC}' and '{DESC}'"
        )
    return tuple(SortKey(k, d == ASC) for k, d in zip(keys, dirs, strict=True))


def parse_page_reverse(raw: str | None) -> bool:
    return raw is not None and raw.lower() == "true"


def _compare(a: Any, b: Any) -> int:
    """SQL-like order of two attribute values: None first, then the values' own order."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    try:
        return int(a > b) - int(a < b)
    except TypeError:  # mixed types never happen in one attribute; keep the order total anyway
        return _compare(str(a), str(b))


def _comparator(sorts: Sequence[SortKey]) -> Callable[[JsonDict, JsonDict], int]:
    def compare(x: JsonDict, y: JsonDict) -> int:
        for key in sorts:
            result = _compare(x.get(key.attribute), y.get(key.attribute))
            if result:
                return result if key.ascending else -result
        return 0

    return compare


def sort_objects(objs: Sequence[JsonDict], sorts: Sequence[SortKey]) -> list[JsonDict]:
    """`objs` ordered by `sorts` (stable: ties keep the list's order)."""
    if not sorts:
        return list(objs)
    return sorted(objs, key=functools.cmp_to_key(_comparator(sorts)))


def native_page(objs: Sequence[JsonDict], query: ListQuery, marker_obj: JsonDict | None) -> list[JsonDict]:
    """Neutron's native paging: order by the sort keys then `id`, the page after (or, reversed,
    before) the marker object's values; the marker itself need not be in `objs` (filters)."""
    sorts = list(query.sorts)
    if query.limit is not None and ID not in {s.attribute for s in sorts}:
        sorts.append(SortKey(ID, True))
    ordered = sort_objects(objs, sorts)
    if query.limit is None:
        return ordered
    compare = _comparator(sorts)
    if marker_obj is not None:
        marker = marker_obj
        if query.reverse:
            ordered = [o for o in ordered if compare(o, marker) < 0]
        else:
            ordered = [o for o in ordered if compare(o, marker) > 0]
    if query.reverse:
        return ordered[max(len(ordered) - query.limit, 0) :]
    return ordered[: query.limit]


def emulated_page(objs: Sequence[JsonDict], query: ListQuery) -> list[JsonDict]:
    """Neutron's emulated paging (`PaginationEmulatedHelper.paginate`): a slice of the sorted list
    around the marker's position; a marker that is not in the list gives an empty page."""
    ordered = sort_objects(objs, query.sorts)
    limit = query.limit
    if limit is None or not ordered:
        return ordered if limit is None else []
    if query.marker:
        at = next((i for i, o in enumerate(ordered) if o.get(ID) == query.marker), None)
        if at is None:
            return []
    else:
        at = len(ordered) if query.reverse else 0
    if query.reverse:
        return ordered[max(at - limit, 0) : at]
    start = at + 1 if query.marker else at
    return ordered[start : start + limit]


def page_links(
    url: str, params: Sequence[tuple[str, str]], page: Sequence[JsonDict], query: ListQuery
) -> list[JsonDict]:
    """The `<collection>_links` of a page (`get_pagination_links`): `next` unless a forward page came
    back short, `previous` unless a reversed one did; each repeats the query with a new marker."""
    if query.limit is None:
        return []
    links: list[JsonDict] = []
    short = len(page) < query.limit
    if not (short and not query.reverse):
        links.append({"rel": "next", "href": _link(url, params, page[-1] if page else None, False)})
    if not (short and query.reverse):
        links.append({"rel": "previous", "href": _link(url, params, page[0] if page else None, True)})
    return links


def _link(url: str, params: Sequence[tuple[str, str]], edge: JsonDict | None, reverse: bool) -> str:
    kept = [(k, v) for k, v in params if k not in ("marker", "page_reverse")]
    if edge is not None:
        kept.append(("marker", str(edge[ID])))
    if reverse:
        kept.append(("page_reverse", "True"))
    return f"{url}?{urllib.parse.urlencode(kept)}"
