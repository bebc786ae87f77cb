"""`steerflow-neutron resync`: make the NB's mirrored objects equal to Neutron's, after an outage of either.

Neutron is the source of truth. Every mirrored kind is compared object by object: what Neutron has and
the NB lacks is created (missing), what differs is updated or replaced (stale), what the NB has and
Neutron lacks is deleted (extra). Writes go through `Mirror` (steerflow's API handlers), one object at a
time; an action refused because of another one's order (a group still used by a chain that is about to
change) is retried after the others, until nothing moves. A second run finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from steerflow.api.errors import NeutronError
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict
from steerflow_neutron.mirror import MIRRORED_KINDS, Mirror

# Where Neutron's REST API lists each mirrored kind (GET /v2.0<path>, answer {"<collection>": [...]})
NEUTRON_COLLECTIONS: Final = {
    schema.NETWORK: "/networks",
    schema.SUBNET: "/subnets",
    schema.PORT: "/ports",
    schema.PORT_PAIR: "/sfc/port_pairs",
    schema.PORT_PAIR_GROUP: "/sfc/port_pair_groups",
    schema.FLOW_CLASSIFIER: "/sfc/flow_classifiers",
    schema.PORT_CHAIN: "/sfc/port_chains",
    schema.SERVICE_GRAPH: "/sfc/service_graphs",
}
MAX_PASSES: Final = len(MIRRORED_KINDS) + 1  # enough for any chain of dependencies between kinds

NeutronView = dict[str, dict[str, JsonDict]]  # kind -> id -> Neutron's object


@dataclass(frozen=True)
class Action:
    """One change resync makes: `verb` is create, update, replace or delete."""

    verb: str
    kind: str
    id: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.verb} {self.kind} {self.id}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True)
class Report:
    """What a resync did (or, dry, would do) and what failed, with why."""

    done: list[Action]
    failed: list[tuple[Action, str]]

    def lines(self) -> list[str]:
        out = [str(a) for a in self.done] + [f"FAILED {a}: {why}" for a, why in self.failed]
        counts = {verb: sum(1 for a in self.done if a.verb == verb) for verb in _VERBS}
        summary = ", ".join(f"{n} {verb}d" for verb, n in counts.items() if n) or "in sync"
        out.append(summary + (f"; {len(self.failed)} failed" if self.failed else ""))
        return out


_VERBS: Final = ("create", "update", "replace", "delete")


def read_neutron(base_url: str, token: str | None = None, timeout: float = 30.0) -> NeutronView:
    """Every object of the mirrored kinds, as Neutron's API lists them to an admin (following the
    `next` links when `pagination_max_limit` pages the answers)."""
    headers = {"X-Auth-Token": token} if token else {}
    view: NeutronView = {}
    with httpx.Client(base_url=base_url.rstrip("/") + "/v2.0", headers=headers, timeout=timeout) as http:
        for kind, path in NEUTRON_COLLECTIONS.items():
            view[kind] = {str(o["id"]): o for o in _listed(http, path)}
    return view


def _listed(http: httpx.Client, path: str) -> list[JsonDict]:
    collection = path.rsplit("/", 1)[1]
    objects: list[JsonDict] = []
    url: str | None = path
    while url is not None:
        resp = http.get(url)
        resp.raise_for_status()
        body = resp.json()
        objects += body[collection]
        links = body.get(f"{collection}_links") or []
        url = next((link["href"] for link in links if link.get("rel") == "next"), None)
    return objects


def plan(mirror: Mirror, neutron: NeutronView) -> list[Action]:
    """The actions that bring the NB to `neutron`: deletes (last kinds first), then creates and updates."""
    deletes: list[Action] = []
    writes: list[Action] = []
    for kind in MIRRORED_KINDS:
        wanted = neutron.get(kind, {})
        stored = {rec.id: rec.value for rec in mirror.store.list(kind)}
        deletes += [Action("delete", kind, i, "not in Neutron") for i in sorted(set(stored) - set(wanted))]
        for id, obj in sorted(wanted.items()):
            if id not in stored:
                writes.append(Action("create", kind, id))
                continue
            diff = mirror.difference(kind, obj, stored[id])
            if diff.fixed:
                deletes.append(Action("delete", kind, id, "to replace: " + ", ".join(diff.fixed)))
                writes.append(Action("replace", kind, id, ", ".join(diff.fixed)))
            elif diff.changes:
                writes.append(Action("update", kind, id, ", ".join(sorted(diff.changes))))
    order = {kind: i for i, kind in enumerate(MIRRORED_KINDS)}
    deletes.sort(key=lambda a: -order[a.kind])
    return deletes + writes


def apply(mirror: Mirror, neutron: NeutronView, actions: Iterable[Action]) -> Report:
    """Run `actions`; those refused are retried after the rest, while a pass still gets something done.

    When nothing moves any more and stale objects wait for an update, those are replaced instead: a
    dependency cycle (a chain holding a group Neutron deleted, whose pair the new group needs) is broken
    by deleting the stale users first, then creating them as Neutron has them.
    """
    pending = list(actions)
    done: list[Action] = []
    errors: dict[Action, str] = {}
    escalated = False
    for _ in range(2 * MAX_PASSES):
        failed = _one_pass(mirror, neutron, pending, done, errors)
        stuck = len(failed) == len(pending)
        pending = failed
        if not stuck:
            continue
        if escalated or not any(a.verb == "update" for a in pending):
            break
        escalated = True
        pending = _replacing_updates(pending)
    return Report(done, [(a, errors[a]) for a in pending])


def _one_pass(
    mirror: Mirror, neutron: NeutronView, pending: list[Action], done: list[Action], errors: dict[Action, str]
) -> list[Action]:
    failed = []
    for action in pending:
        try:
            _run(mirror, neutron, action)
        except NeutronError as exc:
            errors[action] = f"{exc.type}: {exc.message}"
            failed.append(action)
        else:
            done.append(action)
    return failed


def _replacing_updates(pending: list[Action]) -> list[Action]:
    """`pending` with every update turned into a delete (users first) and a create."""
    order = {kind: i for i, kind in enumerate(MIRRORED_KINDS)}
    updates = sorted((a for a in pending if a.verb == "update"), key=lambda a: -order[a.kind])
    deletes = [Action("delete", a.kind, a.id, "to replace: breaks a dependency") for a in updates]
    rest = [Action("replace", a.kind, a.id, a.detail) if a.verb == "update" else a for a in pending]
    return deletes + rest


def _run(mirror: Mirror, neutron: NeutronView, action: Action) -> None:
    if action.verb == "delete":
        mirror.remove(action.kind, action.id)
    else:  # create, update, replace (whose delete ran before): make it Neutron's
        mirror.put(action.kind, neutron[action.kind][action.id])


def resync(
    mirror: Mirror,
    read: Callable[[], NeutronView],
    dry_run: bool = False,
) -> Report:
    """Compare the NB with `read()` and, unless `dry_run`, apply the difference."""
    neutron = read()
    actions = plan(mirror, neutron)
    if dry_run:
        return Report(actions, [])
    return apply(mirror, neutron, actions)


def counts(view: Mapping[str, Mapping[str, Any]]) -> str:
    """`3 networks, 5 ports...`: what was read, for the command's first line."""
    return ", ".join(f"{len(view.get(k, {}))} {k}" for k in MIRRORED_KINDS)
