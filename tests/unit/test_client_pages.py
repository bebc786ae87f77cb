"""The API client against a small paging HTTP server: it follows Neutron's `next` links to the end."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from steerflow.client import ApiError, SteerflowClient
from steerflow.model import schema

NETWORKS = [{"id": f"n{i}", "name": f"net{i}"} for i in range(5)]
PAGE = 2


class Paging(BaseHTTPRequestHandler):
    """GET /v2.0/networks in pages of 2 (`marker` = the last id seen), with `networks_links` next."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/v2.0/networks":
            self._answer(404, {"NeutronError": {"type": "HTTPNotFound", "message": "no such path"}})
            return
        marker = parse_qs(url.query).get("marker", [None])[0]
        start = 0 if marker is None else [n["id"] for n in NETWORKS].index(marker) + 1
        page = NETWORKS[start : start + PAGE]
        body: dict[str, object] = {"networks": page}
        if start + PAGE < len(NETWORKS):
            host, port = self.server.server_address[:2]
            href = f"http://{host!s}:{port}/v2.0/networks?limit={PAGE}&marker={page[-1]['id']}"
            body["networks_links"] = [{"rel": "next", "href": href}]
        self._answer(200, body)

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture
def paging_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Paging)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_list_follows_next_links(paging_url: str) -> None:
    with SteerflowClient(paging_url) as client:
        assert client.list(schema.NETWORK) == NETWORKS
        assert client.list(schema.NETWORK) == NETWORKS  # again, on the kept-alive connection


def test_an_error_names_the_type_and_message(paging_url: str) -> None:
    with SteerflowClient(paging_url) as client, pytest.raises(ApiError) as caught:
        client.list(schema.PORT)
    assert (caught.value.status, str(caught.value)) == (404, "HTTPNotFound: no such path")
