"""HAProxy (Debian's) on loopback in front of several API servers: round robin per request."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.builders.servers import free_port

START_TIMEOUT = 10.0
SERVED_BY = "X-Served-By"  # the response header naming the backend that answered (s0, s1, ...)

# every request is balanced on its own (HTTP mode, no `prefer-last-server`), even on one keep-alive
# client connection, so consecutive requests of one client land on different API servers
CONFIG = """\
global
    maxconn 512
    # requests as large as the API servers take (fuzzed query strings run to tens of kB): HAProxy's
    # default 16 kB buffer would answer them itself, with an HTML error page
    tune.bufsize 262144
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
frontend api
    bind 127.0.0.1:{port}
    default_backend servers
backend servers
    balance roundrobin
    http-response set-header {served_by} %s
{servers}
"""


def haproxy_missing() -> str | None:
    if shutil.which("haproxy") is None:
        return "haproxy is not installed (apt-get install haproxy, or ./run.sh install)"
    return None


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def haproxy(workdir: Path, backends: Sequence[str]) -> Iterator[str]:
    """HAProxy balancing over `backends` (`http://HOST:PORT` each); yields its URL, killed by pid after."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"    server s{n} {url.removeprefix('http://')}" for n, url in enumerate(backends))
    config = workdir / "haproxy.cfg"
    config.write_text(CONFIG.format(port=port, servers=servers, served_by=SERVED_BY))
    log = workdir / "haproxy.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start; log:\n{log.read_text()[-2000:]}")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
