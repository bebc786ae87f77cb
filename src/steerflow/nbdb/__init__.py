"""Northbound store: the desired state, revisioned and watchable. `open_store(url)` picks the driver."""

from steerflow.nbdb.api import (
    Delete,
    Event,
    NorthboundStore,
    Operation,
    Put,
    Record,
    RevisionConflict,
    StoreError,
    WatchBatch,
)

__all__ = [
    "Delete",
    "Event",
    "NorthboundStore",
    "Operation",
    "Put",
    "Record",
    "RevisionConflict",
    "StoreError",
    "WatchBatch",
]
