"""Doorbells: a commit to the embedded store wakes the watchers of other processes at once.

SQLite tells nobody about a commit, so other processes' watchers would only notice it at their next
poll. Each store instance that watches binds a Unix datagram socket in a directory shared by every
user of one database file (named after its path); a committer sends one byte to every socket there.
Ringing is best effort and never blocks: a full socket already has a wake-up pending, a socket whose
process is gone is removed by the next ringer, and watchers still poll (slowly) in case one is lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

LOG = logging.getLogger(__name__)
_serial = itertools.count(1)


def bell_directory(db_path: Path) -> Path:
    """Where the bells of one database live (short: socket paths are limited to 107 bytes)."""
    digest = hashlib.sha1(str(db_path.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "steerflow-bells" / digest


class Doorbell:
    def __init__(self, db_path: Path, on_ring: Callable[[], None]) -> None:
        self.directory = bell_directory(db_path)
        self._on_ring = on_ring
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._path: Path | None = None
        self._stopping = threading.Event()
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)

    def listen(self) -> None:
        """Start hearing rings (idempotent); `on_ring` is called from a daemon thread."""
        with self._lock:
            if self._listener is not None or self._stopping.is_set():
                return
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
                return
            listener.settimeout(0.5)  # so that close() is noticed
            self._listener, self._path = listener, path
        threading.Thread(target=self._hear, args=(listener,), name="nb-doorbell", daemon=True).start()

    def _hear(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                listener.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return
            self._on_ring()

    def ring(self) -> None:
        """Wake every other listener of this database."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return  # nobody listens yet
        for entry in entries:
            if self._path is not None and entry.path == str(self._path):
                continue
            try:
                self._sender.sendto(b"!", entry.path)
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()  # its process is gone
            except OSError:
                pass  # full: a wake-up is already pending there

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            listener, path = self._listener, self._path
            self._listener = self._path = None
        if listener is not None:
            listener.close()
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
        self._sender.close()
