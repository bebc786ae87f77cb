"""The same requests to steerflow and to upstream neutron-server: same codes, error types and messages.

Runs only with NEUTRON_REF_URL pointing at the reference server that
`/work/shared/reference/upstream/neutron-ref.sh` starts (neutron-server + networking-sfc, noauth).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from steerflow.model import schema
from tests.builders.api_server import ApiServer

REF_URL = os.environ.get("NEUTRON_REF_URL", "")
pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not REF_URL, reason="NEUTRON_REF_URL not set (no upstream reference server)"),
]

ZERO = "00000000-0000-0000-0000-000000000000"
Outcome = tuple[int, str | None, str | None]  # status, NeutronError type, message


def outcome(resp: httpx.Response) -> Outcome:
    if resp.status_code < 400:
        return resp.status_code, None, None
    err = resp.json()["NeutronError"]
    return resp.status_code, err["type"], err["message"]


class Side:
    """One server with a network, a v4 subnet and a port of its own to aim requests at."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30.0)
        tag = uuid.uuid4().hex[:8]
        self.net = self._create("networks", {"name": f"diff-{tag}"})
        self.sub = self._create(
            "subnets", {"network_id": self.net["id"], "cidr": "10.44.0.0/24", "ip_version": 4}
        )
        self.port = self._create("ports", {"network_id": self.net["id"], "device_id": f"vm-{tag}"})

    def _create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.http.post(f"/v2.0/{collection}", json={collection[:-1]: body})
        assert resp.status_code == 201, resp.text
        obj: dict[str, Any] = resp.json()[collection[:-1]]
        return obj

    def fill(self, text: str) -> str:
        return (
            text.replace("NET", self.net["id"])
            .replace("SUB", self.sub["id"])
            .replace("PORT", self.port["id"])
        )

    def cleanup(self) -> None:
        for collection, obj in (("ports", self.port), ("networks", self.net)):
            self.http.delete(f"/v2.0/{collection}/{obj['id']}")
        self.http.close()


@pytest.fixture
def sides(api_server: ApiServer) -> Iterator[tuple[Side, Side]]:
    ours, theirs = Side(api_server.url), Side(REF_URL)
    yield ours, theirs
    ours.cleanup()
    theirs.cleanup()


Request = tuple[str, str, str | None]  # method, path, raw body (NET/SUB/PORT/ZERO placeholders)

CASES: list[Request] = [
    ("POST", "/v2.0/networks", '{"network": '),
    ("POST", "/v2.0/networks", "[1, 2]"),
    ("POST", "/v2.0/networks", '{"netw": {}}'),
    ("POST", "/v2.0/networks", '{"network": [1]}'),
    ("POST", "/v2.0/networks", "{}"),
    ("POST", "/v2.0/networks", '{"networks": []}'),
    ("POST", "/v2.0/networks", '{"network": {"bogus": 1}}'),
    ("POST", "/v2.0/networks", '{"network": {"name": 5}}'),
    ("POST", "/v2.0/networks", '{"network": {"admin_state_up": "maybe"}}'),
    ("POST", "/v2.0/networks", '{"network": {"id": "abc"}}'),
    ("POST", "/v2.0/networks", '{"network": {"tenant_id": "a", "project_id": "b"}}'),
    ("PUT", "/v2.0/networks/NET", '{"networks": [{"name": "x"}]}'),
    ("PUT", "/v2.0/networks/NET", '{"network": {"id": "x"}}'),
    ("PUT", "/v2.0/networks/NET", '{"network": {"tenant_id": "x"}}'),
    ("GET", "/v2.0/networks/not-a-uuid", None),
    ("DELETE", "/v2.0/networks/not-a-uuid", None),
    ("GET", "/v2.0/subnets/not-a-uuid", None),
    ("GET", "/v2.0/ports/ZERO", None),
    ("GET", "/v2.0/bogus", None),
    ("POST", "/v2.0/networks/NET", '{"network": {}}'),
    ("GET", "/v2.0/networks?admin_state_up=maybe", None),
    ("POST", "/v2.0/subnets", '{"subnet": {"network_id": "NET", "cidr": "10.45.0.0/24"}}'),
    ("POST", "/v2.0/subnets", '{"subnet": {"network_id": "NET", "cidr": "10.45.0.0/24", "ip_version": 6}}'),
    ("POST", "/v2.0/subnets", '{"subnet": {"network_id": "NET", "cidr": "10.44.0.0/25", "ip_version": 4}}'),
    ("POST", "/v2.0/subnets", '{"subnet": {"network_id": "NET", "cidr": "10.45.0.0/24", "ip_version": 5}}'),
    ("POST", "/v2.0/subnets", '{"subnet": {"cidr": "10.45.0.0/24", "ip_version": 4}}'),
    (
        "POST",
        "/v2.0/subnets",
        '{"subnet": {"network_id": "ZERO", "cidr": "10.45.0.0/24", "ip_version": 4}}',
    ),
    ("DELETE", "/v2.0/networks/NET", None),
    ("DELETE", "/v2.0/subnets/SUB", None),
    ("POST", "/v2.0/ports", '{"port": {"network_id": "NET", "mac_address": "zz"}}'),
    ("POST", "/v2.0/ports", '{"port": {"network_id": "NET", "fixed_ips": [{"ip_address": "10.9.0.5"}]}}'),
    (
        "POST",
        "/v2.0/ports",
        '{"port": {"network_id": "NET", "fixed_ips": [{"subnet_id": "SUB", "ip_address": "10.9.0.5"}]}}',
    ),
    (
        "POST",
        "/v2.0/ports",
        '{"port": {"network_id": "NET", "fixed_ips": [{"subnet_id": "SUB", "ip_address": "10.44.0.0"}]}}',
    ),
    ("POST", "/v2.0/ports", '{"port": {"network_id": "NET", "fixed_ips": [{"ip_address": "bad"}]}}'),
    (
        "POST",
        "/v2.0/ports",
        '{"port": {"network_id": "NET", "fixed_ips": [{"subnet_id": "ZERO"}]}}',
    ),
]


def send(side: Side, request: Request) -> Outcome:
    method, path, raw = request
    content = None if raw is None else side.fill(raw).encode()
    headers = {"Content-Type": "application/json"}
    return outcome(side.http.request(method, side.fill(path), content=content, headers=headers))


def normalised(side: Side, result: Outcome) -> Outcome:
    """Ids differ between the servers: put the placeholders back in messages."""
    status, kind, message = result
    if message is not None:
        for key, obj in (("NET", side.net), ("SUB", side.sub), ("PORT", side.port)):
            message = message.replace(obj["id"], key)
    return status, kind, message


@pytest.mark.parametrize("request_", CASES, ids=[f"{m} {p} {b}" for m, p, b in CASES])
def test_same_answer_as_neutron(sides: tuple[Side, Side], request_: Request) -> None:
    ours, theirs = sides
    mine, upstream = normalised(ours, send(ours, request_)), normalised(theirs, send(theirs, request_))
    assert mine == upstream, f"steerflow {mine} vs neutron {upstream}"


def _conflicts(side: Side) -> list[Callable[[], Outcome]]:
    post = side.http.post
    taken = {"network_id": side.net["id"], "fixed_ips": [side.port["fixed_ips"][0]]}
    mac = {"network_id": side.net["id"], "mac_address": side.port["mac_address"]}
    return [
        lambda: outcome(post("/v2.0/ports", json={schema.PORT: taken})),
        lambda: outcome(post("/v2.0/ports", json={schema.PORT: mac})),
    ]


def test_same_conflicts_as_neutron(sides: tuple[Side, Side]) -> None:
    ours, theirs = sides
    for mine, upstream in zip(_conflicts(ours), _conflicts(theirs), strict=True):
        assert mine()[:2] == upstream()[:2]
