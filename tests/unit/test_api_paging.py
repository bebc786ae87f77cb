"""Neutron's paging and sorting rules (`api/paging.py`): parsing, both paging modes, links."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.api import paging
from steerflow.api.errors import BadRequest, HTTPBadRequest
from steerflow.api.paging import ListQuery, SortKey

URL = "http://api/v2.0/networks"


def objects(n: int) -> list[dict[str, Any]]:
    return [{"id": f"{i:04d}", "name": f"n{(7 * i) % 5}"} for i in range(n)]


def follow(objs: list[dict[str, Any]], query: ListQuery, native: bool, rel: str) -> list[dict[str, Any]]:
    """Walk `rel` links as a client does (the marker and page_reverse come from each link)."""
    seen: list[dict[str, Any]] = []
    for _ in range(len(objs) + 2):
        by_id = {o["id"]: o for o in objs}
        marker_obj = by_id.get(query.marker) if query.marker else None
        page = paging.native_page(objs, query, marker_obj) if native else paging.emulated_page(objs, query)
        seen = [*seen, *page] if rel == "next" else [*page, *seen]
        links = {
            x["rel"]: x["href"] for x in paging.page_links(URL, [("limit", str(query.limit))], page, query)
        }
        if rel not in links:
            return seen
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(links[rel]).query))
        query = ListQuery(
            limit=query.limit,
            marker=params.get("marker"),
            reverse=params.get("page_reverse") == "True",
            sorts=query.sorts,
        )
    raise AssertionError("the links never end")


@pytest.mark.parametrize(
    ("raw", "cap", "limit"),
    [
        (None, None, None),
        ("0", None, None),
        ("5", None, 5),
        ("5", 3, 3),
        ("0", 3, 3),
        (None, 3, 3),
        ("2", 3, 2),
    ],
)
def test_limit_and_the_server_cap(raw: str | None, cap: int | None, limit: int | None) -> None:
    assert paging.parse_limit(raw, cap) == limit


@pytest.mark.parametrize("raw", ["abc", "-1", "", "1.5"])
def test_bad_limit_is_neutrons_bad_request(raw: str) -> None:
    with pytest.raises(BadRequest) as caught:
        paging.parse_limit(raw)
    assert (
        caught.value.message == f"Bad limit request: Limit must be an integer 0 or greater and not '{raw}'."
    )


def test_sorts_are_paired_known_and_directed() -> None:
    allowed = frozenset({"name", "id"})
    assert paging.parse_sorts(["name", "id"], ["desc", "asc"], allowed) == (
        SortKey("name", False),
        SortKey("id", True),
    )
    assert paging.parse_sorts(["", "name"], ["asc", ""], allowed) == (SortKey("name", True),)
    for keys, dirs, message in (
        (["name"], [], "The number of sort_keys and sort_dirs must be same"),
        (["bogus", "x"], ["asc", "asc"], "['bogus', 'x'] is invalid attribute for sort_keys"),
        (["name"], ["up"], "['up'] is invalid value for sort_dirs, valid value is 'asc' and 'desc'"),
    ):
        with pytest.raises(HTTPBadRequest) as caught:
            paging.parse_sorts(keys, dirs, allowed)
        assert caught.value.message == message


def test_none_sorts_first_ascending() -> None:
    objs = [{"id": "b", "v": 2}, {"id": "a", "v": None}, {"id": "c", "v": 1}]
    assert [o["id"] for o in paging.sort_objects(objs, [SortKey("v", True)])] == ["a", "c", "b"]
    assert [o["id"] for o in paging.sort_objects(objs, [SortKey("v", False)])] == ["b", "c", "a"]


def test_links_as_neutron_writes_them() -> None:
    objs = objects(5)
    query = ListQuery(limit=2)
    page = paging.native_page(objs, query, None)
    params = [("fields", "name"), ("limit", "2"), ("marker", "old"), ("page_reverse", "False")]
    links = paging.page_links(URL, params, page, query)
    assert links == [
        {"rel": "next", "href": f"{URL}?fields=name&limit=2&marker=0001"},
        {"rel": "previous", "href": f"{URL}?fields=name&limit=2&marker=0000&page_reverse=True"},
    ]
    short = paging.native_page(objs, ListQuery(limit=2, marker="0003"), objs[3])
    assert [x["rel"] for x in paging.page_links(URL, [], short, ListQuery(limit=2))] == ["previous"]
    assert paging.page_links(URL, [], objs, ListQuery()) == []


def test_emulated_unknown_marker_is_an_empty_page_native_starts_after_its_values() -> None:
    objs = objects(6)
    assert paging.emulated_page(objs, ListQuery(limit=2, marker="nope")) == []
    outside = {"id": "0002x", "name": "zz"}  # filtered out of `objs`, still a position in the order
    assert [o["id"] for o in paging.native_page(objs, ListQuery(limit=2), outside)] == ["0003", "0004"]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 23),
    limit=st.integers(1, 7),
    native=st.booleans(),
    by_name=st.booleans(),
    ascending=st.booleans(),
)
def test_walking_links_visits_every_object_once_in_order(
    n: int, limit: int, native: bool, by_name: bool, ascending: bool
) -> None:
    objs = objects(n)
    sorts = (SortKey("name", ascending),) if by_name else ()
    full = (
        paging.native_page(objs, ListQuery(sorts=sorts), None) if native else paging.sort_objects(objs, sorts)
    )
    if native and by_name:  # native paging breaks ties by id, as Neutron adds the id sort key
        full = paging.sort_objects(objs, [*sorts, SortKey("id", True)])
    forward = follow(objs, ListQuery(limit=limit, sorts=sorts), native, "next")
    assert forward == full
    backward = follow(objs, ListQuery(limit=limit, reverse=True, sorts=sorts), native, "previous")
    assert backward == full
