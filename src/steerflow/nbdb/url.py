"""Northbound store URLs: `open_store(url)` picks and configures the driver a URL names."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from steerflow.nbdb.api import NorthboundStore

ENV_VAR = "STEERFLOW_NB"
DEFAULT_NB_URL = "file:///var/lib/steerflow/nb.db"
ACCEPTED_FORMS = (
    "file:///ABSOLUTE/PATH.db[?history=N] or a plain file path (embedded store, the default), "
    "redis://[:PASSWORD@]HOST:PORT/DB[?prefix=P&history=N], "
    "etcd://HOST:PORT[,HOST:PORT...][/PREFIX][?watch=grpc|gateway][&calls=grpc|gateway], "
    "memory://[?history=N]"
)


def redacted(url: str) -> str:
    """The URL as logs may show it: a password (redis://:PASSWORD@..., user:PASSWORD@) replaced by ***."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


def default_nb_url() -> str:
    """The URL to use when none is given: $STEERFLOW_NB, else the system path as root, else per user."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        return configured
    if os.geteuid() == 0:
        return DEFAULT_NB_URL
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return (Path(state) / "steerflow" / "nb.db").as_uri()


def open_store(url: str | None = None) -> NorthboundStore:
    """Open the store `url` names (see ACCEPTED_FORMS); None or "" means `default_nb_url()`."""
    url = (url or "").strip() or default_nb_url()
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme in ("", "file"):
        return _open_embedded(url)
    if scheme in ("redis", "rediss"):
        return _open_redis(url)
    if scheme == "etcd":
        return _open_etcd(url)
    if scheme == "memory":
        return _open_memory(url)
    raise ValueError(f"unsupported northbound store URL {url!r}; accepted forms: {ACCEPTED_FORMS}")


def _bad(url: str, why: str) -> ValueError:
    return ValueError(f"bad northbound store URL {url!r}: {why}; accepted forms: {ACCEPTED_FORMS}")


def _options(url: str, allowed: set[str]) -> dict[str, str]:
    """The query options of `url`, refusing unknown ones (a typo must not silently use a default)."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    unknown = set(query) - allowed
    if unknown:
        raise _bad(url, f"unknown option(s) {', '.join(sorted(unknown))}")
    return {name: values[-1] for name, values in query.items()}


def _history(url: str, options: dict[str, str], default: int) -> int:
    raw = options.get("history")
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise _bad(url, "history must be a positive integer")
    return int(raw)


def _open_embedded(url: str) -> NorthboundStore:
    from steerflow.nbdb.embedded import DEFAULT_HISTORY, EmbeddedStore

    if "://" not in url:
        return EmbeddedStore(Path(url))
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise _bad(url, "a file URL names an absolute local path: file:///path/to/nb.db")
    options = _options(url, {"history"})
    return EmbeddedStore(Path(parts.path), history=_history(url, options, DEFAULT_HISTORY))


def _open_redis(url: str) -> NorthboundStore:
    from steerflow.nbdb.redis_store import DEFAULT_HISTORY, DEFAULT_PREFIX, RedisStore

    parts = urlsplit(url)
    options = _options(url, {"prefix", "history", "db"})
    # prefix and history are ours; redis-py only gets the connection part
    plain = urlunsplit(parts._replace(query=urlencode({"db": options["db"]}) if "db" in options else ""))
    if not parts.hostname:
        raise _bad(url, "redis needs a host: redis://HOST:PORT/DB")
    try:
        prefix = options.get("prefix", DEFAULT_PREFIX)
        return RedisStore.from_url(plain, prefix, _history(url, options, DEFAULT_HISTORY))
    except ValueError as exc:
        raise _bad(url, str(exc)) from exc


def _open_etcd(url: str) -> NorthboundStore:
    from steerflow.nbdb.etcd_calls import CALL_TRANSPORTS
    from steerflow.nbdb.etcd_store import DEFAULT_PREFIX, WATCH_TRANSPORTS, EtcdStore

    rest = url[len("etcd://") :].partition("?")[0]
    hosts, slash, path = rest.partition("/")
    options = _options(url, {"watch", "calls"})
    watch, calls = options.get("watch", "grpc"), options.get("calls", "grpc")
    if watch not in WATCH_TRANSPORTS:
        raise _bad(url, f"watch={watch} is none of {', '.join(WATCH_TRANSPORTS)}")
    if calls not in CALL_TRANSPORTS:
        raise _bad(url, f"calls={calls} is none of {', '.join(CALL_TRANSPORTS)}")
    endpoints = [h.strip() for h in hosts.split(",") if h.strip()]
    if not endpoints or any(":" not in e for e in endpoints):
        raise _bad(url, "etcd needs HOST:PORT endpoints")
    prefix = f"/{path.strip('/')}/" if slash and path.strip("/") else DEFAULT_PREFIX
    return EtcdStore(endpoints, prefix, watch, calls)


def _open_memory(url: str) -> NorthboundStore:
    from steerflow.nbdb.memory import MemoryStore

    return MemoryStore(history=_history(url, _options(url, {"history"}), 100_000))
