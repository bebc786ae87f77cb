"""`steerflow api`: the REST API server; a failure to start is one line on stderr and exit code 2."""

from __future__ import annotations

import errno
import logging
import os
import socket

import click

from steerflow.cli.logging_options import log_options, start_logging
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
@log_options
@click.pass_context
def api(
    ctx: click.Context,
    nb: str | None,
    host: str,
    port: int,
    token_file: str | None,
    chassis_down_after: float | None,
    log_format: str,
    log_level: str,
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
        schema_version = check_settings(nb, token_file)
        start_logging(ctx, log_format, log_level)
        warn_if_older(schema_version)
        notify_when_answering(host, port)
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


def check_settings(nb: str | None, token_file: str | None) -> int:
    """Open the store and read the token file once before the server logs anything: a bad URL or file
    is then the only line printed (ValueError); a store newer than this steerflow exits 3. The store's
    schema version."""
    from steerflow.cli.nb_cmd import refuse_newer_schema
    from steerflow.nbdb.migrate import CURRENT_VERSION, stamp_if_fresh
    from steerflow.nbdb.url import open_store
    from steerflow.rest.auth import TokenFileAuth

    if token_file:
        TokenFileAuth.from_file(token_file)
    store = open_store(nb)
    try:
        version = refuse_newer_schema(store, "API server")
        return CURRENT_VERSION if stamp_if_fresh(store) else version
    finally:
        store.close()


def warn_if_older(version: int) -> None:
    from steerflow.nbdb.migrate import CURRENT_VERSION

    if version < CURRENT_VERSION:
        LOG.warning(
            "the NB store is in schema version %d, older than %d: run `steerflow nb migrate` "
            "(served meanwhile: the older documents are read as before)",
            version,
            CURRENT_VERSION,
        )


def notify_when_answering(host: str, port: int, timeout: float = 60.0) -> None:
    """Tell systemd (Type=notify) the API is ready once it answers HTTP on host:port: a thread polls
    until then; nothing is sent if it never does. No $NOTIFY_SOCKET: nothing to do."""
    import threading

    from steerflow import sdnotify

    if not os.environ.get(sdnotify.NOTIFY_ENV):
        return

    def poll() -> None:
        import time
        import urllib.error
        import urllib.request

        target = "[::1]" if host == "::" else host if ":" not in host else f"[{host}]"
        url = f"http://{'127.0.0.1' if host == '0.0.0.0' else target}:{port}/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2.0):
                    pass
            except urllib.error.HTTPError:
                pass  # an HTTP error is an answer (e.g. 401 in token mode)
            except OSError:
                time.sleep(0.05)
                continue
            sdnotify.ready(f"serving on {host}:{port}")
            return

    threading.Thread(target=poll, name="sd-notify", daemon=True).start()
