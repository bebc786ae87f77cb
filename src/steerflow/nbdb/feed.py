"""The embedded store's feed: the latest commits as its doorbell announced them, for its watchers to take.

A commit's announcement carries its revision and events (`announcement`). A store instance logs the
announcements that continue what it already has, so a watcher that is current takes the next commits
from memory: one wake-up and one small JSON decode per delivery, no read of the file. The file is read
instead whenever the log cannot be trusted to be whole: a watcher outside the logged span, a gap in
the announced revisions, an announcement without events, a queue that was full (a datagram may have
been refused), or a bell silent for a poll interval. Every read of the file also extends the log.
"""

from __future__ import annotations

import builtins
import json
import threading
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from steerflow.nbdb.api import Event, WatchBatch
from steerflow.nbdb.doorbell import MAX_ANNOUNCEMENT, Doorbell

# events the log keeps; a watcher further behind reads the file. A current watcher needs only the tail,
# and every process holds its log decoded: 10,000 chain events were ~28 MB in each agent, 1,000 are ~3
FEED_LOG = 1_000


def announcement(revision: int, rows: Sequence[tuple[str, str, str | None]]) -> bytes:
    """The datagram announcing commit `revision` of rows (kind, id, JSON value or None): JSON
    `[revision, [[kind, id, value], ...]]`, the values spliced in as they were stored, or `[revision]`
    alone when that would not fit a datagram."""
    items = ",".join(f"[{json.dumps(kind)},{json.dumps(id)},{value or 'null'}]" for kind, id, value in rows)
    whole = f"[{revision},[{items}]]".encode()
    return whole if len(whole) <= MAX_ANNOUNCEMENT else f"[{revision}]".encode()


class Look(NamedTuple):
    """What the log says to a watcher: whether it covers the watcher's revision, the batch it has for
    it (None: nothing newer), and the log's generation (to wait for the next change)."""

    covered: bool
    batch: WatchBatch | None
    generation: int


class Feed:
    """The log of one store instance, fed by its doorbell and by its reads of the file.

    The thread that finds the bell free waits on its socket; other watching threads of the same
    instance wait for the log to change (or the bell to be free again)."""

    def __init__(self, doorbell: Doorbell) -> None:
        self._doorbell = doorbell
        self._changed = threading.Condition()
        self._bell = threading.Lock()  # held by the thread waiting on the socket
        self._log: deque[tuple[int, builtins.list[Event]]] = deque()
        self._logged = 0
        self._start: int | None = None  # the log holds every event in (start, revision]; None: empty
        self._revision = 0
        self._generation = 0
        self._followers = 0  # threads waiting on `_changed` for the log to move
        self.asked = 0  # reads of the file asked for (a gap, a full queue, a silent bell, no bell)
        self._answered = 0  # the newest of those a finished read began after

    def take(self, since: int) -> Look:
        """The events after `since`, from what the bell brought; not `covered` when the file must be
        read (the log does not reach back to `since`, or has nothing newer and may have missed a
        commit)."""
        with self._changed:
            self._hear()
            spans = self._start is not None and self._start <= since <= self._revision
            if spans and self._revision > since:
                # what the log has is whole up to its revision even when a read is asked for: the read
                # then starts from there (a watcher behind decodes each event once, not twice)
                newer: builtins.list[builtins.list[Event]] = []
                for revision, events in reversed(self._log):
                    if revision <= since:
                        break
                    newer.append(events)
                events = [event for group in reversed(newer) for event in group]
                return Look(True, WatchBatch(self._revision, events=events), self._generation)
            return Look(spans and self._answered >= self.asked, None, self._generation)

    def learn(self, since: int, revision: int, batch: WatchBatch | None, asked: int) -> None:
        """The file read at `revision` for a watcher at `since` (begun when `asked` reads were asked)."""
        with self._changed:
            self._answered = max(self._answered, asked)
            if batch is not None and batch.resync:
                self._reset(revision)
            elif self._start is None or since > self._revision:
                self._reset(min(since, revision))
            if batch is not None and not batch.resync and revision > self._revision:
                self._extend(revision, batch.events)
            self._moved()

    def check(self) -> None:
        """Ask for a read of the file (a commit no bell announced)."""
        with self._changed:
            self.asked += 1
            self._moved()

    def wait(self, generation: int, timeout: float) -> None:
        """Wait up to `timeout` for news after `generation`: on the bell's socket, or for the thread
        that holds it. A silent bell asks for a read of the file (a ring may have been lost)."""
        if self._doorbell.listening and self._bell.acquire(blocking=False):
            try:
                rang = self._doorbell.wait(timeout)
            finally:
                self._bell.release()
            with self._changed:
                if not rang:
                    self.asked += 1
                self._moved()  # another thread may take the bell over
            return
        with self._changed:
            if self._generation == generation:
                self._followers += 1
                try:
                    self._changed.wait(timeout)
                finally:
                    self._followers -= 1
            if not self._doorbell.listening and self._generation == generation:
                self.asked += 1  # no bell: poll the file

    def _hear(self) -> None:
        datagrams, full = self._doorbell.heard()
        if full:
            self.asked += 1
        grew = False
        for datagram in datagrams:
            grew = self._announced(datagram) or grew
        if grew or full:
            self._moved()

    def _announced(self, datagram: bytes) -> bool:
        """Log one announcement if it continues the log; ask for a read when it does not."""
        try:
            message = json.loads(datagram.decode())
            revision = int(message[0])
            rows = message[1] if len(message) > 1 else None
        except (ValueError, TypeError, IndexError, KeyError):  # UnicodeDecodeError is a ValueError
            self.asked += 1  # not ours (an older release rings with one byte): read the file
            return False
        if self._start is None or revision <= self._revision:
            return False
        if revision > self._revision + 1 or rows is None:
            self.asked += 1
            return False
        try:
            events = [Event(revision, str(kind), str(id), value) for kind, id, value in rows]
        except (ValueError, TypeError):
            self.asked += 1
            return False
        self._extend(revision, events)
        return True

    def _extend(self, revision: int, events: Sequence[Event]) -> None:
        """Append the events up to `revision` that the log does not have yet."""
        groups: dict[int, builtins.list[Event]] = {}
        for event in events:
            if event.revision > self._revision:
                groups.setdefault(event.revision, []).append(event)
        for rev, group in groups.items():
            self._log.append((rev, group))
            self._logged += len(group)
        self._revision = revision
        while self._logged > FEED_LOG and len(self._log) > 1:
            self._start, dropped = self._log.popleft()
            self._logged -= len(dropped)

    def _reset(self, revision: int) -> None:
        self._log.clear()
        self._logged = 0
        self._start = self._revision = revision

    def _moved(self) -> None:
        self._generation += 1
        if self._followers:
            self._changed.notify_all()
