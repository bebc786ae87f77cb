"""The daemons' logging options (--log-format, --log-level) and what each logs when it starts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from steerflow import logs
from steerflow.cli import config

F = TypeVar("F", bound=Callable[..., Any])
LOG = logging.getLogger("steerflow.cli")


def _levels(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        logs.parse_levels(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def log_options(command: F) -> F:
    """--log-format text|json and --log-level LEVEL[,MODULE=LEVEL...] (fed by the file's [log])."""
    command = click.option(
        "--log-format", type=click.Choice(logs.FORMATS), default="text", show_default=True,
        help="text (human-readable) or json (one object per line: time, level, logger, message, "
        "chassis, nb_revision, chain_id).",
    )(command)  # fmt: skip
    return click.option(
        "--log-level", default="info", show_default=True, callback=_levels, metavar="LEVEL[,MODULE=LEVEL]",
        help="Root level and per-module levels, e.g. info,steerflow.agent=debug.",
    )(command)  # fmt: skip


def start_logging(ctx: click.Context, log_format: str, log_level: str, **process_fields: object) -> None:
    """Configure logging, then log the effective configuration (secrets masked)."""
    logs.configure(log_format, log_level)
    for name, value in process_fields.items():
        logs.set_process_field(name, value)
    LOG.info("%s", config.describe(ctx))
