"""`steerflow api`: the REST API server; a failure to start is one line on stderr and exit code 2."""

from __future__ import annotations

import errno
import logging
import os
import socket

import click

from steerflow.cli.output import one_line, print_error

EXIT_CANNOT_START = 2
LOG = logging.getLogger("steerflow.cli")


def check_listen(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on, or None when it can (checked before the app is built)."""
    if not 0 < port < 65536:
        return f"--port must be 1-65535, got {port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: unknown host ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: the port is in use (choose another with --port)"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"cannot listen on {host}:{port}: no interface of this machine has that address"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


@click.command("api")
@click.option(
    "--nb",
    help="Northbound store URL: file:///PATH.db (embedded, default), redis://HOST:PORT/DB, "
    "etcd://HOST:PORT, memory://. Default: $STEERFLOW_NB or the embedded store.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=9696, show_default=True, help="TCP port to listen on.")
@click.option(
    "--token-file",
    help='Token mode: JSON file {"TOKEN": {"project_id": ..., "roles": [...]}}. Default: no auth.',
)
@click.option(
    "--chassis-down-after",
    type=click.FloatRange(min=0, min_open=True),
    envvar="STEERFLOW_CHASSIS_DOWN_AFTER",
    show_envvar=True,
    help="Seconds without a heartbeat after which a chassis is down (not waited for by ?wait). Default: 10.",
)
def api(
    nb: str | None, host: str, port: int, token_file: str | None, chassis_down_after: float | None
) -> None:
    """Run the REST API server (networking-sfc compatible) on a northbound store."""
    if chassis_down_after is not None:  # read where liveness is computed (`nbdb.status.down_after_seconds`)
        os.environ["STEERFLOW_CHASSIS_DOWN_AFTER"] = repr(chassis_down_after)
    problem = check_listen(host, port)
    if problem is not None:
        print_error(problem)
        raise click.exceptions.Exit(EXIT_CANNOT_START)
    from steerflow.cli.ui_trace import chain_trace
    from steerflow.rest.server import serve

    try:
        check_settings(nb, token_file)
        serve(nb, host, port, token_file, tracer=chain_trace)
    except SystemExit as exc:  # uvicorn exits 1 when it cannot bind after all (a race): it logged why
        if exc.code not in (0, None):
            print_error(f"the API server could not start on {host}:{port} (see the log line above)")
            raise click.exceptions.Exit(EXIT_CANNOT_START) from None
        raise
    except (ValueError, OSError) as exc:  # a bad store URL or token file, an unreachable store
        LOG.debug("steerflow api failed", exc_info=True)
        print_error(one_line(exc))
        raise click.exceptions.Exit(EXIT_CANNOT_START) from None


def check_settings(nb: str | None, token_file: str | None) -> None:
    """Open the store and read the token file once before the server logs anything: a bad URL or file
    is then the only line printed (ValueError)."""
    from steerflow.nbdb.url import open_store
    from steerflow.rest.auth import TokenFileAuth

    if token_file:
        TokenFileAuth.from_file(token_file)
    open_store(nb).close()
