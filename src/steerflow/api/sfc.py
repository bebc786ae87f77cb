"""The networking-sfc service layer: the five `/sfc` resource handlers over one NB store."""

from __future__ import annotations

from collections.abc import Mapping

from steerflow.api.base import StoredResource
from steerflow.api.resource import ResourceHandler
from steerflow.api.sfc_chains import FlowClassifiers, PortChains
from steerflow.api.sfc_classifications import (
    CLASSIFIER_EXTENSION_ALIAS,
    ClassificationGroups,
    Classifications,
)
from steerflow.api.sfc_graphs import ServiceGraphs
from steerflow.api.sfc_pairs import PortPairGroups, PortPairs
from steerflow.nbdb.api import NorthboundStore

SFC_HANDLER_CLASSES: tuple[type[StoredResource], ...] = (
    PortPairs,
    PortPairGroups,
    PortChains,
    FlowClassifiers,
    ServiceGraphs,
    Classifications,
    ClassificationGroups,
)

# Aliases the API advertises in GET /v2.0/extensions for these resources.
# not the NB schema: networking-sfc's extension aliases
SFC_EXTENSION_ALIASES = (
    "sfc",
    "flow_classifier",
    "service_graph",
    "networking-sfc-tap",
    CLASSIFIER_EXTENSION_ALIAS,
)


def sfc_handlers(store: NorthboundStore, quotas: Mapping[str, int] | None = None) -> list[ResourceHandler]:
    """One handler per SFC resource; `quotas` overrides per-project limits by resource (negative = none)."""
    quotas = quotas or {}
    return [cls(store, quotas.get(cls.resource)) for cls in SFC_HANDLER_CLASSES]


__all__ = [
    "SFC_EXTENSION_ALIASES",
    "ClassificationGroups",
    "Classifications",
    "FlowClassifiers",
    "PortChains",
    "PortPairGroups",
    "PortPairs",
    "ServiceGraphs",
    "sfc_handlers",
]
