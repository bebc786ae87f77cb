"""`steerflow agent` (the local controller of one chassis) and `steerflow wait` (until chassis caught up)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

import click

from steerflow.cli.logging_options import log_options, start_logging
from steerflow.cli.output import one_line, print_error

if TYPE_CHECKING:  # the agent's imports (os-ken, ovsdbapp) load only when an agent runs
    from steerflow.agent.agent import Agent

EXIT_CANNOT_RUN = 2
LOG = logging.getLogger("steerflow.cli")
NB_HELP = (
    "Northbound store URL (file:///PATH.db, redis://HOST:PORT/DB, etcd://HOST:PORT). Default: $STEERFLOW_NB."
)


@click.command("agent")
@click.option("--chassis", required=True, help="This chassis' name (ports bound here carry it).")
@click.option("--encap-ip", required=True, help="Underlay IP other chassis reach this one at (Geneve).")
@click.option("--ovsdb", required=True, help="OVSDB server of this chassis: unix:PATH.")
@click.option("--nb", help=NB_HELP)
@click.option("--bridge", default="br-int", show_default=True, help="Integration bridge the agent owns.")
@click.option(
    "--datapath",
    help="datapath_type of the bridge: system (kernel) or netdev (userspace). "
    "Default: system when the host's ovs-vswitchd supports it and the openvswitch module is loaded.",
)
@click.option("--openflow", help="Bridge management socket unix:PATH. Default: beside the OVSDB socket.")
@click.option(
    "--ready-timeout", type=float, default=5.0, show_default=True,
    help="Seconds a changed chain waits for the chassis it newly sends to (then goes on).",
)  # fmt: skip
@click.option(
    "--retire-grace", type=float, default=5.0, show_default=True,
    help="Seconds what a changed chain no longer uses stays installed.",
)  # fmt: skip
@click.option("--metrics", help="Serve Prometheus /metrics at HOST:PORT (per-hop counters, agent health).")
@click.option(
    "--stats-interval",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds between two reads of the per-hop counters (0: never read them).",
)
@click.option(
    "--heartbeat", "heartbeat_interval", type=float, default=3.0, show_default=True,
    help="Seconds between heartbeats (a chassis silent for the API's --chassis-down-after is down).",
)  # fmt: skip
@log_options
@click.option("--verbose", "-v", is_flag=True, help="Debug logging (as --log-level debug).")
@click.pass_context
def agent(
    ctx: click.Context,
    chassis: str,
    encap_ip: str,
    ovsdb: str,
    nb: str | None,
    bridge: str,
    datapath: str | None,
    openflow: str | None,
    ready_timeout: float,
    retire_grace: float,
    metrics: str | None,
    stats_interval: float,
    heartbeat_interval: float,
    log_format: str,
    log_level: str,
    verbose: bool,
) -> None:
    """Run the local controller of one chassis until SIGTERM/SIGINT."""
    from steerflow.agent.agent import Agent, AgentConfig
    from steerflow.compiler.rollout import RolloutTimes

    if ready_timeout < 0 or retire_grace < 0 or stats_interval < 0:
        print_error("--ready-timeout, --retire-grace and --stats-interval take seconds, 0 or more")
        raise click.exceptions.Exit(EXIT_CANNOT_RUN)
    if not heartbeat_interval > 0:
        print_error("--heartbeat takes seconds, more than 0")
        raise click.exceptions.Exit(EXIT_CANNOT_RUN)
    problem = refused_store(nb) or missing_socket(ovsdb, "--ovsdb", "ovsdb-server")
    if problem is None and metrics is not None and not metrics.rpartition(":")[2].isdigit():
        problem = f"--metrics takes HOST:PORT, not {metrics!r}"
    if problem is None and openflow is not None:
        problem = missing_socket(openflow, "--openflow", "the bridge's ovs-vswitchd")
    if problem is None:
        problem = unusable_store(nb)
    if problem is not None:
        print_error(problem)
        raise click.exceptions.Exit(EXIT_CANNOT_RUN)

    start_logging(ctx, log_format, f"{log_level},debug" if verbose else log_level, chassis=chassis)
    config = AgentConfig(
        chassis=chassis, encap_ip=encap_ip, ovsdb=ovsdb, nb_url=nb, bridge=bridge,
        datapath_type=datapath, openflow=openflow, rollout=RolloutTimes(ready_timeout, retire_grace),
        metrics=metrics, stats_interval=stats_interval, heartbeat_interval=heartbeat_interval,
    )  # fmt: skip
    try:
        asyncio.run(_run_until_signalled(Agent(config)))
    except Exception as exc:  # a daemon's failure to run is one line, never a traceback
        LOG.debug("the agent stopped", exc_info=True)  # --verbose shows where
        print_error(f"agent of chassis {chassis}: {one_line(exc)}")
        raise click.exceptions.Exit(EXIT_CANNOT_RUN) from None


def missing_socket(target: str, option: str, server: str) -> str | None:
    """Why a unix:PATH socket cannot be reached (no file there, or nobody listening on it: what a dead
    server leaves behind), before anything is registered."""
    import socket
    from pathlib import Path

    if not target.startswith("unix:"):
        return None
    path = Path(target.removeprefix("unix:"))
    if not path.exists():
        return f"cannot reach {server} at {target} ({option}): no socket there (is it running?)"
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(str(path))
        except OSError as exc:
            return f"cannot reach {server} at {target} ({option}): {exc.strerror or exc} (is it running?)"
    return None


def refused_store(nb: str | None) -> str | None:
    """Why the agent cannot use this NB store URL: memory:// lives inside one process (the API's)."""
    from urllib.parse import urlsplit

    from steerflow.nbdb.url import default_nb_url

    url = (nb or "").strip() or default_nb_url()
    if "://" in url and urlsplit(url).scheme == "memory":
        return (
            f"the agent cannot use {url}: a memory store lives inside one process; give the agent the "
            "store the API serves (file:///PATH.db on the same machine, redis://HOST:PORT/DB or etcd://HOST:PORT)"
        )
    return None


def unusable_store(nb: str | None) -> str | None:
    """Why the store cannot be opened and read (bad URL, unreachable server), before anything is logged:
    a daemon that cannot start says so in one line."""
    from steerflow.cli.nb_cmd import refuse_newer_schema
    from steerflow.nbdb.api import StoreError
    from steerflow.nbdb.migrate import stamp_if_fresh
    from steerflow.nbdb.url import open_store

    try:
        store = open_store(nb)
    except ValueError as exc:
        return one_line(exc)
    try:
        store.revision()
        refuse_newer_schema(store, "agent")  # exits 3: a newer NB is not this agent's to read
        stamp_if_fresh(store)  # an agent started before any API server: the NB is still a new one
    except StoreError as exc:
        return one_line(exc)
    finally:
        store.close()
    return None


async def _run_until_signalled(agent: Agent) -> None:
    from steerflow import sdnotify

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        sdnotify.stopping()  # systemd shows "deactivating" rather than waiting blind
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping)
    await agent.run(stop)


@click.command("wait")
@click.option("--revision", type=int, help="NB revision to wait for. Default: the current one.")
@click.option("--nb", help=NB_HELP)
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Give up after this many seconds (exit code 1).",
)
@click.option(
    "--down-after",
    type=click.FloatRange(min=0, min_open=True),
    help="A chassis not heard from for this many seconds is down and not waited for. "
    "Default: $STEERFLOW_CHASSIS_DOWN_AFTER or 10.",
)
def wait(revision: int | None, nb: str | None, timeout: float, down_after: float | None) -> None:
    """Wait until every live chassis has applied an NB revision to its switch (down ones are skipped)."""
    from steerflow.nbdb.api import StoreError
    from steerflow.nbdb.status import down_after_seconds, wait_applied
    from steerflow.nbdb.url import open_store

    try:
        limit = down_after_seconds() if down_after is None else down_after
        store = open_store(nb)
    except ValueError as exc:
        print_error(str(exc))
        raise click.exceptions.Exit(EXIT_CANNOT_RUN) from None
    try:
        target = store.revision() if revision is None else revision
        result = wait_applied(store, target, timeout, down_after=limit)
    except StoreError as exc:
        print_error(one_line(exc))
        raise click.exceptions.Exit(EXIT_CANNOT_RUN) from None
    finally:
        store.close()
    skipped = f" (skipped, down: {', '.join(result.skipped)})" if result.skipped else ""
    if not result.done:
        lagging = ", ".join(result.lagging)
        print_error(f"revision {target} not applied after {timeout:g}s by: {lagging}{skipped}")
        raise click.exceptions.Exit(1)
    click.echo(f"revision {target} applied by {len(result.applied)} chassis{skipped}")
