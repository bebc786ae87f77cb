"""Function health: an agent's reports on the function instances of its chassis (`function_health`).

A report is one document per port pair, written by the agent of the chassis where the pair's ingress
is bound, and only when the instance's health changes: probes that keep succeeding (or failing) write
nothing, so reports cannot chase each other and an unchanged instance never makes an agent compile.
The kind is desired state for the compilers (a change recompiles the chains that use the group, and
only those: `compiler.chain_view` reads a group's reports only when the group is checked), not status.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.api import NorthboundStore, Put

HEALTHY_ATTR = "healthy"  # in a report: the instance's state after its last probe
NO_CHECK = "none"
DEFAULT_INTERVAL_MS = 200  # with DEFAULT_FAILURES: an instance is out after 0.6 s of silence
DEFAULT_FAILURES = 3


@dataclass(frozen=True)
class CheckSettings:
    """A group's `health_check`: how its instances are probed."""

    type: str
    interval_ms: int
    failures: int
    tcp_port: int | None = None


def check_settings(group: Mapping[str, Any]) -> CheckSettings | None:
    """The group document's health check, None if its instances are not checked."""
    check = (group.get("port_pair_group_parameters") or {}).get("health_check") or {}
    kind = str(check.get("type") or NO_CHECK)
    if kind == NO_CHECK:
        return None
    port = check.get("tcp_port")
    return CheckSettings(
        kind,
        int(check.get("interval_ms", 200)),
        int(check.get("failures", 3)),
        None if port is None else int(port),
    )


def is_healthy(report: Mapping[str, Any] | None) -> bool:
    """An instance's health from its report; none yet (not probed): healthy, so a check never takes an
    instance out of service before it has failed."""
    return report is None or bool(report.get(HEALTHY_ATTR, True))


@dataclass
class HealthCounter:
    """One instance's probe results: `failures` failed probes in a row make it unhealthy, one success
    makes it healthy again (a function that answers is serving)."""

    failures: int
    healthy: bool = True
    failed_in_a_row: int = 0

    def record(self, ok: bool) -> bool:
        """Count one probe; True when the instance's health changed with it."""
        self.failed_in_a_row = 0 if ok else self.failed_in_a_row + 1
        now = ok or (self.healthy and self.failed_in_a_row < self.failures)
        changed = now != self.healthy
        self.healthy = now
        return changed


def report_health(store: NorthboundStore, pair_id: str, chassis: str, healthy: bool) -> bool:
    """Write the instance's health if it differs from its report in the store; True if written."""
    current = store.get(schema.FUNCTION_HEALTH, pair_id)
    if (
        current is not None
        and is_healthy(current.value) == healthy
        and current.value.get(schema.CHASSIS) == chassis
    ):
        return False
    doc = {"id": pair_id, schema.CHASSIS: chassis, HEALTHY_ATTR: healthy, "reported_at": time.time()}
    store.commit([Put(schema.FUNCTION_HEALTH, pair_id, doc)])
    return True
