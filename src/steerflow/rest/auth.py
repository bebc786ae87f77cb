"""Request authentication: an `Authenticator` turns request headers into the caller's `Context`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from steerflow.api.context import DEFAULT_PROJECT, Context
from steerflow.api.errors import Unauthorized

TOKEN_HEADER = "x-auth-token"
ADMIN_ROLE = "admin"


class Authenticator(Protocol):
    """Resolves who is calling from the request headers (lower-case names); raises `Unauthorized`."""

    def authenticate(self, headers: Mapping[str, str]) -> Context: ...


@dataclass(frozen=True)
class NoAuth:
    """Every request acts as admin of one default project (Neutron's `auth_strategy = noauth`)."""

    project_id: str = DEFAULT_PROJECT

    def authenticate(self, headers: Mapping[str, str]) -> Context:
        return Context.admin(self.project_id)


class TokenFileError(ValueError):
    """The token file is unreadable or not in the expected shape."""


@dataclass(frozen=True)
class TokenFileAuth:
    """Static bearer tokens: `X-Auth-Token` must be one of a file's tokens.

    The file is JSON: `{"<token>": {"project_id": "p1", "roles": ["member"], "user_id": "alice"}, ...}`.
    A token whose roles include `admin` acts as admin of its project.
    """

    tokens: Mapping[str, Context]

    @classmethod
    def from_file(cls, path: str | Path) -> TokenFileAuth:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TokenFileError(f"cannot read token file {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise TokenFileError(f"token file {path}: expected a JSON object of token -> identity")
        return cls({token: _identity(path, token, entry) for token, entry in raw.items()})

    def authenticate(self, headers: Mapping[str, str]) -> Context:
        token = headers.get(TOKEN_HEADER)
        if not token:
            raise Unauthorized("Authentication required: missing X-Auth-Token header.")
        ctx = self.tokens.get(token)
        if ctx is None:
            raise Unauthorized("The request you have made requires authentication.")
        return ctx


def _identity(path: str | Path, token: str, entry: Any) -> Context:
    if not token or not isinstance(entry, dict):
        raise TokenFileError(f"token file {path}: each entry must map a non-empty token to an object")
    project = entry.get("project_id")
    roles = entry.get("roles", [])
    user = entry.get("user_id", "")
    if not isinstance(project, str) or not project:
        raise TokenFileError(f"token file {path}: a token has no project_id")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise TokenFileError(f"token file {path}: roles must be a list of strings")
    if not isinstance(user, str):
        raise TokenFileError(f"token file {path}: user_id must be a string")
    return Context(project_id=project, is_admin=ADMIN_ROLE in roles, roles=tuple(roles), user_id=user)
