"""Fine-grained REST cases in process (FastAPI TestClient): auth files, fallbacks and the error handlers."""

from __future__ import annotations

import builtins
import json
import logging
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette's TestClient nags about httpx; the client is fine
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from steerflow.api.context import Context
from steerflow.api.errors import Conflict, NotFound
from steerflow.nbdb.api import JsonDict, StoreError
from steerflow.nbdb.memory import MemoryStore
from steerflow.rest.app import build_app
from steerflow.rest.auth import NoAuth, TokenFileAuth, TokenFileError


class Widgets:
    """A handler without `create_bulk` that keeps objects in a dict and can be told to misbehave."""

    resource, collection, path_prefix = "widget", "widgets", "/test"

    def __init__(self) -> None:
        self.objects: dict[str, JsonDict] = {}
        self.raise_on_list: BaseException | None = None

    def create(self, ctx: Context, body: JsonDict) -> JsonDict:
        if body.get("name") in {o["name"] for o in self.objects.values()}:
            raise Conflict(f"widget {body.get('name')} exists")
        obj = {"id": f"w{len(self.objects) + 1}", "name": body.get("name")}
        self.objects[obj["id"]] = obj
        return obj

    def update(self, ctx: Context, id: str, body: JsonDict) -> JsonDict:
        raise NotFound(f"widget {id}")

    def delete(self, ctx: Context, id: str) -> None:
        self.objects.pop(id)

    def get(self, ctx: Context, id: str) -> JsonDict:
        raise NotFound(f"widget {id}")

    def list(self, ctx: Context, filters: Mapping[str, builtins.list[str]]) -> builtins.list[JsonDict]:
        if self.raise_on_list is not None:
            raise self.raise_on_list
        return list(self.objects.values())


@pytest.fixture
def widgets() -> Widgets:
    return Widgets()


@pytest.fixture
def client(widgets: Widgets) -> Iterator[TestClient]:
    with TestClient(build_app(MemoryStore(), NoAuth(), [widgets], max_body_bytes=1000)) as c:
        yield c


def test_bulk_without_native_support_is_rolled_back(client: TestClient, widgets: Widgets) -> None:
    client.post("/v2.0/test/widgets", json={"widget": {"name": "taken"}})
    resp = client.post(
        "/v2.0/test/widgets", json={"widgets": [{"name": "a"}, {"name": "b"}, {"name": "taken"}]}
    )
    assert resp.status_code == 409
    assert [o["name"] for o in widgets.objects.values()] == ["taken"]


def test_unexpected_exception_is_a_logged_500(
    client: TestClient, widgets: Widgets, caplog: pytest.LogCaptureFixture
) -> None:
    widgets.raise_on_list = KeyError("boom")
    with caplog.at_level(logging.ERROR):
        resp = client.get("/v2.0/test/widgets")
    assert resp.status_code == 500
    assert resp.json()["NeutronError"]["type"] == "HTTPInternalServerError"
    assert "boom" not in resp.text  # internals stay in the log
    assert any("unexpected error" in r.message and r.exc_info for r in caplog.records)


def test_store_outage_is_503(client: TestClient, widgets: Widgets) -> None:
    widgets.raise_on_list = StoreError("connection refused")
    resp = client.get("/v2.0/test/widgets")
    assert (resp.status_code, resp.json()["NeutronError"]["type"]) == (503, "ServiceUnavailable")


def test_body_limit_is_configurable(client: TestClient) -> None:
    resp = client.post("/v2.0/test/widgets", json={"widget": {"name": "x" * 2000}})
    assert (resp.status_code, resp.json()["NeutronError"]["type"]) == (413, "HTTPRequestEntityTooLarge")
    assert client.post("/v2.0/test/widgets", json={"widget": {"name": "x" * 900}}).status_code == 201


def test_two_handlers_on_one_path_are_refused(widgets: Widgets) -> None:
    with pytest.raises(ValueError, match="two handlers"):
        build_app(MemoryStore(), NoAuth(), [widgets, Widgets()])


def write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "tokens.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_token_file_identities(tmp_path: Path) -> None:
    auth = TokenFileAuth.from_file(
        write(
            tmp_path,
            {
                "t-admin": {"project_id": "ops", "roles": ["admin", "member"], "user_id": "root"},
                "t-user": {"project_id": "p1"},
            },
        )
    )
    admin = auth.authenticate({"x-auth-token": "t-admin"})
    assert (admin.project_id, admin.is_admin, admin.roles, admin.user_id) == (
        "ops",
        True,
        ("admin", "member"),
        "root",
    )
    user = auth.authenticate({"x-auth-token": "t-user"})
    assert (user.project_id, user.is_admin, user.roles) == ("p1", False, ())


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        [],
        {"t": "p1"},
        {"t": {"roles": ["admin"]}},
        {"t": {"project_id": ""}},
        {"t": {"project_id": "p", "roles": "admin"}},
        {"t": {"project_id": "p", "user_id": 5}},
        {"": {"project_id": "p"}},
    ],
)
def test_bad_token_files_are_refused(tmp_path: Path, content: Any) -> None:
    with pytest.raises(TokenFileError):
        TokenFileAuth.from_file(write(tmp_path, content))


def test_server_with_bad_token_file_exits_with_one_line(tmp_path: Path) -> None:
    bad = write(tmp_path, [])
    argv = [
        sys.executable,
        "-m",
        "steerflow.rest",
        "--nb",
        "memory://",
        "--token-file",
        str(bad),
        "--port",
        "1",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("steerflow api: token file")
    assert "Traceback" not in done.stderr


def test_a_plain_handler_pages_by_position_and_sorts_on_nothing(client: TestClient) -> None:
    for name in ("a", "b", "c"):
        client.post("/v2.0/test/widgets", json={"widget": {"name": name}})
    first = client.get("/v2.0/test/widgets?limit=2").json()
    assert [w["name"] for w in first["widgets"]] == ["a", "b"]
    after = next(link["href"] for link in first["widgets_links"] if link["rel"] == "next")
    assert [w["name"] for w in client.get(after).json()["widgets"]] == ["c"]
    refused = client.get("/v2.0/test/widgets?sort_key=name&sort_dir=asc")
    assert refused.json()["NeutronError"]["message"] == "['name'] is invalid attribute for sort_keys"


def test_the_document_asks_for_tokens_only_when_the_server_does(tmp_path: Path) -> None:
    tokens = TokenFileAuth.from_file(write(tmp_path, {"t": {"project_id": "p", "roles": ["admin"]}}))
    open_doc = TestClient(build_app(MemoryStore(), NoAuth())).get("/openapi.json").json()
    token_doc = TestClient(build_app(MemoryStore(), tokens)).get("/openapi.json").json()
    assert "securitySchemes" not in open_doc["components"] and "security" not in open_doc
    operations = [op for item in open_doc["paths"].values() for m, op in item.items() if m != "parameters"]
    assert operations and not any("security" in op or "401" in op["responses"] for op in operations)
    assert token_doc["components"]["securitySchemes"]["token"]["name"] == "X-Auth-Token"
    for path, item in token_doc["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                guarded = path.startswith("/v2.0")
                assert ("security" in operation) == guarded, (method, path)
                assert ("401" in operation["responses"]) == guarded, (method, path)
    chassis = token_doc["paths"]["/v2.0/steerflow/chassis"]
    assert set(chassis) == {"get"} and set(token_doc["paths"]["/v2.0/steerflow/chassis/{id}"]) == {
        "get",
        "delete",  # an admin forgets a dead chassis; agents alone register them
        "parameters",
    }
