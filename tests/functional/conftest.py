"""Real API server processes for functional tests: uvicorn on a free port over a store URL, stopped by pid.

Fixtures: `api_server` / `api_url` (no auth) and `token_api_server` (tokens from `token_file`: an admin
and two members of different projects). One server per test module keeps the suite fast; each test gets
it over an emptied embedded store. Tests needing a server of their own use `start_api_server(...)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.builders.api_server import ApiServer, Rest, TokenFile, start_api_server


@pytest.fixture(scope="module")
def module_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One server without authentication per test module (every request is admin of "default")."""
    with start_api_server(tmp_path_factory.mktemp("api")) as server:
        yield server


@pytest.fixture
def api_server(module_api_server: ApiServer) -> ApiServer:
    """The module's server without authentication, over an empty store."""
    module_api_server.reset()
    return module_api_server


@pytest.fixture
def api_url(api_server: ApiServer) -> str:
    """Base URL of a server without authentication, over an empty store."""
    return api_server.url


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> TokenFile:
    tokens = TokenFile(tmp_path_factory.mktemp("tokens") / "tokens.json")
    identities = {
        tokens.admin: {"project_id": "ops", "roles": ["admin"], "user_id": "root"},
        tokens.alice: {"project_id": "alice", "roles": ["member"], "user_id": "alice"},
        tokens.bob: {"project_id": "bob", "roles": ["member"], "user_id": "bob"},
    }
    tokens.path.write_text(json.dumps(identities))
    return tokens


@pytest.fixture(scope="module")
def module_token_api_server(
    tmp_path_factory: pytest.TempPathFactory, token_file: TokenFile
) -> Iterator[ApiServer]:
    with start_api_server(tmp_path_factory.mktemp("api-tokens"), token_file=token_file.path) as server:
        yield server


@pytest.fixture
def token_api_server(module_token_api_server: ApiServer) -> ApiServer:
    """The module's server authenticating `X-Auth-Token` against `token_file`, over an empty store."""
    module_token_api_server.reset()
    return module_token_api_server


@pytest.fixture
def rest(api_server: ApiServer) -> Iterator[Rest]:
    client = Rest(api_server.url)
    yield client
    client.close()
