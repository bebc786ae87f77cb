"""Neutron's paging and sorting on a real server: limit/marker/page_reverse, <collection>_links,
paired sort_key/sort_dir, their errors, and the server-side page cap; /docs without internet."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builders.api_server import ApiServer, Rest, start_api_server

pytestmark = [pytest.mark.server]


def links_of(body: dict[str, Any], collection: str) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in body.get(f"{collection}_links", [])}


def query_of(href: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(urllib.parse.urlsplit(href).query, keep_blank_values=True)


def walk(http: httpx.Client, url: str, collection: str, rel: str) -> tuple[list[dict[str, Any]], int]:
    """Follow `rel` links from `url` until a page has none; every object seen, and the pages read."""
    seen: list[dict[str, Any]] = []
    pages = 0
    while url:
        resp = http.get(url)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages += 1
        seen = [*seen, *body[collection]] if rel == "next" else [*body[collection], *seen]
        url = links_of(body, collection).get(rel, "")
        assert pages < 100, "the links never end"
    return seen, pages


def make_networks(rest: Rest, names: list[str]) -> list[dict[str, Any]]:
    resp = rest.http.post("/v2.0/networks", json={"networks": [{"name": n} for n in names]})
    assert resp.status_code == 201, resp.text
    objs: list[dict[str, Any]] = resp.json()["networks"]
    return objs


def test_native_pages_are_in_id_order_and_links_walk_both_ways(rest: Rest) -> None:
    nets = make_networks(rest, [f"n{i}" for i in range(7)])
    by_id = sorted(n["id"] for n in nets)
    first = rest.http.get("/v2.0/networks", params={"limit": 3, "fields": "name"}).json()
    assert [n["name"] for n in first["networks"]] == [
        next(n["name"] for n in nets if n["id"] == i) for i in by_id[:3]
    ]
    links = links_of(first, "networks")
    # as neutron-server: the query is repeated, the marker moved, page_reverse only going back
    assert query_of(links["next"]) == [("limit", "3"), ("fields", "name"), ("marker", by_id[2])]
    assert query_of(links["previous"]) == [
        ("limit", "3"),
        ("fields", "name"),
        ("marker", by_id[0]),
        ("page_reverse", "True"),
    ]
    forward, pages = walk(rest.http, "/v2.0/networks?limit=3", "networks", "next")
    assert [n["id"] for n in forward] == by_id and pages == 3  # 3 + 3 + 1: the short page has no next
    backward, _ = walk(rest.http, "/v2.0/networks?limit=2&page_reverse=true", "networks", "previous")
    assert [n["id"] for n in backward] == by_id


def test_sorting_is_paired_and_pages_follow_the_sort(rest: Rest) -> None:
    make_networks(rest, ["b", "a", "c", "a", "d"])
    names = [n["name"] for n in rest.list("networks", sort_key="name", sort_dir="desc")]
    assert names == ["d", "c", "b", "a", "a"]
    url = "/v2.0/networks?sort_key=name&sort_dir=asc&sort_key=id&sort_dir=desc&limit=2"
    seen, _ = walk(rest.http, url, "networks", "next")
    expected = sorted(
        sorted(rest.list("networks"), key=lambda n: n["id"], reverse=True), key=lambda n: n["name"]
    )
    assert [n["id"] for n in seen] == [n["id"] for n in expected]


@pytest.mark.parametrize(
    ("query", "status", "kind", "message"),
    [
        (
            "limit=abc",
            400,
            "BadRequest",
            "Bad limit request: Limit must be an integer 0 or greater and not 'abc'.",
        ),
        (
            "limit=-1",
            400,
            "BadRequest",
            "Bad limit request: Limit must be an integer 0 or greater and not '-1'.",
        ),
        ("sort_key=name", 400, "HTTPBadRequest", "The number of sort_keys and sort_dirs must be same"),
        (
            "sort_key=bogus&sort_dir=asc",
            400,
            "HTTPBadRequest",
            "['bogus'] is invalid attribute for sort_keys",
        ),
        (
            "sort_key=shared&sort_dir=asc",
            400,
            "HTTPBadRequest",
            "['shared'] is invalid attribute for sort_keys",
        ),
        (
            "sort_key=name&sort_dir=up",
            400,
            "HTTPBadRequest",
            "['up'] is invalid value for sort_dirs, valid value is 'asc' and 'desc'",
        ),
        ("limit=2&marker=zzz", 404, "NetworkNotFound", "Network zzz could not be found."),
    ],
)
def test_bad_paging_is_neutrons_error(rest: Rest, query: str, status: int, kind: str, message: str) -> None:
    resp = rest.http.get(f"/v2.0/networks?{query}")
    assert resp.status_code == status
    assert resp.json()["NeutronError"]["type"] == kind
    assert resp.json()["NeutronError"]["message"] == message


def test_sfc_lists_page_by_position_and_sort_on_nothing(rest: Rest) -> None:
    for i in range(5):
        rest.create("port_pair_groups", name=f"g{i}")
    listed = rest.list("port_pair_groups")
    seen, pages = walk(rest.http, "/v2.0/sfc/port_pair_groups?limit=2", "port_pair_groups", "next")
    assert seen == listed and pages == 3
    # emulated, like networking-sfc: an unknown marker is an empty page, only a link back
    body = rest.http.get("/v2.0/sfc/port_pair_groups?limit=2&marker=nope").json()
    assert body["port_pair_groups"] == [] and set(links_of(body, "port_pair_groups")) == {"previous"}
    resp = rest.http.get("/v2.0/sfc/port_pair_groups?sort_key=name&sort_dir=asc")
    assert resp.status_code == 400
    assert resp.json()["NeutronError"]["message"] == "['name'] is invalid attribute for sort_keys"
    assert "port_pair_groups_links" not in rest.http.get("/v2.0/sfc/port_pair_groups?limit=0").json()


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with start_api_server(tmp_path_factory.mktemp("capped"), extra_args=("--pagination-max-limit", "4")) as s:
        yield s


def test_pagination_max_limit_pages_every_list(capped_server: ApiServer) -> None:
    capped_server.reset()
    http = httpx.Client(base_url=capped_server.url, timeout=30.0)
    ids = [n["id"] for n in make_networks(Rest(capped_server.url), [f"c{i}" for i in range(10)])]
    first = http.get("/v2.0/networks").json()
    assert len(first["networks"]) == 4 and "next" in links_of(first, "networks")
    assert len(http.get("/v2.0/networks?limit=100").json()["networks"]) == 4  # capped, as Neutron's
    seen, pages = walk(http, "/v2.0/networks", "networks", "next")
    assert sorted(n["id"] for n in seen) == sorted(ids) and pages == 3


def test_docs_page_needs_no_internet(rest: Rest) -> None:
    page = rest.http.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert len(urls) >= 4, urls  # stylesheet, icon, script, the document
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"/docs loads {url} from elsewhere"
        assert rest.http.get(url).status_code == 200, url
    assert "validatorUrl" in page.text and "null" in page.text  # no validator.swagger.io badge
    css = rest.http.get("/docs/assets/swagger-ui.css").text
    assert not re.findall(r"url\(\s*(?!['\"]?data:)", css), "the stylesheet loads something"
    assert rest.http.get("/docs/assets/nothing.js").status_code == 404


def test_swagger_assets_are_the_bundled_ones(rest: Rest) -> None:
    import fastapi_swagger  # the package the assets come from

    bundled = Path(fastapi_swagger.__file__).parent / "resources" / "swagger-ui-bundle.js"
    served = rest.http.get("/docs/assets/swagger-ui-bundle.js")
    assert served.headers["content-type"].startswith("application/javascript")
    assert served.content == bundled.read_bytes()
