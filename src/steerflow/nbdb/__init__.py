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
from steerflow.nbdb.url import DEFAULT_NB_URL, default_nb_url, open_store

__all__ = [
    "DEFAULT_NB_URL",
    "Delete",
    "Event",
    "NorthboundStore",
    "Operation",
    "Put",
    "Record",
    "RevisionConflict",
    "StoreError",
    "WatchBatch",
    "default_nb_url",
    "open_store",
]
