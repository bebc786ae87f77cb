"""Reconciler: the only writer of a switch's flows and groups: desired vs installed, one bundle, a barrier.

The first apply after a (re)connection reads what the switch holds (flow and group dumps, decoded
into the same values the compiler makes) and diffs against that; afterwards it diffs against its
own record of what it installed. Each batch goes out as one atomic ONF bundle (cut into several only
past `max_bundle_messages`, in order) and is followed by a barrier; only then is the record updated
and the NB revision reported as applied. A rejected bundle changed nothing, so the record stays as
it was and the next apply sends the same changes again. See docs/reconciler.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from steerflow.flows.types import Flow, FlowKey, Group
from steerflow.reconcile.diff import FlowChanges, diff_groups
from steerflow.reconcile.ofctrl_plan import Batch, Op, build_batch, split
from steerflow.southbound.flowcodec import FlowCodec, decode_group, group_entries
from steerflow.southbound.ofcodec import FlowEntry, group_desc_request
from steerflow.southbound.oferrors import BundleFailed, OpenFlowError
from steerflow.southbound.openflow import OpenFlowChannel

__all__ = ["ApplyFailed", "ApplyResult", "DesiredLike", "Reconciler"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BUNDLE_MESSAGES = 200_000  # OVS holds a whole bundle in memory until the commit

OnApplied = Callable[[int], Awaitable[None] | None]


class DesiredLike(Protocol):
    """What the compiler produces (compiler.compile.DesiredState): flows by key, groups by id."""

    @property
    def flows(self) -> Mapping[FlowKey, Flow]: ...

    @property
    def groups(self) -> Mapping[int, Group]: ...


@dataclass(frozen=True)
class ApplyResult:
    revision: int
    flow_mods_sent: int
    group_mods_sent: int
    resynced: bool  # this apply read the switch's state first (first apply of a session)
    bundles: int


class ApplyFailed(Exception):
    """The switch rejected a batch: nothing of the failing bundle was applied.

    `what` says which message failed ("flow add cookie=..,table=..,..."), `cause` is the switch's
    error (its `.name` is ovs-ofctl's, e.g. OFPBAC_BAD_OUT_GROUP).
    """

    def __init__(self, what: str, cause: OpenFlowError) -> None:
        self.what = what
        self.cause = cause
        super().__init__(f"switch rejected {what}: {cause.name} ({cause})")


@dataclass
class _Plan:
    batch: Batch
    flows: dict[FlowKey, Flow] | None  # the record once the whole batch is in; None: the record + changes
    groups: dict[int, Group]
    changes: FlowChanges | None = None


class Reconciler:
    """Keeps one switch's flows and groups equal to the desired state given to `apply()`.

    Pass `on_connected` to `channel.run_forever()`: after ovs-vswitchd restarts it re-reads the
    switch and reinstalls the last desired state, with no agent restart.
    """

    def __init__(
        self,
        channel: OpenFlowChannel,
        *,
        on_applied: OnApplied | None = None,
        max_bundle_messages: int = DEFAULT_MAX_BUNDLE_MESSAGES,
        codec: FlowCodec | None = None,
    ) -> None:
        self.channel = channel
        self.on_applied = on_applied
        self.max_bundle_messages = max_bundle_messages
        self.codec = codec or FlowCodec()
        self.applied_revision: int | None = None
        self._flows: dict[FlowKey, Flow] = {}
        self._groups: dict[int, Group] = {}
        # group id -> (the desired group, as the switch reports it): the compiler hands the same group
        # objects until it rebuilds them, so a write that moves no group encodes none (a flood group has
        # a bucket per remote chassis: encoding it on every apply cost every agent O(chassis) a write)
        self._group_forms: dict[int, tuple[Group, Group]] = {}
        self._synced_session: int | None = None  # the channel session our record describes
        self._desired: tuple[DesiredLike, int] | None = None
        self._exactly: Mapping[FlowKey, Flow] | None = None  # what the switch was just found to hold
        self._lock = asyncio.Lock()

    @property
    def installed_flows(self) -> Mapping[FlowKey, Flow]:
        """What we believe the switch holds (read-only view)."""
        return self._flows

    @property
    def installed_groups(self) -> Mapping[int, Group]:
        return self._groups

    def forget(self) -> None:
        """Distrust the record: the next apply reads the switch again."""
        self._synced_session = None

    async def apply(
        self, desired: DesiredLike, revision: int, touched: Collection[FlowKey] | None = None
    ) -> ApplyResult:
        """Make the switch hold exactly `desired`; `revision` is reported applied once it does.

        `touched`: the only keys whose desired flow may differ from the previous `apply`'s (an
        incremental compiler knows them), so only they are compared; None compares everything."""
        async with self._lock:
            self._desired = (desired, revision)
            return await self._apply(desired, revision, touched)

    async def on_connected(self, channel: OpenFlowChannel) -> None:
        """For `channel.run_forever()`: resync and reinstall the last desired state after a reconnect."""
        async with self._lock:
            self._synced_session = None
            if self._desired is None:
                return  # nothing to restore yet: the first apply reads the switch itself
            desired, revision = self._desired
            result = await self._apply(desired, revision)
            log.info(
                "resynced %s after reconnect: %d flow-mods, %d group-mods",
                channel.target,
                result.flow_mods_sent,
                result.group_mods_sent,
            )

    # ---- one apply -----------------------------------------------------------------------------

    async def _apply(
        self, desired: DesiredLike, revision: int, touched: Collection[FlowKey] | None = None
    ) -> ApplyResult:
        resynced = self._synced_session != self.channel.session or not self.channel.connected
        with gc_paused():
            if resynced:
                await self._read_switch(desired.flows)
            plan = self._plan(desired, None if resynced else touched)
            bundles = await self._send(plan.batch) if plan.batch.size else 0
            if plan.flows is None:
                assert plan.changes is not None
                _record_changes(self._flows, plan.changes)  # an incremental apply: no copy of the record
            else:
                self._flows = plan.flows
            if plan.batch.lazy and plan.batch.odd:
                self._canonical(plan.batch.odd, self._flows)
        self._groups = plan.groups
        self.applied_revision = revision
        await self._report(revision)
        return ApplyResult(
            revision=revision,
            flow_mods_sent=plan.batch.count(Op.FLOW_ADD, Op.FLOW_MODIFY, Op.FLOW_DELETE),
            group_mods_sent=plan.batch.count(Op.GROUP_ADD, Op.GROUP_MODIFY, Op.GROUP_DELETE),
            resynced=resynced,
            bundles=bundles,
        )

    async def _read_switch(self, desired: Mapping[FlowKey, Flow]) -> None:
        """Replace the record by what the switch holds (flows we did not write included)."""
        session = self.channel.session
        entries = await self.channel.dump_flow_entries()
        bodies = await self.channel.request_raw(group_desc_request())
        self._flows = self._installed(entries, desired)
        self._groups = {g.group_id: g for body in bodies for g in map(decode_group, group_entries(body))}
        self._synced_session = session
        log.info(
            "read %s: %d flows, %d groups installed", self.channel.target, len(self._flows), len(self._groups)
        )

    def _installed(self, entries: list[FlowEntry], desired: Mapping[FlowKey, Flow]) -> dict[FlowKey, Flow]:
        """The dumped flows as values. An entry byte for byte what a desired flow encodes to (the
        common case after a restart: we wrote it) is that flow, without decoding; OVS reports
        matches and instructions exactly as we encode them. Anything else is decoded."""
        if len(entries) < len(desired) // 2:
            # A fresh or sparse switch: decoding its few entries (~7 us each) is cheaper than
            # encoding every desired flow (~3 us each); a cold install must not encode twice.
            return {flow.key: flow for flow in map(self.codec.decode_flow, entries)}
        identities = self.codec.identities(desired.values())
        known: list[Flow] = []
        others: list[FlowEntry] = []
        for entry in entries:
            hit = identities.get((entry.table_id, entry.priority, entry.match))
            if (
                hit is not None
                and hit[1] == entry.instructions
                and hit[0].cookie == entry.cookie
                and not (entry.idle_timeout or entry.hard_timeout or entry.flags)
            ):
                known.append(hit[0])
            else:
                others.append(entry)
        if not others and len(known) == len(desired):
            self._exactly = desired  # so this apply's diff can skip looking up 100k keys
            return dict(desired)  # copying beats re-indexing
        flows = {flow.key: flow for flow in known}
        flows.update((flow.key, flow) for flow in map(self.codec.decode_flow, others))
        return flows

    def _plan(self, desired: DesiredLike, touched: Collection[FlowKey] | None) -> _Plan:
        desired_groups = self._canonical_groups(desired.groups)
        group_changes = diff_groups(desired_groups, self._groups)
        if touched is None:
            flow_changes = self._diff_flows(desired.flows)
        else:
            flow_changes = self._diff_keys(desired.flows, touched)
        batch = build_batch(self.codec, group_changes, flow_changes, self._flows)
        if touched is not None and not (batch.odd and not batch.lazy):
            return _Plan(batch, None, desired_groups, flow_changes)  # the record only needs the changes
        flows = dict(desired.flows)
        if batch.odd and not batch.lazy:
            # Flows spelled differently from how the switch reports them: use the switch's spelling,
            # or a resync would see them as foreign (and a dump would never match our record).
            canonical = self._canonical(batch.odd, flows)
            flow_changes = _resolve(flow_changes, canonical, self._flows)
            batch = build_batch(self.codec, group_changes, flow_changes, self._flows)
        return _Plan(batch, flows, desired_groups)

    def _canonical_groups(self, groups: Mapping[int, Group]) -> dict[int, Group]:
        """Each desired group as the switch will report it; a group seen last time is not encoded again."""
        known, memo = self._group_forms, {}
        for gid, group in groups.items():
            seen = known.get(gid)
            if seen is None or seen[0] is not group:
                seen = (group, self.codec.canonical_group(group))
            memo[gid] = seen
        self._group_forms = memo
        return {gid: canonical for gid, (_, canonical) in memo.items()}

    def _diff_flows(self, desired: Mapping[FlowKey, Flow]) -> FlowChanges:
        """diff.diff_flows in one pass over desired (hashing a key is the cost at 100k flows)."""
        installed = self._flows
        exactly, self._exactly = self._exactly, None
        if desired is exactly:
            return FlowChanges()  # the switch was just read and holds exactly `desired`
        if not installed:
            return FlowChanges(adds=tuple(desired.values()))  # cold install: nothing to look up
        adds: list[Flow] = []
        modifies: list[Flow] = []
        found = 0
        lookup = installed.get
        for key, flow in desired.items():
            old = lookup(key)
            if old is None:
                adds.append(flow)
                continue
            found += 1
            if old is not flow and (old.cookie, old.goto, old.actions) != (
                flow.cookie,
                flow.goto,
                flow.actions,
            ):
                modifies.append(flow)
        deletes: tuple[Flow, ...] = ()
        if found != len(installed):
            deletes = tuple(f for k, f in installed.items() if k not in desired)
        return FlowChanges(tuple(adds), tuple(modifies), deletes)

    def _diff_keys(self, desired: Mapping[FlowKey, Flow], keys: Collection[FlowKey]) -> FlowChanges:
        """The diff restricted to `keys` (every other key is known to be unchanged)."""
        adds: list[Flow] = []
        modifies: list[Flow] = []
        deletes: list[Flow] = []
        for key in keys:
            new, old = desired.get(key), self._flows.get(key)
            if new is None:
                if old is not None:
                    deletes.append(old)
            elif old is None:
                adds.append(new)
            elif old is not new and not new.same_behaviour(old):
                modifies.append(new)
        return FlowChanges(tuple(adds), tuple(modifies), tuple(deletes))

    def _canonical(self, odd: list[Flow], flows: dict[FlowKey, Flow]) -> dict[Flow, Flow]:
        """Canonical forms of `odd`; `flows` (the future record) is rewritten to hold them."""
        canonical = {f: self.codec.canonical_flow(f) for f in odd}
        log.warning(
            "%d desired flows are not in canonical form, e.g. %s (the switch reports %s)",
            len(odd),
            odd[0],
            canonical[odd[0]],
        )
        for flow in canonical:
            flows.pop(flow.key, None)
        for flow, fixed in canonical.items():
            other = flows.get(fixed.key)
            if other is not None and other != fixed:
                log.error("two desired flows are one flow on the switch: %s and %s", other, flow)
            flows[fixed.key] = fixed
        return canonical

    async def _send(self, batch: Batch) -> int:
        """Send the batch as bundles (usually one), then a barrier; record each committed bundle.

        Frames are produced while they are sent: for a cold install the encoding of each chunk of
        flows overlaps the switch's checking of the previous one.
        """
        frames = batch.frames()
        ranges = list(split(batch.size, self.max_bundle_messages))
        committed = 0
        try:
            for start, end in ranges:
                await self.channel.bundle(itertools.islice(frames, end - start), count=end - start)
                committed = end
            await self.channel.barrier()
        except BundleFailed as exc:
            self._keep_committed(batch, committed)
            index = committed + exc.index if exc.index is not None else None
            what = batch.describe(index) if index is not None else f"the bundle from message #{committed}"
            raise ApplyFailed(what, exc) from exc
        except BaseException:
            self.forget()  # the outcome is unknown: read the switch before the next apply
            raise
        return len(ranges)

    def _keep_committed(self, batch: Batch, committed: int) -> None:
        """A later bundle failed: the earlier ones are in, so the record takes them."""
        if committed:
            batch.apply_range(0, committed, self._flows, self._groups)

    async def _report(self, revision: int) -> None:
        if self.on_applied is None:
            return
        result = self.on_applied(revision)
        if inspect.isawaitable(result):
            await result


def _record_changes(record: dict[FlowKey, Flow], changes: FlowChanges) -> None:
    for flow in changes.deletes:
        record.pop(flow.key, None)
    for flow in (*changes.adds, *changes.modifies):
        record[flow.key] = flow


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during one apply. A freshly compiled desired state is a million
    young objects (flows, matches, fields, tuples) and decoding a dump makes as many again; the
    collector would walk them generation after generation while we are encoding or decoding,
    doubling the time of a 100k-flow install or resync. None of them is in a cycle: the
    collection simply happens after the apply. Bounded by the channel's request timeout."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _resolve(
    changes: FlowChanges, canonical: Mapping[Flow, Flow], installed: Mapping[FlowKey, Flow]
) -> FlowChanges:
    """The changes with non-canonical flows replaced by their canonical forms, compared afresh."""
    adds: list[Flow] = []
    modifies: list[Flow] = []
    keep_deleting = {f.key for f in changes.deletes}
    for flow in (*changes.adds, *changes.modifies):
        fixed = canonical.get(flow, flow)
        old = installed.get(fixed.key)
        if old is None:
            adds.append(fixed)
            continue
        keep_deleting.discard(fixed.key)
        if not fixed.same_behaviour(old):
            modifies.append(fixed)
    deletes = tuple(f for f in changes.deletes if f.key in keep_deleting)
    return FlowChanges(tuple(adds), tuple(modifies), deletes)
