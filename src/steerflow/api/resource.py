"""The handler interface one REST collection is served by, and the registry of all of them."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Protocol

from steerflow.api.context import Context
from steerflow.nbdb.api import JsonDict


class ResourceHandler(Protocol):
    """CRUD for one resource kind. Bodies are the inner dicts (no `{"port_pair": ...}` wrapper).

    Handlers convert and validate attributes, check references and conflicts, allocate ids and write
    the store atomically; on any error they raise a `NeutronError` and write nothing.

    Optional attributes the REST layer reads: `sort_keys` (attributes lists may be sorted on; none
    by default), `native_pagination` (pages ordered by id and started after the marker object, which
    must exist; by default pages are slices of the list, `api/paging.py`), `ignores_unknown_marker`,
    `read_only` (routed for GET alone) and `extension_alias` (an extension's collection even without
    a path prefix: not listed among the core resources).
    """

    resource: str  # singular, e.g. "port_pair"; also the NB kind
    collection: str  # plural, e.g. "port_pairs"
    path_prefix: str  # "/sfc" for networking-sfc resources, "" for Neutron core

    def create(self, ctx: Context, body: JsonDict) -> JsonDict: ...

    def update(self, ctx: Context, id: str, body: JsonDict) -> JsonDict: ...

    def delete(self, ctx: Context, id: str) -> None: ...

    def get(self, ctx: Context, id: str) -> JsonDict: ...

    def list(self, ctx: Context, filters: Mapping[str, builtins.list[str]]) -> builtins.list[JsonDict]:
        """Every object the caller may see that matches the equality `filters`.

        A filter on an attribute the resource does not have is ignored (Neutron behaviour).
        """
        ...
