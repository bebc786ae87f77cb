"""The local controller of one chassis: NB in, OpenFlow out, applied revision reported back.

Wiring only; every decision lives in a tested module: `NbCache` follows the NB watch, `BindingLoop`
turns OVSDB interfaces into port bindings, `ChassisCompiler` computes the flows (recompiling only what
the NB changes since the last round concern), the `Reconciler` is the only writer of the switch
(comparing only the flows the compiler says changed), and `report_applied` tells waiters which NB
revision this chassis holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from steerflow import heap, logs, sdnotify
from steerflow.agent.binding import BindingLoop
from steerflow.agent.chassis import beat, register_chassis
from steerflow.agent.counters import Reading, by_object, labelled, packed, poll, poll_interval, slice_bits
from steerflow.agent.health import HealthProber, LocalCheck, local_checks
from steerflow.agent.metrics import AgentMetrics, serve
from steerflow.agent.nbcache import CacheUpdate, NbCache
from steerflow.agent.probes import Probes
from steerflow.compiler.compile import ChassisCompiler
from steerflow.compiler.rollout import RolloutTimes
from steerflow.flows.types import FlowKey
from steerflow.nbdb.api import NorthboundStore, StoreError
from steerflow.nbdb.counters import Tally, drop_older_document, report_counters
from steerflow.nbdb.health import report_health
from steerflow.nbdb.status import DEFAULT_HEARTBEAT_INTERVAL, report_applied
from steerflow.nbdb.url import open_store
from steerflow.reconcile.ofctrl import ApplyFailed, Reconciler
from steerflow.southbound.oferrors import ChannelError
from steerflow.southbound.openflow import OnConnected, OpenFlowChannel
from steerflow.southbound.ovsdb import (
    KERNEL_MODULE,
    TUNNEL_OFPORT,
    BridgeReport,
    OvsdbClient,
    OvsdbError,
    choose_datapath,
)

LOG = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
DEFAULT_ROLLOUT = RolloutTimes()
BRIDGE_ATTEMPTS = 8
# an apply this big (or a full compile, or a resync) freed enough to hand back to the system (`heap.release`)
RELEASE_AFTER_MODS = 1_000
REPORT_COALESCE = 0.1  # seconds a report may wait for the next round while changes keep arriving


@dataclass(frozen=True)
class AgentConfig:
    chassis: str
    encap_ip: str
    ovsdb: str  # unix:PATH of the chassis' ovsdb-server
    nb_url: str | None = None  # None: $STEERFLOW_NB or the embedded default
    bridge: str = "br-int"
    datapath_type: str | None = None  # None: what the host supports (`southbound.ovsdb.choose_datapath`)
    openflow: str | None = None  # unix:PATH of the bridge's management socket; default beside ovsdb's
    rollout: RolloutTimes = DEFAULT_ROLLOUT  # how changed chains go into force (`compiler.rollout`)
    metrics: str | None = None  # HOST:PORT to serve Prometheus /metrics on; None: not served
    stats_interval: float = 1.0  # seconds between two reads of the per-hop counters (0: never)
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL  # seconds between heartbeats (`nbdb.status`)

    @property
    def openflow_target(self) -> str:
        if self.openflow:
            return self.openflow
        if not self.ovsdb.startswith("unix:"):
            raise ValueError("give --openflow unix:PATH when --ovsdb is not a unix socket")
        rundir = Path(self.ovsdb.removeprefix("unix:")).parent
        return f"unix:{rundir / (self.bridge + '.mgmt')}"


@dataclass
class _Counted:
    """What the counting loop last read, at which desired NB revision, and last reported."""

    reading: bytes = b""  # `counters.packed`
    desired: int = -1
    reported: Tally | None = None


class Agent:
    """Runs until `stop` is set; safe to kill at any moment (a restart converges without a flush)."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._wake = asyncio.Event()
        self._unreported = True  # desired state moved since the last applied report, concerning this chassis
        self._unconcerned: list[str] = []  # revisions (and kinds) since the last round concerning others only
        self.compiles = 0
        self._retry: asyncio.TimerHandle | None = None
        self._compiler: ChassisCompiler | None = None  # None: compile from scratch next round
        self._unapplied: set[FlowKey] | None = None  # keys changed since the last apply; None: all
        self._reported_in_force = 0  # the applied (in force) revision last reported
        self._timer: asyncio.TimerHandle | None = None  # wakes when a rollout has something to do
        self.metrics = AgentMetrics(config.chassis)
        self._status_lock: asyncio.Lock | None = None  # one status write at a time: none loses another's
        self._prober: HealthProber | None = None  # probes the local function instances (docs/health.md)
        self._checks: dict[str, LocalCheck] = {}
        self._ready_session = 0  # the OpenFlow session whose setup (`_on_connected`) is done
        self._binding: BindingLoop | None = None  # follows the NB through the cache's watch
        self._last_report = 0.0  # monotonic time of the last applied report

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        store = open_store(cfg.nb_url)
        try:
            await asyncio.to_thread(store.revision)  # an unreachable store fails now, not after the bridge
            cache = NbCache(store, self._from_watch_thread(asyncio.get_running_loop()), chassis=cfg.chassis)
            # the NB is read while the switch is prepared: a restart waits for the slower of the two
            loading = asyncio.create_task(asyncio.to_thread(cache.load))
            try:
                with await self._prepare_switch() as ovsdb:
                    await self._serve(store, ovsdb, cache, loading, stop)
            finally:
                with contextlib.suppress(Exception):
                    await loading  # its thread reads the store: it ends before the store closes
        finally:
            store.close()

    def _from_watch_thread(self, loop: asyncio.AbstractEventLoop) -> Callable[[CacheUpdate], None]:
        def note(update: CacheUpdate) -> None:
            if self._binding is not None:  # in the watch thread: it only flags a sync as due
                self._binding.nb_changed(update.changed)
            loop.call_soon_threadsafe(self._note, update)

        return note

    async def _prepare_switch(self) -> OvsdbClient:
        """The bridge created or repaired; returns the OVSDB session that did it (the agent keeps it:
        a second session would fetch the schema and the whole replica again)."""
        cfg = self.config
        for attempt in range(1, BRIDGE_ATTEMPTS + 1):
            try:
                ovsdb, report = await asyncio.to_thread(self._ensure_bridge)
                break
            except OvsdbError as exc:
                # e.g. a VIF plugger created br-int in the same instant: the next attempt adopts it
                if attempt == BRIDGE_ATTEMPTS:
                    raise
                LOG.warning(
                    "preparing %s failed (%s); retrying (%d/%d)", cfg.bridge, exc, attempt, BRIDGE_ATTEMPTS
                )
                await asyncio.sleep(RETRY_SECONDS * attempt / 4)
        LOG.info("bridge %s ready (%s)", cfg.bridge, "created" if report.created else "adopted")
        return ovsdb

    async def _register(self, store: NorthboundStore) -> None:
        """Registered only once the bridge is ready: a chassis whose switch cannot be prepared never
        shows up in the NB, where it would be waited for."""
        cfg = self.config
        await asyncio.to_thread(register_chassis, store, cfg.chassis, cfg.encap_ip)
        await asyncio.to_thread(beat, store, cfg.chassis, cfg.encap_ip)  # alive from now on
        LOG.info("chassis %s registered (encap %s)", cfg.chassis, cfg.encap_ip)

    def _ensure_bridge(self) -> tuple[OvsdbClient, BridgeReport]:
        cfg = self.config
        ovsdb = OvsdbClient(cfg.ovsdb, bridge=cfg.bridge)
        try:
            datapath = cfg.datapath_type
            if datapath is None:
                loaded = Path(KERNEL_MODULE).exists()
                datapath, why = choose_datapath(ovsdb.datapath_types(), loaded)
                LOG.info("bridge %s: datapath_type %s (%s)", cfg.bridge, datapath, why)
            else:
                LOG.info("bridge %s: datapath_type %s (configured)", cfg.bridge, datapath)
            return ovsdb, ovsdb.ensure_integration_bridge(datapath_type=datapath, local_ip=cfg.encap_ip)
        except BaseException:
            ovsdb.close()
            raise

    async def _serve(
        self,
        store: NorthboundStore,
        ovsdb: OvsdbClient,
        cache: NbCache,
        loading: asyncio.Future[int],
        stop: asyncio.Event,
    ) -> None:
        cfg = self.config
        channel = OpenFlowChannel(cfg.openflow_target)
        probes = Probes(channel)
        channel.on_message, channel.message_types = probes.on_message, Probes.MESSAGE_TYPES
        reconciler = Reconciler(channel)
        # the OpenFlow session (handshake, the switch's state read on the first apply) opens while the
        # chassis registers and the NB loads: nothing is written to the switch before the first compile
        connection = asyncio.create_task(channel.run_forever(self._on_connected(reconciler, probes)))
        try:
            await self._register(store)
            await loading
            self._prober = HealthProber(probes.probe, self._reporter(store))
            # systemd's Type=notify: ready once the bridge is prepared and the NB is in hand
            sdnotify.ready(f"chassis {cfg.chassis}: bridge {cfg.bridge}, NB revision {cache.revision}")
            with BindingLoop(store, ovsdb, cfg.chassis, watch=False) as self._binding:
                cache.start()
                counting = asyncio.create_task(self._count_forever(store, cache, channel, reconciler))
                beating = asyncio.create_task(self._beat_until(stop, store))
                try:
                    await self._converge_until(stop, store, cache, channel, reconciler)
                finally:
                    counting.cancel()
                    beating.cancel()
                    await self._prober.close()
                    cache.stop()
        finally:
            await channel.close()
            with contextlib.suppress(asyncio.CancelledError):
                await connection

    async def _beat_until(self, stop: asyncio.Event, store: NorthboundStore) -> None:
        """Heartbeat through the NB every `heartbeat_interval` seconds: waiters skip a chassis whose
        agent stopped beating (`nbdb.status.liveness`). A failed beat is logged and tried next time.
        A beat is no status write (`store.beat`): it needs no turn under the status lock."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.heartbeat_interval)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(beat, store, self.config.chassis, self.config.encap_ip)
                self.metrics.health.last_heartbeat = time.time()
            except StoreError as exc:
                LOG.warning("heartbeat of chassis %s failed: %s", self.config.chassis, exc)

    def _lock(self) -> asyncio.Lock:
        if self._status_lock is None:  # created in the running loop
            self._status_lock = asyncio.Lock()
        return self._status_lock

    def _on_connected(self, reconciler: Reconciler, probes: Probes) -> OnConnected:
        async def connected(channel: OpenFlowChannel) -> None:
            LOG.info("OpenFlow session %d with %s", channel.session, channel.target)
            try:
                await probes.on_connected(channel)
                await reconciler.on_connected(channel)
            finally:  # set up or failed (logged): converging takes over either way
                self._ready_session = channel.session
                self._wake.set()

        return connected

    def _reporter(self, store: NorthboundStore) -> Callable[[str, bool], Awaitable[None]]:
        """The prober's report: the instance's health into the NB (only when it changed), logged."""
        chassis = self.config.chassis

        async def report(pair_id: str, healthy: bool) -> None:
            written = await asyncio.to_thread(report_health, store, pair_id, chassis, healthy)
            group = self._checks[pair_id].group_id if pair_id in self._checks else "?"
            self.metrics.health.functions[(group, pair_id)] = healthy
            if written:
                state = "healthy" if healthy else "FAILED its health check"
                LOG.info("function %s (group %s) on chassis %s: %s", pair_id, group, chassis, state)

        return report

    def _follow_checks(self, cache: NbCache) -> None:
        """Probe exactly the checked instances bound here now (`agent.health.local_checks`)."""
        if self._prober is None:
            return
        with cache.held() as objects:
            checks = local_checks(objects, self.config.chassis)
        if checks != self._checks:
            LOG.info("health-checking %d function instances here: %s", len(checks), ", ".join(sorted(checks)))
            self._checks = checks
            self._prober.update(checks)
            functions = self.metrics.health.functions
            for key in [k for k in functions if k[1] not in checks]:
                del functions[key]

    def _note(self, update: CacheUpdate) -> None:
        if update.relevant:
            # a write concerning other chassis only is compiled (the cache moved) but not reported: the
            # waiters count this chassis as holding it (`nbdb.concerns`)
            if update.concerned:
                self._unreported = True
            else:
                kinds = sorted({kind for kind, _ in update.changed or ()})
                self._unconcerned.append(f"{update.revision} ({', '.join(kinds)})")
            self._wake.set()
        elif update.status and self._compiler is not None and self._compiler.waiting:
            self._wake.set()  # another chassis' report may put a waiting chain in force

    async def _converge_until(
        self,
        stop: asyncio.Event,
        store: NorthboundStore,
        cache: NbCache,
        channel: OpenFlowChannel,
        reconciler: Reconciler,
    ) -> None:
        self._wake.set()
        stopping = asyncio.create_task(stop.wait())
        while not stop.is_set():
            waking = asyncio.create_task(self._wake.wait())
            await asyncio.wait({stopping, waking}, return_when=asyncio.FIRST_COMPLETED)
            waking.cancel()
            if stop.is_set():
                break
            self._wake.clear()
            if not channel.connected or self._ready_session != channel.session:
                continue  # a session is used once set up: an apply before would read the switch twice
            try:
                await self._converge_once(store, cache, reconciler)
            except Exception:  # a compiler or store bug must not take the chassis' controller down
                LOG.exception("converging failed; retrying in %.0fs", RETRY_SECONDS)
                self._unreported = True
                self._schedule_retry()

    async def _converge_once(self, store: NorthboundStore, cache: NbCache, reconciler: Reconciler) -> None:
        report, self._unreported = self._unreported, False
        unconcerned, self._unconcerned = self._unconcerned, []
        staging = self._compiler is None or _rollout_due(self._compiler)  # flows may move without a write
        started = time.perf_counter()
        revision, desired, compiler, changed_keys = self._compile(cache)
        logs.set_field("nb_revision", revision)  # what this task logs from now on names it
        compiled = time.perf_counter()
        self._follow_checks(cache)
        try:
            result = await reconciler.apply(compiler.state, revision, touched=self._unapplied)
        except (ApplyFailed, ChannelError) as exc:
            LOG.error("applying NB revision %d failed: %s; retrying in %.0fs", revision, exc, RETRY_SECONDS)
            self._unapplied = None  # how much reached the switch is unknown: compare everything
            self._unreported = self._unreported or report
            self._unconcerned = unconcerned + self._unconcerned
            self._schedule_retry()
            return
        self._unapplied = set()
        self._arm_timer(compiler)
        health = self.metrics.health
        health.applied_revision, health.last_apply = revision, time.time()
        heap.settle()  # the desired state and the switch's record live long: keep the collector off them
        if changed_keys is None or result.resynced or result.flow_mods_sent >= RELEASE_AFTER_MODS:
            heap.release()  # what the burst freed goes back to the system, not kept at its peak
        if result.flow_mods_sent or result.group_mods_sent or result.resynced:
            LOG.info(
                "revision %d applied: %d flow-mods, %d group-mods%s "
                "(compiled %s in %.1f ms, installed in %.1f ms)",
                revision,
                result.flow_mods_sent,
                result.group_mods_sent,
                " (after reading the switch)" if result.resynced else "",
                "everything" if changed_keys is None else f"{changed_keys} changed flows",
                (compiled - started) * 1000,
                (time.perf_counter() - compiled) * 1000,
            )
        # Reported in desired revisions (the last change that was not a status report): a waiter counts
        # the revisions after it that concern other chassis only as applied (`nbdb.concerns`), and a
        # report then moves only with a change concerning this chassis or when a waiting chain goes
        # into force while such a change is unreported, never because other chassis reported or wrote.
        in_force = compiler.in_force_revision(desired)
        moved = result.flow_mods_sent or result.group_mods_sent
        if not report and unconcerned and moved and not staging:
            LOG.warning(
                "revisions %s changed this chassis' flows though the API did not name it; reporting",
                ", ".join(unconcerned),
            )
            report = True
        owed = self._reported_in_force < cache.concerns.last_for(self.config.chassis)
        if report or (owed and in_force > self._reported_in_force):
            if self._report_can_wait():
                self._unreported = True  # the round already due reports a newer revision
                return
            await self._report(store, in_force, desired)

    def _report_can_wait(self) -> bool:
        """Whether this report may be left to the next round: another change arrived meanwhile (the
        round it wakes reports its newer revision, one commit instead of two: during a bulk bind, C
        chassis' reports per binding write were most of the NB's commits), unless the last report is
        REPORT_COALESCE old (a steady stream of changes still reports that often)."""
        due = time.monotonic() - self._last_report >= REPORT_COALESCE
        return self._unreported and self._wake.is_set() and not due

    async def _count_forever(
        self, store: NorthboundStore, cache: NbCache, channel: OpenFlowChannel, reconciler: Reconciler
    ) -> None:
        """Read the per-hop counters every `stats_interval`, or less often when many flows are counted
        (`agent.counters.poll_interval`): for /metrics, and into the NB for the API's statistics,
        written only when a counter moved."""
        cfg = self.config
        serving = False
        if cfg.metrics:
            try:
                serve(self.metrics, cfg.metrics)
                serving = True
                LOG.info("serving Prometheus metrics at http://%s/metrics", cfg.metrics)
            except OSError as exc:  # the chassis' controller runs on without its metrics
                LOG.error("cannot serve metrics at %s: %s", cfg.metrics, exc)
        if cfg.stats_interval <= 0:
            return
        counted = _Counted()
        interval, flows = cfg.stats_interval, 0
        while True:
            await asyncio.sleep(interval)
            health = self.metrics.health
            health.nb_revision, health.reconnects = cache.revision, max(0, channel.session - 1)
            health.flows_installed = len(reconciler.installed_flows)
            if not channel.connected:
                continue
            try:
                reading = await poll(channel, slice_bits(flows))
                interval, flows = self._next_poll(interval, reading.flows), reading.flows
                await self._count_once(store, cache, reading, counted, serving)
            except (ChannelError, StoreError) as exc:
                LOG.warning("reading or reporting the per-hop counters failed: %s", exc)
            except Exception:  # a bug here must not stop counting, nor the controller
                LOG.exception("counting failed; trying again in %.0fs", interval)

    def _next_poll(self, interval: float, flows: int) -> float:
        later = poll_interval(self.config.stats_interval, flows)
        if round(later) != round(interval):  # news when it moves by a second, not with every chain
            LOG.info("counting %d flows: reading them every %.1f s", flows, later)
        return later

    async def _count_once(
        self, store: NorthboundStore, cache: NbCache, reading: Reading, counted: _Counted, serving: bool
    ) -> None:
        """Key the reading by NB object, label it for /metrics and report it if it moved; nothing of
        that is redone while neither the counters nor the NB's desired state moved."""
        desired, now = cache.desired_revision, packed(reading)
        if now == counted.reading and desired == counted.desired:
            return
        with cache.held() as objects:
            tally = by_object(reading, objects)
            if serving:
                self.metrics.update(labelled(tally, objects))
        if tally != counted.reported:
            await asyncio.to_thread(report_counters, store, self.config.chassis, tally)
            if counted.reported is None:  # the first report since this agent started: an upgrade's leftover
                await asyncio.to_thread(drop_older_document, store, self.config.chassis)
            counted.reported = tally
        # only once reported: a failed report is tried again with the next poll
        counted.reading, counted.desired = now, desired

    def _arm_timer(self, compiler: ChassisCompiler) -> None:
        """Wake when a rollout times out or a retired view's grace ends."""
        if self._timer is not None:
            self._timer.cancel()
        deadline = compiler.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - time.monotonic()) + 0.001
            self._timer = asyncio.get_running_loop().call_later(delay, self._wake.set)

    def _compile(self, cache: NbCache) -> tuple[int, int, ChassisCompiler, int | None]:
        """Bring the desired state to the cache's revision: (revision, the revision of its last change
        that was not a status report, compiler, flow keys changed or None when compiled from scratch);
        `_unapplied` collects the keys until an apply succeeds."""
        compiler = self._compiler or ChassisCompiler(
            self.config.chassis, TUNNEL_OFPORT, times=self.config.rollout, concerns=cache.concerns
        )
        self._compiler = None  # until this compile completes: a failed one leaves a half-updated state
        with cache.taken() as (revision, objects, changed):
            # a new compiler compiles everything; a rollout waits for the revision of the last change
            # (other chassis report no revision that only carried status)
            desired = cache.desired_revision
            delta = compiler.compile(objects, changed, revision=desired, now=time.monotonic())
        self._compiler = compiler
        self.compiles += 1
        unapplied = self._unapplied
        self._unapplied = None if delta.everything or unapplied is None else unapplied | delta.flows
        return revision, desired, compiler, None if delta.everything else len(delta.flows)

    def _schedule_retry(self) -> None:
        """One pending retry at a time, however often applying fails meanwhile."""
        if self._retry is None or self._retry.cancelled() or self._retry_due():
            self._retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._wake.set)

    def _retry_due(self) -> bool:
        return self._retry is not None and self._retry.when() <= asyncio.get_running_loop().time()

    async def _report(self, store: NorthboundStore, in_force: int, installed: int) -> None:
        try:
            async with self._lock():
                await asyncio.to_thread(report_applied, store, self.config.chassis, in_force, installed)
        except StoreError as exc:
            LOG.warning("could not report applied revision %d: %s; retrying", in_force, exc)
            self._unreported = True
            self._schedule_retry()
            return
        self._reported_in_force = max(self._reported_in_force, in_force)
        self._last_report = time.monotonic()


def _rollout_due(compiler: ChassisCompiler) -> bool:
    """Whether a compile may move flows by itself: a chain waits for reports, or a timeout or grace is
    over (the flows moved then are no write's)."""
    deadline = compiler.next_deadline()
    return compiler.waiting or (deadline is not None and deadline <= time.monotonic())
