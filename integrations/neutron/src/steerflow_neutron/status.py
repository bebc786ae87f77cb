"""The agents' port status reported back to Neutron: a port turns ACTIVE in Neutron (and Nova gets its
`network-vif-plugged`) when a steerflow agent has bound it, DOWN when the agent released it.

The agent marks the NB port's `status` when it binds or releases it (docs/binding.md); one thread per
neutron-server process watches the NB's ports and hands each status to `report(port_id, status)`
(the ML2 plugin's `update_port_status`, which does nothing when the status is already Neutron's). At
start, and after the NB's history was compacted, every port is reported once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Final

from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, NorthboundStore, StoreError

LOG = logging.getLogger(__name__)
REPORTED: Final = frozenset({"ACTIVE", "DOWN"})
WATCH_TIMEOUT: Final = 5.0
RETRY_AFTER: Final = 2.0

Report = Callable[[str, str], None]


class NotReady(Exception):
    """Neutron cannot take reports yet (its plugins are still loading): try the same ones again later."""


def statuses(ports: Iterable[tuple[str, JsonDict | None]]) -> dict[str, str]:
    """The status each NB port asks Neutron for, from its documents in commit order (None: deleted);
    the last one counts, and a deleted or status-less port asks nothing."""
    wanted: dict[str, str] = {}
    for id, doc in ports:
        if doc is not None and doc.get("status") in REPORTED:
            wanted[id] = str(doc["status"])
        else:
            wanted.pop(id, None)
    return wanted


class StatusReporter:
    """Watches `store`'s ports in a daemon thread and reports their status until `stop()`."""

    def __init__(self, store: NorthboundStore, report: Report) -> None:
        self.store = store
        self.report = report
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steerflow-port-status", daemon=True)

    def start(self) -> StatusReporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        revision = None
        while not self._stopped.is_set():
            try:
                revision = self._step(revision)
            except StoreError as exc:
                LOG.warning("steerflow: cannot watch the NB's port status (%s); retrying", exc)
                time.sleep(RETRY_AFTER)
            except NotReady:
                time.sleep(RETRY_AFTER / 10)
            except Exception:  # a report Neutron refused must not end the thread
                LOG.exception("steerflow: reporting port status to Neutron failed")
                time.sleep(RETRY_AFTER)

    def _step(self, revision: int | None) -> int:
        """Report what changed since `revision` (everything when None); the revision to go on from."""
        if revision is None:
            now = self.store.revision()
            self._send(statuses((rec.id, rec.value) for rec in self.store.list(schema.PORT)))
            return now
        batch = self.store.watch(revision, timeout=WATCH_TIMEOUT)
        ports: list[tuple[str, JsonDict | None]]
        if batch.resync:
            ports = [(rec.id, rec.value) for rec in batch.snapshot if rec.kind == schema.PORT]
        else:
            ports = [(ev.id, ev.value) for ev in batch.events if ev.kind == schema.PORT]
        self._send(statuses(ports))
        return batch.revision

    def _send(self, wanted: dict[str, str]) -> None:
        for port_id, status in sorted(wanted.items()):
            self.report(port_id, status)
