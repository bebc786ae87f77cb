"""The documented multi-server setup (docs/nbdb.md): two API servers on one store behind HAProxy; the
CLI and plain HTTP work through it, consecutive requests land on both servers, and `?wait` answers
from either."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from steerflow.model import schema
from tests.builders.api_server import start_api_server
from tests.builders.balancer import SERVED_BY, haproxy_missing
from tests.builders.steerflow_cli import make_ports, sf_json, sf_ok

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(haproxy_missing() is not None, reason=haproxy_missing() or ""),
]


def test_two_api_servers_behind_haproxy_serve_the_cli_and_rest(tmp_path: Path) -> None:
    with start_api_server(tmp_path, servers=2) as api:
        groups = [_group(api.url, device) for device in ("fa", "fb")]
        lists = [groups[:1], groups[1:], groups, groups[::-1]]  # distinct lists: one chain each
        with httpx.Client(base_url=api.url, timeout=30) as http:
            served = set()
            chain_ids = []
            for n in range(4):  # one keep-alive connection: HAProxy still balances every request
                body = {schema.PORT_CHAIN: {"name": f"c{n}", "port_pair_groups": lists[n]}}
                answer = http.post("/v2.0/sfc/port_chains?wait=5", json=body)
                assert answer.status_code == 201, answer.text
                assert answer.headers["X-Steerflow-Applied"] == "true"  # no chassis: applied at once
                served.add(answer.headers[SERVED_BY])
                chain_ids.append(answer.json()[schema.PORT_CHAIN]["chain_id"])
        assert served == {"s0", "s1"}
        assert sorted(chain_ids) == [1, 2, 3, 4]  # allocated in the store, whichever server asked
        listed = sf_ok(api.url, "port-chain", "list", "-f", "value", "-c", "Name")
        assert sorted(listed.split()) == ["c0", "c1", "c2", "c3"]


def _group(url: str, device: str) -> str:
    """A port pair group of one port pair on the ports of `device`, made with the CLI."""
    ports = make_ports(url, device, f"{device}-in", f"{device}-out")
    pair = sf_json(url, "port-pair", "create", "--ingress", ports[f"{device}-in"]["id"], "--egress",
                   ports[f"{device}-out"]["id"], f"pp-{device}")  # fmt: skip
    return str(sf_json(url, "port-pair-group", "create", "--port-pair", pair["id"], f"ppg-{device}")["id"])
