"""The agent's health checks: what is probed on a chassis, and the probing loops' reports."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from steerflow.agent.health import PLAIN, HealthProber, LocalCheck, ProbeUnavailable, local_checks
from steerflow.agent.probe_frames import ProbeHeader
from steerflow.model import schema
from steerflow.nbdb.health import CheckSettings
from tests.builders.chain_docs import chain_nb

FAST = CheckSettings("datapath", interval_ms=10, failures=2)


def _checked_nb(params: dict[str, Any] | None) -> dict[str, Any]:
    nb = chain_nb(correlation=None, sf_chassis="ch2")
    if params is not None:
        nb[schema.PORT_PAIR_GROUP]["ppg1"]["port_pair_group_parameters"] = params
    return nb


def test_the_chassis_of_a_checked_instance_s_ingress_probes_it_with_the_group_s_settings() -> None:
    nb = _checked_nb({"health_check": {"type": "icmp", "interval_ms": 100, "failures": 2}})
    nb[schema.SUBNET] = {"s": {"id": "s", "cidr": "203.0.113.0/24"}}
    checks = local_checks(nb, "ch2")
    assert checks == {
        "pp1": LocalCheck(
            "pp1", CheckSettings("icmp", 100, 2), "sf-in", "sf-out", 3, 4, "ppg1", PLAIN,
            "02:00:00:00:00:03", "203.0.113.3", "203.0.113.254",
        )
    }  # fmt: skip
    assert local_checks(nb, "ch1") == {}
    assert local_checks(_checked_nb(None), "ch2") == {}
    assert local_checks(_checked_nb({"health_check": {"type": "none"}}), "ch2") == {}


def _check(pair_id: str) -> LocalCheck:
    return LocalCheck(pair_id, FAST, f"{pair_id}-in", f"{pair_id}-out")


async def _probe_for(seconds: float, alive: dict[str, bool], hung: frozenset[str] = frozenset()) -> list[Any]:
    reports: list[tuple[str, bool]] = []

    async def probe(check: LocalCheck) -> bool:
        if check.pair_id in hung:
            await asyncio.sleep(3600)
        return alive[check.pair_id]

    async def report(pair_id: str, healthy: bool) -> None:
        reports.append((pair_id, healthy))

    prober = HealthProber(probe, report)
    prober.update({p: _check(p) for p in alive})
    await asyncio.sleep(seconds)
    alive["a"] = False  # "a" dies
    await asyncio.sleep(seconds)
    alive["a"] = True
    await asyncio.sleep(seconds)
    prober.update({"b": _check("b")})
    assert prober.probing == {"b"}
    await prober.close()
    return reports


def test_the_first_result_and_each_change_are_reported_and_nothing_else() -> None:
    reports = asyncio.run(_probe_for(0.3, {"a": True, "b": True}))
    assert [r for r in reports if r[0] == "a"] == [("a", True), ("a", False), ("a", True)]
    assert [r for r in reports if r[0] == "b"] == [("b", True)]


def test_a_probe_that_never_answers_fails() -> None:
    reports = asyncio.run(_probe_for(0.3, {"a": True, "h": True}, hung=frozenset({"h"})))
    # one timeout is not yet `failures` (2) in a row: healthy first, then out
    assert [r for r in reports if r[0] == "h"] == [("h", True), ("h", False)]


@pytest.mark.parametrize(("correlation", "header"), [
    ("mpls", ProbeHeader("mpls", 100, 1, 255)),
    ("nsh", ProbeHeader("nsh", 100, 1, 255)),
])  # fmt: skip
def test_an_aware_instance_is_probed_in_the_header_of_its_hop(correlation: str, header: ProbeHeader) -> None:
    nb = chain_nb(correlation=correlation, sf_chassis="ch2")
    nb[schema.PORT_PAIR_GROUP]["ppg1"]["port_pair_group_parameters"] = {"health_check": {"type": "datapath"}}
    assert local_checks(nb, "ch2")["pp1"].header == header
    del nb[schema.PORT_CHAIN]
    unused = local_checks(nb, "ch2")["pp1"].header
    assert unused == ProbeHeader(correlation, (1 << 20) - 1, (1 << 24) - 1, 255)


def test_a_probe_that_cannot_be_sent_counts_neither_way() -> None:
    reports: list[tuple[str, bool]] = []
    sendable = {"now": False}

    async def probe(check: LocalCheck) -> bool:
        if not sendable["now"]:
            raise ProbeUnavailable("no session")
        return False  # once it can be sent, the function is found dead

    async def report(pair_id: str, healthy: bool) -> None:
        reports.append((pair_id, healthy))

    async def run() -> None:
        prober = HealthProber(probe, report)
        prober.update({"a": _check("a")})
        await asyncio.sleep(0.15)  # ~15 unavailable probes: no result, no report
        assert reports == []
        sendable["now"] = True
        for _ in range(500):  # until found dead (2 failures at 10 ms), however loaded the machine
            if len(reports) == 2:
                break
            await asyncio.sleep(0.01)
        await prober.close()

    asyncio.run(run())
    assert reports == [("a", True), ("a", False)]  # first result (1 failure), then FAST's 2 in a row


def test_close_ends_a_loop_whose_cancellation_was_lost() -> None:
    """A loop whose cancellation is lost (3.11's wait_for returns the result when the awaited call
    finishes just as it is cancelled; here a report swallows it) must still end after close: else
    close waits forever and the agent never stops."""

    async def probe(check: LocalCheck) -> bool:
        return True

    async def report_swallowing_cancel(pair_id: str, healthy: bool) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return  # the cancellation is lost here

    async def run() -> None:
        prober = HealthProber(probe, report_swallowing_cancel)
        prober.update({"a": LocalCheck("a", CheckSettings("datapath", interval_ms=10, failures=2), "i", "o")})
        await asyncio.sleep(0.05)  # the first result is being reported
        await asyncio.wait_for(prober.close(), timeout=2)

    asyncio.run(run())
