"""What the drivers inside neutron-server share: the `[steerflow]` options, the NB store and the mirror.

Writes that the NB cannot take because it is unreachable are logged and left to `steerflow-neutron
resync` (Neutron stays available while the NB is away). A create steerflow refuses is the caller's to
turn into its driver error, so Neutron undoes what it just created; a refused update or delete is
logged (Neutron has committed it: raising would only answer 500 for a change that stays), and the next
resync reports it.
"""

from __future__ import annotations

import abc
import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from oslo_config import cfg
from oslo_log import log

from steerflow.api.errors import NeutronError
from steerflow.model import schema
from steerflow.nbdb import default_nb_url, open_store
from steerflow.nbdb.api import StoreError
from steerflow_neutron.mirror import Mirror, refuses

LOG = log.getLogger(__name__)
GROUP: Final = "steerflow"
OPTIONS: Final = [
    cfg.StrOpt(
        "nb_url",
        default=None,
        help="steerflow's NB store (file:///..., redis://..., etcd://...); default: $STEERFLOW_NB, else "
        + default_nb_url(),
    ),
]
RESYNC_HINT: Final = "the NB is unreachable (%s): %s %s %s is not mirrored; run `steerflow-neutron resync`"

_lock = threading.Lock()
_mirrors: dict[int, Mirror] = {}
# what each new process (neutron-server forks its workers) starts with its mirror: the status reporter
_process_hooks: list[Callable[[Mirror], None]] = []


def register_options() -> None:
    # the ML2 and SFC drivers both register them (oslo accepts equal options registered twice)
    with contextlib.suppress(cfg.DuplicateOptError):
        cfg.CONF.register_opts(OPTIONS, group=GROUP)


def mirror() -> Mirror:
    """This process's mirror (neutron-server forks workers: each opens its own store connection)."""
    pid = os.getpid()
    with _lock:
        if pid not in _mirrors:
            _mirrors[pid] = Mirror(open_store(cfg.CONF.steerflow.nb_url))
            for hook in _process_hooks:
                hook(_mirrors[pid])
        return _mirrors[pid]


def in_every_process(hook: Callable[[Mirror], None]) -> None:
    """Run `hook` with each process's mirror once it exists (now, for this process)."""
    with _lock:
        _process_hooks.append(hook)
        started = list(_mirrors.items())
    for pid, existing in started:
        if pid == os.getpid():
            hook(existing)


def check(kind: str, obj: Mapping[str, Any]) -> str | None:
    """Why steerflow would refuse to mirror `obj` (bad input it cannot steer), or None.

    Only steerflow's own 400s count: a reference the NB lacks or an unreachable NB is a divergence the
    resync mends, never a reason to refuse a user's request.
    """
    try:
        mirror().check(kind, obj)
    except NeutronError as exc:
        return exc.message if refuses(exc) else None
    except StoreError as exc:
        LOG.warning("steerflow: cannot check %s %s against the NB (%s)", kind, obj.get("id"), exc)
    return None


def write(kind: str, obj: Mapping[str, Any]) -> str | None:
    """Mirror `obj` into the NB; the reason if steerflow refused it (the caller raises), else None."""
    try:
        change = mirror().put(kind, obj)
    except NeutronError as exc:
        LOG.error("steerflow refused %s %s: %s", kind, obj.get("id"), exc.message)
        return exc.message
    except StoreError as exc:
        LOG.warning(RESYNC_HINT, exc, "write of", kind, obj.get("id"))
        return None
    if change:
        LOG.debug("steerflow: %s %s %s", change, kind, obj.get("id"))
    return None


def remove(kind: str, id: str) -> None:
    """Delete the NB object; failures are logged (Neutron has deleted it already: resync mends)."""
    try:
        mirror().remove(kind, id)
    except NeutronError as exc:
        LOG.error("steerflow refused to delete %s %s: %s", kind, id, exc.message)
    except StoreError as exc:
        LOG.warning(RESYNC_HINT, exc, "delete of", kind, id)


def runs_agent(host: str) -> bool:
    """Whether `host` runs a steerflow agent: its agent registered a chassis of that name in the NB."""
    if not host:
        return False
    try:
        return mirror().store.get(schema.CHASSIS, host) is not None
    except StoreError as exc:
        LOG.warning("steerflow: cannot read the chassis of %s from the NB (%s): not binding", host, exc)
        return False


# --- the drivers' hooks, as methods: (driver, context) -> None ----------------------------------------

Hook = Callable[[Any, Any], None]
Refusal = Callable[[str], Exception]  # a message -> the driver's own exception


def _refusal_text(kind: str, reason: str) -> str:
    return f"steerflow cannot carry this {kind.replace('_', ' ')}: {reason}"


def checked(kind: str, refusal: Refusal) -> Hook:
    """A precommit: raises `refusal` when steerflow would refuse the object (`check`)."""

    def precommit(driver: Any, context: Any) -> None:
        reason = check(kind, context.current)
        if reason is not None:
            raise refusal(_refusal_text(kind, reason))

    return precommit


def created(kind: str, failure: Refusal) -> Hook:
    """A create's postcommit: refused by steerflow, it raises `failure` and Neutron deletes the object."""

    def postcommit(driver: Any, context: Any) -> None:
        reason = write(kind, context.current)
        if reason is not None:
            raise failure(_refusal_text(kind, reason))

    return postcommit


def updated(kind: str) -> Hook:
    """An update's postcommit: committed in Neutron whatever happens here (a refusal is logged)."""

    def postcommit(driver: Any, context: Any) -> None:
        write(kind, context.current)

    return postcommit


def removed(kind: str) -> Hook:
    """A delete's postcommit."""

    def postcommit(driver: Any, context: Any) -> None:
        remove(kind, context.current["id"])

    return postcommit


T = TypeVar("T", bound=type)


def mirroring(kinds: tuple[str, ...], refusal: Refusal, failure: Refusal) -> Callable[[T], T]:
    """A class decorator giving a Neutron driver its hooks for `kinds` (an NB kind is Neutron's resource
    name too): `create_<kind>_precommit` / `update_..._precommit` (`checked`), and the create, update
    and delete postcommits (`created`, `updated`, `removed`)."""

    def install(cls: T) -> T:
        for kind in kinds:
            hooks = {
                f"create_{kind}_precommit": checked(kind, refusal),
                f"update_{kind}_precommit": checked(kind, refusal),
                f"create_{kind}_postcommit": created(kind, failure),
                f"update_{kind}_postcommit": updated(kind),
                f"delete_{kind}_postcommit": removed(kind),
            }
            for name, hook in hooks.items():
                setattr(cls, name, hook)
        abc.update_abstractmethods(cls)  # the bases declare some of these abstract
        return cls

    return install
