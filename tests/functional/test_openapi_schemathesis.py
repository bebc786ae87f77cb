"""Schemathesis over the whole /openapi.json of a real API server: the document tells the truth.

Every phase (examples, coverage, fuzzing, stateful) and every check but `ignored_auth` (the server runs
without authentication, and then its document declares none): status codes and response schemas as
documented, schema-violating requests rejected (4xx), schema-valid ones accepted, 405 with `Allow` for
undocumented methods, deleted objects gone. A bounded number of examples and a fixed seed keep it
deterministic and well under two minutes. A second run against a server in token mode (an admin
token sent) adds the auth checks: requests without a token, or with a wrong one, must be refused.

One relaxation, for what JSON Schema cannot say: a POST or PUT body whose every attribute is
schema-valid may still break a rule between attributes or with stored objects (project_id vs
tenant_id, port ranges min <= max, a CIDR's host bits, an address outside its subnet, a conflicting
classifier...), which Neutron answers with 400; and a sort_key needs its sort_dir (paired parameters).
So a 400 to a schema-valid POST or PUT, or to a list request whose sort_key and sort_dir counts differ,
is excused; every other schema-valid request must succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.builders.api_server import ApiServer, TokenFile, start_api_server

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.engine import Status, events, from_schema  # noqa: E402

pytestmark = [pytest.mark.server]

SEED = 20261206
MAX_EXAMPLES = 20  # per operation and phase: about 35 s here (pytest's timeout bounds it at 300 s)
EXPECTED_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "unsupported_method",
    "use_after_free",
    "ensure_resource_availability",
}
CONFIG: dict[str, Any] = {
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},  # the seed alone decides
    "phases": {"stateful": {"max-steps": 40}},
    "checks": {"ignored_auth": {"enabled": False}},
    "workers": 1,
    "continue-on-failure": True,
}


@pytest.fixture(scope="module")
def memory_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with start_api_server(tmp_path_factory.mktemp("st"), nb_url="memory://") as server:
        yield server


def failures_of(server: ApiServer, settings: dict[str, Any] = CONFIG) -> tuple[list[str], set[str]]:
    """Run every phase and check; the failures (operation, check, what was sent) and the checks that
    ran."""
    config = schemathesis.Config.from_dict(settings)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)
    found: list[str] = []
    ran: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: error {event.value!r}")
        if isinstance(event, events.ScenarioFinished):
            ran |= {c.name for checks in event.recorder.checks.values() for c in checks}
            found += _failed_checks(event)
    return found, ran


def _values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    return [str(v) for v in items if str(v)]


def _excused(name: str, case: Any, failure: Any) -> bool:
    """A schema-valid request refused (400) for a rule JSON Schema cannot state (module docstring)."""
    if name != "positive_data_acceptance" or getattr(failure, "status_code", None) != 400:
        return False
    if case.method.upper() in ("POST", "PUT"):
        return True
    query = case.query or {}
    return len(_values(query.get("sort_key"))) != len(_values(query.get("sort_dir")))


def _failed_checks(event: events.ScenarioFinished) -> list[str]:
    out = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            node = event.recorder.cases.get(case_id)
            failure = check.failure_info.failure
            if node is not None and _excused(check.name, node.value, failure):
                continue
            sent = node.value.as_curl_command() if node is not None else case_id
            out.append(f"{event.recorder.label} {check.name}: {failure.title}: {failure.message}\n  {sent}")
    return out


@pytest.fixture(scope="module")
def token_api(tmp_path_factory: pytest.TempPathFactory, token_file: TokenFile) -> Iterator[ApiServer]:
    workdir = tmp_path_factory.mktemp("st-token")
    with start_api_server(workdir, nb_url="memory://", token_file=token_file.path) as server:
        yield server


def test_token_mode_document_with_every_check(token_api: ApiServer, token_file: TokenFile) -> None:
    """With tokens, the auth checks too: a request without one (or with a bad one) must be refused."""
    settings = {
        **CONFIG,
        "generation": {**CONFIG["generation"], "max-examples": 10},
        "checks": {},
        "headers": {"X-Auth-Token": token_file.admin},
    }
    found, ran = failures_of(token_api, settings)
    assert ran >= EXPECTED_CHECKS | {"ignored_auth", "missing_required_header"}, ran
    assert not found, f"{len(found)} failures:\n" + "\n".join(sorted(set(found))[:40])
    assert "ERROR steerflow.rest.errors: unexpected error" not in token_api.log_text()


def test_openapi_document_tells_the_truth(memory_api: ApiServer) -> None:
    found, ran = failures_of(memory_api)
    assert ran >= EXPECTED_CHECKS, f"checks that never ran: {EXPECTED_CHECKS - ran}"
    assert not found, f"{len(found)} failures:\n" + "\n".join(sorted(set(found))[:40])
    assert "ERROR steerflow.rest.errors: unexpected error" not in memory_api.log_text()
