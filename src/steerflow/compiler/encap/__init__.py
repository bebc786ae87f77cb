"""Encapsulation drivers: how a chain's service header is added, recognised and removed.

A driver is found by its correlation name in the `steerflow.encap` entry-point group, so a third party
ships a new encapsulation as a package of its own, without touching steerflow:

    [project.entry-points."steerflow.encap"]
    mpls = "steerflow.compiler.encap.mpls:MplsDriver"

The chain compiler only ever talks to the `EncapDriver` protocol below.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from steerflow.flows.types import Action, Match

if TYPE_CHECKING:
    from steerflow.compiler.chain_view import Chain, Hop, Instance

ENTRY_POINT_GROUP = "steerflow.encap"
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
INNER_ETHERTYPES = (ETH_IPV4, ETH_IPV6)


class EncapDriver(Protocol):
    name: str

    def push(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        """Actions that put the header on a plain packet of `ethertype` heading to `instance` of `hop`,
        a function on this chassis that understands it.

        The origin register (`registers.ORIGIN`, the source port key) holds what metadata the header
        may carry end to end."""
        ...

    def carry(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        """Like `push`, for a packet tunnelled to the forwarder of `instance`'s chassis first (which
        recognises it with `arrived` when it must push something else, or proxy): its metadata must
        be readable there."""
        ...

    def with_origin(self, chain: Chain, origin: int | None) -> tuple[Match, tuple[Action, ...]] | None:
        """For a header whose metadata cannot be copied from registers: the SFC_METADATA match and
        actions pushing it for `chain`'s packets from port key `origin` (None: a fallback for any
        origin); `push` resubmits there. None: the driver needs no such flows."""
        ...

    def remembers(self, chain: Chain, instance: Instance) -> bool:
        """Whether the forwarder must remember the packet's metadata (the origin register) per
        connection at delivery to `instance`, because the packet it gets back does not carry it in a
        form the forwarder can read."""
        ...

    def arrived(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        """A `carry`-ied header of `hop` arriving through a tunnel: the match recognising it, and the
        actions stripping it (restoring the metadata registers)."""
        ...

    def returned(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        """For a packet an aware function of `hop` hands back: the match fields recognising the
        header, and the actions that strip it (leaving the plain packet)."""
        ...

    def strip(self) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        """Proxy for unaware functions: match any packet with this header, and the actions removing it."""
        ...


class UnknownEncapsulation(LookupError):
    pass


@functools.cache
def driver(name: str) -> EncapDriver:
    """The installed driver for a correlation name (`mpls`, `nsh`, or a third party's)."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    for ep in found:
        loaded: EncapDriver = ep.load()()
        return loaded
    raise UnknownEncapsulation(f"no encapsulation driver {name!r} in entry points {ENTRY_POINT_GROUP!r}")
