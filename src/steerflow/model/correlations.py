"""The correlations this installation speaks: the installed `steerflow.encap` entry points, by name.

A correlation (`chain_parameters.correlation`, a port pair's `service_function_parameters.correlation`)
names an encapsulation driver. Drivers are entry points in the group `steerflow.encap` (steerflow's own
`mpls` and `nsh`, or any installed distribution's), so the set is open: the API accepts exactly the names
installed here, the compiler loads the driver of each name. Entry points are read once per process and
each driver loaded once (`refresh` forgets both, for tests that install one on the fly).

This module never imports a driver's code statically (drivers live in the compiler): the API asks it
for names and for the label limit a driver declares, the compiler for the driver itself.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.metadata (email, zipfile, csv...: ~15 ms, 2.5 MB) loads at the first lookup
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "steerflow.encap"
MAX_LABEL = (1 << 20) - 1  # the widest hop label steerflow allocates (an MPLS label)


class UnknownCorrelation(LookupError):
    """No driver of that name is installed."""


@functools.cache
def _installed() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points  # an agent without chains never asks

    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)  # a name registered twice: the first distribution found wins
    return found


def installed_correlations() -> tuple[str, ...]:
    """The correlation names the installed drivers provide, sorted (`mpls`, `nsh`, a third party's...)."""
    return tuple(sorted(_installed()))


def is_installed(name: object) -> bool:
    return isinstance(name, str) and name in _installed()


def one_of(names: tuple[str, ...], *, null: bool = False) -> str:
    """`mpls, nsh` (`mpls, nsh or null`): the valid values, as error messages list them."""
    listed = ", ".join(names) or "(no driver installed)"
    return f"{listed} or null" if null else listed


@functools.cache
def load_driver(name: str) -> object:
    """An instance of the driver registered as `name` (the compiler types it as its `EncapDriver`)."""
    ep = _installed().get(name)
    if ep is None:
        installed = ", ".join(installed_correlations()) or "none"
        raise UnknownCorrelation(
            f"no encapsulation driver {name!r} in entry points {ENTRY_POINT_GROUP!r} (installed: {installed})"
        )
    driver: object = ep.load()()
    return driver


def label_limit(name: str) -> int:
    """The largest hop label the driver's header can carry (`max_label`; MAX_LABEL when it declares none,
    or a larger one): labels of its chains are allocated at or below it."""
    limit = getattr(load_driver(name), "max_label", MAX_LABEL)
    return min(int(limit), MAX_LABEL)


def refresh() -> None:
    """Read the entry points again on next use (after installing or removing a driver)."""
    _installed.cache_clear()
    load_driver.cache_clear()
