"""Make-before-break across chassis: a changed chain goes into force on a chassis only once the chassis
that must deliver its new parts hold them, and what a chassis stops using lingers for a grace period.

Each chassis applies an NB revision atomically (one bundle), but chassis are not ordered: without this,
a sender could dispatch to a function instance whose chassis has not installed its delivery yet, and a
chassis could drop the delivery to an instance that other senders still pick, or whose function still
holds packets. So every chain of a chassis has up to three views:

- in force: compiled whole, classification included; what this chassis sends by;
- pending: the chain as the NB has it now, compiled without classification (nothing enters it here) but
  with everything that serves traffic arriving for it: delivery to local instances, their returns,
  dispatch after them. Where a key is compiled differently, the view in force wins (lower unit rank).
  It goes into force once every chassis that hosts an instance placement new to it (hop label,
  position, direction, instance) has installed the revision it was resolved at (`installed_revision`
  in `chassis_status`), or after `ready_timeout` (a chassis that never reports does not hold the chain
  back for ever). A change that places nothing new (a classifier, a removed instance or hop, a deleted
  chain) goes into force at once;
- retiring: views that were in force, kept without classification for `grace` seconds, so packets
  already heading to, or inside, an instance the chain no longer uses still come back and go on.

This module is the bookkeeping; `compile.ChassisCompiler` compiles the views (pure: the caller gives
the revision and the time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from steerflow.compiler.chain_view import Chain
from steerflow.compiler.encap import EncapDriver
from steerflow.compiler.symmetric import with_reverses
from steerflow.flows.types import Action

# (hop label, reverse, instance key, chassis, the header tunnelled to it)
Placement = tuple[int, bool, int, str | None, tuple[Action, ...]]
IPV4 = 0x0800
DriverFor = Callable[[str], EncapDriver]


@dataclass(frozen=True)
class RolloutTimes:
    """How long a pending view waits for lagging chassis, and how long a retired one lingers (seconds)."""

    ready_timeout: float = 5.0
    grace: float = 5.0


IMMEDIATE = RolloutTimes(0.0, 0.0)  # no staging: every change in force at once (compiling from scratch)


@dataclass(frozen=True)
class Retiring:
    chain: Chain
    until: float  # monotonic seconds
    serial: int  # tells the retired views of one chain apart (their unit names)


@dataclass
class ChainRollout:
    """The views of one chain document on one chassis."""

    in_force: Chain | None = None
    pending: Chain | None = None
    has_pending: bool = False  # pending None with has_pending: the chain goes away (or inert)
    revision: int = 0  # the NB revision the pending view was resolved at
    since: int = 0  # the oldest NB revision whose change to this chain is not in force here yet
    needs: frozenset[str] = frozenset()  # chassis that must have installed `revision` first
    staged_at: float = 0.0
    retiring: list[Retiring] = field(default_factory=list)

    def views(self) -> Iterator[Chain]:
        """Newest first: pending, in force, retiring (newest retired first)."""
        if self.pending is not None:
            yield self.pending
        if self.in_force is not None:
            yield self.in_force
        yield from (r.chain for r in reversed(self.retiring))

    @property
    def settled(self) -> bool:
        return not self.has_pending and not self.retiring

    @property
    def empty(self) -> bool:
        return self.settled and self.in_force is None

    def stage(self, chain: Chain | None, revision: int, now: float, here: str, driver_for: DriverFor) -> None:
        """The NB now resolves the chain to `chain` (None: gone or inert) at `revision`. Instance health
        never waits: every view takes `chain`'s at once (a failed instance must leave now, and nothing
        new is placed when one fails or comes back), so only the rest of a change is staged."""
        if chain is not None:
            healthy = health_of(chain)
            self.in_force = None if self.in_force is None else with_health(self.in_force, healthy)
            self.pending = None if self.pending is None else with_health(self.pending, healthy)
            self.retiring = [replace(r, chain=with_health(r.chain, healthy)) for r in self.retiring]
        if chain == self.in_force:
            self.pending, self.has_pending = None, False  # back to what is in force: nothing to switch
            return
        if not self.has_pending:
            self.since = revision
        self.pending, self.has_pending, self.revision, self.staged_at = chain, True, revision, now
        new = placements(chain, driver_for) - placements(self.in_force, driver_for)
        self.needs = frozenset(p[3] for p in new if p[3] is not None and p[3] != here)

    def establish(self, chain: Chain | None) -> None:
        """Put `chain` in force at once, staging nothing (a chassis' first compile: what its switch may
        hold from before is as good as anything)."""
        self.in_force, self.pending, self.has_pending = chain, None, False

    def lagging(self, installed: Mapping[str, int]) -> list[str]:
        """The chassis the pending view still waits for."""
        return sorted(c for c in self.needs if installed.get(c, 0) < self.revision)

    def advance(self, installed: Mapping[str, int], now: float, times: RolloutTimes, serial: int) -> bool:
        """Promote the pending view if it is ready (or waited long enough), drop retired views whose
        grace is over; whether the views changed. `installed`: chassis -> installed revision."""
        changed = False
        if self.has_pending and (not self.lagging(installed) or now - self.staged_at >= times.ready_timeout):
            if self.in_force is not None:
                self.retiring.append(Retiring(self.in_force, now + times.grace, serial))
            self.in_force, self.pending, self.has_pending = self.pending, None, False
            changed = True
        kept = [r for r in self.retiring if r.until > now]
        if len(kept) != len(self.retiring):
            self.retiring, changed = kept, True
        return changed

    def deadline(self, times: RolloutTimes) -> float | None:
        """When `advance` next has something to do without any report arriving (None: never)."""
        times_due = [r.until for r in self.retiring]
        if self.has_pending:
            times_due.append(self.staged_at + times.ready_timeout)
        return min(times_due, default=None)


def health_of(chain: Chain) -> dict[str, bool]:
    """Instance id -> healthy, over the chain and its branches."""
    found: dict[str, bool] = {}
    for view in (chain, *chain.branches):
        for hop in view.hops:
            found.update((inst.id, inst.healthy) for inst in hop.instances)
    return found


def with_health(chain: Chain, healthy: Mapping[str, bool]) -> Chain:
    """`chain` with its instances' health as `healthy` says (the others' as they were)."""
    hops = tuple(
        replace(hop, instances=tuple(replace(i, healthy=healthy.get(i.id, i.healthy)) for i in hop.instances))
        for hop in chain.hops
    )
    branches = tuple(with_health(b, healthy) for b in chain.branches)
    updated = replace(chain, hops=hops, branches=branches)
    return chain if updated == chain else updated


def placements(chain: Chain | None, driver_for: DriverFor) -> frozenset[Placement]:
    """Where the chain's traffic is delivered: every (hop, direction, instance), the instance's chassis
    and the header a sender tunnels to it there (NSH's SI follows the hop's position: a hop that moves
    is a new placement; an MPLS label does not); a graph's source chain also places its branches'
    first hops."""
    if chain is None:
        return frozenset()
    driver = driver_for(str(chain.correlation))
    hops = [(direction, hop) for direction in with_reverses((chain,)) for hop in direction.hops]
    hops += [(dst, dst.hops[0]) for dst in chain.branches]  # a graph's branches enter these here
    return frozenset(
        (
            hop.label,
            direction.reverse,
            inst.key,
            inst.ingress.chassis,
            driver.carry(direction, hop, inst, IPV4),
        )
        for direction, hop in hops
        for inst in hop.instances
    )
