"""The agent's health checks: which local function instances to probe, and the probing loops.

The mechanism of one probe (`Probe`) is given by the caller; this module decides what is probed (the
instances of checked groups whose ingress is bound on this chassis), paces each instance by its group's
`interval_ms`, counts failures (`nbdb.health.HealthCounter`) and reports the first result and every
change (`Report`, e.g. `nbdb.health.report_health` in a thread). A probe that does not answer within
the interval counts as failed, so a hung function is detected like a dead one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.agent.probe_frames import ProbeHeader, borrowed_address
from steerflow.model import schema
from steerflow.nbdb.health import CheckSettings, HealthCounter, check_settings

LOG = logging.getLogger(__name__)

Docs = Mapping[str, Mapping[str, Mapping[str, Any]]]
PLAIN = ProbeHeader()  # an SFC-unaware function's probe: no header
NSH_SI_START = 255  # a hop's SI is 255 - its position (`compiler.encap.nsh`)
UNUSED_LABEL = (1 << 20) - 1  # the header of a group no chain uses yet: the last label, the last SPI
UNUSED_SPI = (1 << 24) - 1


@dataclass(frozen=True)
class LocalCheck:
    """One function instance this chassis probes: its port pair, ports (and their ofports here), and
    what its probes need: the header it expects (`datapath`), its ingress port's MAC and IPv4 address
    and the address of that subnet a check borrows as its source (`arp`/`icmp`/`tcp`)."""

    pair_id: str
    settings: CheckSettings
    ingress: str
    egress: str
    ingress_ofport: int | None = None
    egress_ofport: int | None = None
    group_id: str = ""
    header: ProbeHeader = PLAIN
    ingress_mac: str = ""
    ingress_ip: str | None = None
    source_ip: str | None = None


class ProbeUnavailable(Exception):
    """The probe could not be sent (the agent's own switch connection is down): it says nothing about
    the function, so it counts neither way: an agent never takes an instance out for its own trouble."""


Probe = Callable[[LocalCheck], Awaitable[bool]]
Report = Callable[[str, bool], Awaitable[None]]


def local_checks(objects: Docs, chassis: str) -> dict[str, LocalCheck]:
    """pair id -> its check, for every instance of a checked group whose ingress is bound on `chassis`
    (a pair in several checked groups is probed once, with the first group's settings by id)."""
    bindings = objects.get(schema.PORT_BINDING, {})
    found: dict[str, LocalCheck] = {}
    for group_id, group in sorted(objects.get(schema.PORT_PAIR_GROUP, {}).items()):
        settings = check_settings(group)
        if settings is None:
            continue
        for pair_id in group.get("port_pairs") or ():
            pair = objects.get(schema.PORT_PAIR, {}).get(pair_id)
            if pair is None or pair_id in found:
                continue
            ingress, egress = bindings.get(pair["ingress"]), bindings.get(pair["egress"])
            if ingress is None or ingress.get(schema.CHASSIS) != chassis:
                continue
            found[pair_id] = LocalCheck(
                pair_id,
                settings,
                pair["ingress"],
                pair["egress"],
                ingress.get("ofport"),
                None if egress is None else egress.get("ofport"),
                group_id,
                _header(objects, group_id, pair),
                *_addresses(objects, pair["ingress"]),
            )
    return found


def _header(objects: Docs, group_id: str, pair: Mapping[str, Any]) -> ProbeHeader:
    """The header a datapath probe of `pair` carries: its correlation's, for the hop of the first chain
    (by id) through the group, or a path no chain uses when none does yet."""
    correlation = (pair.get("service_function_parameters") or {}).get("correlation")
    if correlation is None:
        return PLAIN
    for _, chain in sorted(objects.get(schema.PORT_CHAIN, {}).items()):
        groups = list(chain.get("port_pair_groups") or ())
        label = (chain.get(schema.HOP_LABELS) or {}).get(group_id)
        if group_id in groups and label:
            si = NSH_SI_START - groups.index(group_id)
            return ProbeHeader(str(correlation), int(label), int(chain.get("chain_id") or 0), si)
    return ProbeHeader(str(correlation), UNUSED_LABEL, UNUSED_SPI, NSH_SI_START)


def _addresses(objects: Docs, port_id: str) -> tuple[str, str | None, str | None]:
    """The port's MAC, first IPv4 address, and the address of its subnet a check borrows."""
    port = objects.get(schema.PORT, {}).get(port_id) or {}
    for fixed in port.get("fixed_ips") or ():
        address = str(fixed.get("ip_address") or "")
        subnet = objects.get(schema.SUBNET, {}).get(str(fixed.get("subnet_id")))
        if ":" in address or not address or subnet is None:
            continue
        return str(port.get("mac_address") or ""), address, borrowed_address(str(subnet["cidr"]), address)
    return str(port.get("mac_address") or ""), None, None


class HealthProber:
    """One probing task per local check; `update` follows the NB, `close` stops them all."""

    def __init__(self, probe: Probe, report: Report) -> None:
        self._probe = probe
        self._report = report
        self._tasks: dict[str, tuple[LocalCheck, asyncio.Task[None]]] = {}

    @property
    def probing(self) -> frozenset[str]:
        return frozenset(self._tasks)

    def update(self, checks: Mapping[str, LocalCheck]) -> None:
        """Start the checks that are new or changed, stop the ones gone (a changed one restarts)."""
        for pair_id in list(self._tasks):
            check, task = self._tasks[pair_id]
            if checks.get(pair_id) != check:
                task.cancel()
                del self._tasks[pair_id]
        for pair_id, check in checks.items():
            if pair_id not in self._tasks:
                self._tasks[pair_id] = (check, asyncio.create_task(self._run(check)))

    async def close(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        # gather, not `suppress(CancelledError)` around each await: a cancel of close itself must propagate
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, check: LocalCheck) -> None:
        interval = check.settings.interval_ms / 1000
        counter = HealthCounter(check.settings.failures)
        reported: bool | None = None
        loop = asyncio.get_running_loop()
        while self._wanted(check.pair_id):
            started = loop.time()
            ok = await self._one_probe(check, interval)
            if ok is not None:
                counter.record(ok)
            if ok is not None and counter.healthy != reported:
                try:
                    await self._report(check.pair_id, counter.healthy)
                    reported = counter.healthy
                except Exception:  # the store is down: report again after the next probe
                    LOG.exception("reporting the health of %s failed", check.pair_id)
            await asyncio.sleep(max(0.0, started + interval - loop.time()))

    def _wanted(self, pair_id: str) -> bool:
        """Whether the running task is still the one probing `pair_id`: a loop whose cancellation was
        lost (a probe finishing just as it was cancelled) still ends at its next turn."""
        entry = self._tasks.get(pair_id)
        return entry is not None and entry[1] is asyncio.current_task()

    async def _one_probe(self, check: LocalCheck, interval: float) -> bool | None:
        """The probe's result; None when it could not be sent (`ProbeUnavailable`): no result."""
        try:
            async with asyncio.timeout(interval):  # unlike 3.11's wait_for, never swallows a cancel
                return await self._probe(check)
        except ProbeUnavailable:
            return None
        except TimeoutError:
            return False
        except Exception:  # a probe that cannot run fails, it does not stop the loop
            LOG.exception("probing %s failed", check.pair_id)
            return False
