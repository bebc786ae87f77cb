"""Which chassis a write concerns: the document the API commits with each write, and how it is read.

The API names, in the same commit as each write, the chassis whose compiled flows the write can change
(`schema.CONCERNS`, one document rewritten by every write; the store's history keeps each revision's
value). A revision that changed desired state without such a document (a write by `steerflow nb`, an
agent's binding, an older API server) concerns every chassis, and so does a history that is gone. Agents
report only revisions that concern them; waiters (`nbdb.status.wait_applied`) and the compiler's rollout
count a chassis as holding a revision when no revision after its last report concerns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import Event, Put

Concern = frozenset[str] | None  # the chassis a revision concerns; None: every chassis


def concern_put(chassis: Iterable[str] | None) -> Put:
    """The document naming `chassis` (None: every chassis), to commit with the write."""
    value: dict[str, Any] = {"id": schema.CONCERNS_ID}
    if chassis is None:
        value[schema.ALL_CHASSIS] = True
    else:
        value[schema.CHASSIS] = sorted(set(chassis))
    return Put(schema.CONCERNS, schema.CONCERNS_ID, value)


def concern_of(value: Mapping[str, Any] | None) -> Concern:
    """The chassis a concerns document names (None: every chassis, also for one unreadable)."""
    if value is None or value.get(schema.ALL_CHASSIS):
        return None
    names = value.get(schema.CHASSIS)
    return frozenset(str(n) for n in names) if isinstance(names, list) else None


def revision_concerns(events: Iterable[Event], quiet: frozenset[str]) -> dict[int, Concern]:
    """Each revision among `events` that changed desired state (a kind not in `quiet`) and the chassis
    it concerns: its concerns document's, else every chassis."""
    desired: set[int] = set()
    named: dict[int, Concern] = {}
    for event in events:
        if event.kind == schema.CONCERNS:
            named[event.revision] = concern_of(event.value)
        elif event.kind not in quiet:
            desired.add(event.revision)
    return {revision: named.get(revision) for revision in desired}


@dataclass
class ConcernLog:
    """The newest revision concerning each chassis, folded from the revisions seen: whether a chassis
    whose last report is `r` holds everything up to now (`holds_all`)."""

    every: int = 0  # the newest revision that concerned every chassis
    newest: dict[str, int] = field(default_factory=dict)  # chassis -> the newest revision naming it

    def note(self, revision: int, concern: Concern) -> None:
        if concern is None:
            self.every = max(self.every, revision)
            return
        for chassis in concern:
            self.newest[chassis] = max(self.newest.get(chassis, 0), revision)

    def note_all(self, concerns: Mapping[int, Concern]) -> None:
        for revision, concern in concerns.items():
            self.note(revision, concern)

    def last_for(self, chassis: str) -> int:
        """The newest revision noted that concerns `chassis`."""
        return max(self.every, self.newest.get(chassis, 0))

    def holds_all(self, chassis: str, reported: int) -> bool:
        """Whether a chassis that reported `reported` holds every revision noted that concerns it."""
        return reported >= self.last_for(chassis)


def concerns(concern: Concern, chassis: str) -> bool:
    """Whether a revision of `concern` concerns `chassis`."""
    return concern is None or chassis in concern
