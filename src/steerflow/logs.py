"""Daemon logging: human-readable or JSON lines, per-module levels, and context fields (chassis, NB
revision, chain id) that log calls get without passing them."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, Final, TextIO

FORMATS: Final = ("text", "json")
LEVELS: Final = ("debug", "info", "warning", "error", "critical")
# context fields, in the order they are shown; the JSON keys are these names
CONTEXT_FIELDS: Final = ("chassis", "nb_revision", "chain_id")  # not the NB schema: log fields

_process: dict[str, object] = {}  # fields of the whole process (the agent's chassis)
_current: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "steerflow_log_context", default=None
)


def set_process_field(name: str, value: object) -> None:
    """A field every record of this process carries (threads included), e.g. the agent's chassis."""
    _process[name] = value


@contextlib.contextmanager
def context(**fields: object) -> Iterator[None]:
    """Fields the records logged inside this block carry (this task or thread, and what it awaits)."""
    token = _current.set({**(_current.get() or {}), **fields})
    try:
        yield
    finally:
        _current.reset(token)


def set_field(name: str, value: object) -> None:
    """A field the current task or thread carries from now on (e.g. the NB revision being applied)."""
    _current.set({**(_current.get() or {}), name: value})


def fields() -> dict[str, object]:
    """The context fields a record logged here and now carries."""
    merged = {**_process, **(_current.get() or {})}
    return {name: merged[name] for name in CONTEXT_FIELDS if merged.get(name) is not None}


class ContextFilter(logging.Filter):
    """Copies the context fields onto each record (a handler filter: records of every logger pass it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in fields().items():
            if not hasattr(record, name):  # a field given through `extra` wins
                setattr(record, name, value)
        return True


def _record_fields(record: logging.LogRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in CONTEXT_FIELDS if getattr(record, name, None) is not None}


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER [chassis=ch1 nb_revision=42]: message`, the context only when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        shown = _record_fields(record)
        record.context = " [" + " ".join(f"{k}={v}" for k, v in shown.items()) + "]" if shown else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context fields, and
    the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_record_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def parse_levels(spec: str) -> dict[str, int]:
    """`info,steerflow.agent=debug` -> {"": INFO, "steerflow.agent": DEBUG} ("" is the root logger).
    ValueError names the part it cannot read."""
    levels: dict[str, int] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        module, _, level = part.rpartition("=")
        if level.strip().lower() not in LEVELS or (_ and not module.strip()):
            raise ValueError(
                f"bad log level {part!r}: LEVEL or MODULE=LEVEL, comma-separated; levels: {', '.join(LEVELS)}"
            )
        levels[module.strip()] = getattr(logging, level.strip().upper())
    return levels


def configure(log_format: str = "text", levels: str = "info", stream: TextIO | None = None) -> None:
    """Send every record to stderr (or `stream`) in `log_format`, at the `levels` of `parse_levels`."""
    if log_format not in FORMATS:
        raise ValueError(f"bad log format {log_format!r}: one of {', '.join(FORMATS)}")
    parsed = parse_levels(levels)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(parsed.pop("", logging.INFO))
    for module, level in parsed.items():
        logging.getLogger(module).setLevel(level)
