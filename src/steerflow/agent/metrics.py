"""The agent's Prometheus endpoint: per-hop counters (`agent.counters`) and the agent's health.

A custom collector renders the last poll at scrape time (nothing is recomputed per scrape); labels
carry NB ids: chassis, chain, hop (a port pair group), instance (a port pair), classifier.
prometheus_client is imported only by an agent that serves /metrics (~8 MB of an idle agent's memory).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from steerflow.agent.counters import Labelled
from steerflow.model import schema

if TYPE_CHECKING:
    from prometheus_client.core import Metric

PREFIX = "steerflow"
# role -> (metric name, help, label names taken from a Labelled)
_ROLES = {
    "classifiers": ("classifier", "taken into a chain by a flow classifier", ("chain", "classifier")),
    "hops": ("hop", "dispatched to a hop (port pair group) on this chassis", ("chain", "hop")),
    "instances": (
        "instance",
        "delivered to a function instance (port pair) hosted here",
        ("chain", "hop", "instance"),
    ),
    "chains": ("chain", "that left a chain after its last hop on this chassis", ("chain",)),
    "drops": ("hop_dropped", "dropped by a hop that failed closed", ("chain", "hop")),
}


@dataclass
class Health:
    """The agent's state as /metrics shows it."""

    nb_revision: int = 0  # the newest NB revision the agent's watch has seen
    applied_revision: int = 0  # the revision of the last successful apply
    last_apply: float = 0.0  # its wall-clock time (0: never)
    flows_installed: int = 0
    reconnects: int = 0  # OpenFlow sessions after the first
    last_heartbeat: float = 0.0  # wall-clock time of the last heartbeat written (0: none yet)
    functions: dict[tuple[str, str], bool] = field(default_factory=dict)  # (hop, instance) -> healthy


@dataclass(eq=False)  # the registry keys collectors by identity; it only calls `collect`
class AgentMetrics:
    chassis: str
    health: Health = field(default_factory=Health)
    counters: list[Labelled] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, counters: list[Labelled]) -> None:
        with self._lock:
            self.counters = counters

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counters, health = list(self.counters), self.health
        yield from self._counter_families(counters)
        yield from self._health_families(health)

    def _counter_families(self, counters: list[Labelled]) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        for role, (name, what, labels) in _ROLES.items():
            names = [schema.CHASSIS, *labels]
            packets = CounterMetricFamily(f"{PREFIX}_{name}_packets", f"Packets {what}.", labels=names)
            nbytes = CounterMetricFamily(f"{PREFIX}_{name}_bytes", f"Bytes {what}.", labels=names)
            for c in counters:
                if c.role == role:
                    values = [self.chassis, *(_label(c, label) for label in labels)]
                    packets.add_metric(values, c.packets)
                    nbytes.add_metric(values, c.bytes)
            yield packets
            yield nbytes

    def _health_families(self, h: Health) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        def gauge(name: str, what: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(f"{PREFIX}_agent_{name}", what, labels=[schema.CHASSIS])
            family.add_metric([self.chassis], value)
            return family

        yield gauge("nb_revision", "Newest NB revision the agent has seen.", h.nb_revision)
        yield gauge("applied_revision", "NB revision of the last successful apply.", h.applied_revision)
        lag = max(0, h.nb_revision - h.applied_revision)
        yield gauge("nb_revision_lag", "NB revisions seen but not yet applied to the switch.", lag)
        yield gauge("last_apply_timestamp_seconds", "Unix time of the last successful apply.", h.last_apply)
        yield gauge("flows_installed", "Flows the agent has installed in its switch.", h.flows_installed)
        reconnects = CounterMetricFamily(
            f"{PREFIX}_agent_openflow_reconnects",
            "OpenFlow sessions after the first.",
            labels=[schema.CHASSIS],
        )
        reconnects.add_metric([self.chassis], h.reconnects)
        yield reconnects
        if h.last_heartbeat:
            what = "Unix time of the agent's last heartbeat (its chassis is down when it gets old)."
            yield gauge("last_heartbeat_timestamp_seconds", what, h.last_heartbeat)
        healthy = GaugeMetricFamily(
            f"{PREFIX}_function_healthy",
            "1 while a function instance checked on this chassis passes its health check, 0 once it failed.",
            labels=[schema.CHASSIS, "hop", "instance"],
        )
        for (hop, instance), ok in sorted(dict(h.functions).items()):
            healthy.add_metric([self.chassis, hop, instance], 1.0 if ok else 0.0)
        yield healthy


def _label(c: Labelled, label: str) -> str:
    if label in ("classifier", "instance"):
        return c.object_id
    return str(getattr(c, label))


def serve(metrics: AgentMetrics, address: str) -> None:
    """Serve /metrics at HOST:PORT (a daemon thread; it ends with the process)."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    registry.register(metrics)
    start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0", registry=registry)
