"""The API server process: opens the NB store, picks the authenticator and runs uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import uvicorn

from steerflow.nbdb.migrate import NewerSchema, refuse_newer
from steerflow.nbdb.status import down_after_seconds
from steerflow.nbdb.url import ENV_VAR, open_store, redacted
from steerflow.rest.app import build_app
from steerflow.rest.auth import Authenticator, NoAuth, TokenFileAuth, TokenFileError
from steerflow.rest.ui import Tracer

LOG = logging.getLogger(__name__)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9696  # Neutron's port: clients configured for Neutron find us where they expect
EXIT_NEWER_SCHEMA = 3  # the store is newer than this steerflow (as `steerflow nb` and `steerflow api`)
SHUTDOWN_GRACE = 2  # seconds open requests (the web view's live feeds) get to finish on shutdown
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def authenticator(token_file: str | None) -> Authenticator:
    """Static tokens from `token_file`, or no authentication (everyone is admin) without one."""
    if token_file:
        return TokenFileAuth.from_file(token_file)
    LOG.warning("no token file: authentication is disabled and every request acts as admin")
    return NoAuth()


def serve(
    nb_url: str | None,
    host: str,
    port: int,
    token_file: str | None,
    pagination_max_limit: int | None = None,
    tracer: Tracer | None = None,
) -> None:
    """Serve the API on host:port over the NB store at `nb_url` (None: the default) until interrupted;
    `pagination_max_limit` caps every list page (None: unlimited, as Neutron's default)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    auth = authenticator(token_file)
    store = open_store(nb_url)
    try:
        refuse_newer(
            store, "API server"
        )  # `steerflow api` checked already; `python -m steerflow.rest` did not
        app = build_app(
            store, auth, settle_heap=True, pagination_max_limit=pagination_max_limit, tracer=tracer
        )
        shown = redacted(nb_url) if nb_url else "the default NB store"
        LOG.info("steerflow API on http://%s:%d over %s", host, port, shown)
        # our AccessLog middleware logs each request with its duration; uvicorn's would repeat it
        # open /ui pages hold a live feed: stop waiting for them on shutdown after a moment
        uvicorn.run(
            app,
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
    finally:
        store.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m steerflow.rest", description=__doc__)
    parser.add_argument(
        "--nb",
        default=None,
        help=f"northbound store URL (default ${ENV_VAR}, else the embedded store's default path)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--token-file", default=None, help="JSON file of token -> identity")
    parser.add_argument(
        "--pagination-max-limit",
        type=_positive,
        default=None,
        metavar="N",
        help="largest page a list answers, with next/previous links (Neutron's pagination_max_limit; "
        "default: no limit)",
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        down_after_seconds()  # a bad $STEERFLOW_CHASSIS_DOWN_AFTER fails here, not in every chassis request
        serve(args.nb, args.host, args.port, args.token_file, args.pagination_max_limit)
    except (TokenFileError, ValueError) as exc:  # a bad token file or store URL: one line, exit 2
        print(f"steerflow api: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except NewerSchema as exc:  # as `steerflow api`: restarting will not help
        print(f"steerflow api: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_NEWER_SCHEMA) from None
