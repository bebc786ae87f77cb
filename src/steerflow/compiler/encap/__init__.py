"""Encapsulation drivers: how a chain's service header is added, recognised and removed.

A driver is found by its correlation name in the `steerflow.encap` entry-point group
(`steerflow.model.correlations`), so a third party ships a new encapsulation as a package of its own,
without touching steerflow:

    [project.entry-points."steerflow.encap"]
    mpls = "steerflow.compiler.encap.mpls:MplsDriver"

The API accepts exactly the installed names as correlations; the chain compiler only ever talks to the
`EncapDriver` protocol below. docs/encap.md is the driver writer's guide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, cast

from steerflow.flows.types import Action, Match
from steerflow.model.correlations import (
    ENTRY_POINT_GROUP,
    MAX_LABEL,
    UnknownCorrelation,
    installed_correlations,
    load_driver,
)

if TYPE_CHECKING:
    from steerflow.compiler.chain_view import Chain, Hop, Instance

__all__ = [
    "ENTRY_POINT_GROUP",
    "ETH_IPV4",
    "ETH_IPV6",
    "INNER_ETHERTYPES",
    "MAX_LABEL",
    "EncapDriver",
    "UnknownEncapsulation",
    "driver",
    "header_fields",
    "unusable",
]

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
INNER_ETHERTYPES = (ETH_IPV4, ETH_IPV6)


class EncapDriver(Protocol):
    """What a driver provides. Every method is pure: the same arguments give equal values (the compiler
    diffs flows by value), and it must not raise for a chain the API accepted."""

    name: str  # its correlation: the entry point's name
    max_label: int  # the largest hop label (`Hop.label`) its header carries; MAX_LABEL: any
    # the match fields (steerflow.flows names) its `arrived`, `returned` and `strip` matches use: the
    # pipeline declares them for the tables that read a header (`pipeline.tables.HEADER`)
    header_fields: frozenset[str]

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


UnknownEncapsulation = UnknownCorrelation


def driver(name: str) -> EncapDriver:
    """The installed driver for a correlation name (`mpls`, `nsh`, or a third party's); raises
    UnknownEncapsulation when none is installed under that name. Loaded once (`model.correlations`)."""
    return cast("EncapDriver", load_driver(name))


def header_fields() -> frozenset[str]:
    """The match fields of every installed driver's header (those that load): what the pipeline's
    header-reading tables match (`pipeline.tables.HEADER`, held to it by `pipeline.check`)."""
    fields: set[str] = set()
    for name in installed_correlations():
        try:
            fields |= driver(name).header_fields
        except Exception:  # a broken third-party install compiles nothing (`unusable`)
            continue
    return frozenset(fields)


def unusable(chain: Chain, driver_for: Callable[[str], EncapDriver]) -> str | None:
    """Why the chain cannot be compiled here (its driver is not installed on this chassis or fails to
    load, or a hop label exceeds what its header carries: the API allocates within `max_label`, so
    only a chain stored before its driver changed), or None."""
    try:
        encap = driver_for(chain.correlation)
    except UnknownEncapsulation as exc:
        return str(exc)
    except Exception as exc:  # a third party's broken install must not stop the chassis' other chains
        return f"the {chain.correlation} driver failed to load: {exc!r}"
    limit = getattr(encap, "max_label", MAX_LABEL)
    too_big = sorted({hop.label for hop in chain.hops} | set(chain.reverse_labels))
    too_big = [label for label in too_big if label > limit]
    if too_big:
        return f"hop labels {too_big} exceed what the {chain.correlation} header carries ({limit})"
    return None
