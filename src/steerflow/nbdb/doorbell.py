"""Doorbells: a commit to the embedded store reaches the watchers of every process at once, with its events.

SQLite tells nobody about a commit, so other processes' watchers would only notice it at their next
poll. Each store instance that watches binds a Unix datagram socket in a directory shared by every
user of one database file (named after its path); a committer sends every socket there (its own too)
one datagram announcing the commit: its revision and, when small enough, its events, so a watcher that
is current takes them from the datagram instead of reading them back from the file.

Ringing is best effort and never blocks: a datagram a full socket refuses is lost, and the watcher
notices (a full queue, a gap in the revisions, or its slow poll) and reads the file. A socket whose
process is gone is removed by the next ringer. The watching thread itself waits on its socket (no
thread in between: one wake-up per delivery, not two).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import select
import socket
import tempfile
import threading
from pathlib import Path

LOG = logging.getLogger(__name__)
_serial = itertools.count(1)
# what a datagram may carry; a bigger commit is announced by its revision alone
MAX_ANNOUNCEMENT = 32_768


def bell_directory(db_path: Path) -> Path:
    """Where the bells of one database live (short: socket paths are limited to 107 bytes)."""
    digest = hashlib.sha1(str(db_path.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "steerflow-bells" / digest


def queue_limit() -> int:
    """How many datagrams a Unix socket holds unread before a sender's are refused."""
    try:
        return int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
    except (OSError, ValueError):
        return 10


class Doorbell:
    def __init__(self, db_path: Path) -> None:
        self.directory = bell_directory(db_path)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._poller: select.poll | None = None
        self._path: Path | None = None
        self._closed = False
        self._queue_limit = queue_limit()
        # one sending socket per listener: the kernel charges a datagram to its sender until it is
        # read, so with one socket for all, watchers behind would exhaust its buffer and others'
        # datagrams be refused with nothing to tell them; per listener, only a full queue refuses,
        # which its watcher notices
        self._senders: dict[str, socket.socket] = {}

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def listen(self) -> bool:
        """Start hearing rings (idempotent); False when no socket could be bound (poll instead)."""
        with self._lock:
            if self._listener is not None or self._closed:
                return self._listener is not None
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                path = self.directory / f"{os.getpid()}-{next(_serial)}"
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                listener.bind(str(path))
            except OSError as exc:
                LOG.warning(
                    "no doorbell in %s (%s): other processes' commits are seen by polling",
                    self.directory,
                    exc,
                )
                return False
            listener.setblocking(False)
            poller = select.poll()
            poller.register(listener, select.POLLIN)
            self._listener, self._poller, self._path = listener, poller, path
            return True

    def wait(self, timeout: float) -> bool:
        """Block until a datagram is there to read or `timeout` passes; whether one is there."""
        poller = self._poller
        if poller is None:
            return False
        try:
            return bool(poller.poll(max(0, int(timeout * 1000))))
        except OSError:
            return False

    def heard(self) -> tuple[list[bytes], bool]:
        """The datagrams received since the last call, oldest first, and whether the socket's queue
        was full (so a ringer's datagram may have been refused)."""
        listener = self._listener
        if listener is None:
            return [], False
        out: list[bytes] = []
        while True:
            try:
                out.append(listener.recv(MAX_ANNOUNCEMENT + 64))
            except (BlockingIOError, InterruptedError):
                return out, len(out) >= self._queue_limit
            except OSError:
                return out, True

    def ring(self, announcement: bytes) -> None:
        """Send `announcement` to every listener of this database, this store's own included."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return  # nobody listens yet
        for entry in entries:
            try:
                self._sender(entry.path).send(announcement)
            except (ConnectionRefusedError, FileNotFoundError):
                self._forget(entry.path)
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()  # its process is gone
            except OSError:
                pass  # full: that watcher notices (a full queue) and reads the file
        if len(self._senders) > len(entries):  # listeners gone without a trace: close their sockets
            with self._lock:
                gone = set(self._senders) - {entry.path for entry in entries}
            for path in gone:
                self._forget(path)

    def _sender(self, path: str) -> socket.socket:
        """The socket this store sends `path`'s announcements on (connected to it)."""
        sender = self._senders.get(path)
        if sender is None:
            sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender.setblocking(False)
            try:
                sender.connect(path)
            except OSError:
                sender.close()
                raise
            with self._lock:
                if self._closed:
                    sender.close()
                    raise ConnectionRefusedError("the store is closed")
                sender = self._senders.setdefault(path, sender)
        return sender

    def _forget(self, path: str) -> None:
        with self._lock:
            sender = self._senders.pop(path, None)
        if sender is not None:
            sender.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            listener, path = self._listener, self._path
            self._listener = self._poller = self._path = None
        if listener is not None:
            listener.close()
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
        with self._lock:
            senders, self._senders = self._senders, {}
        for sender in senders.values():
            sender.close()
