"""`steerflow agent` (the local controller of one chassis) and `steerflow wait` (until chassis caught up)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from steerflow.cli.output import print_error

if TYPE_CHECKING:  # the agent's imports (os-ken, ovsdbapp) load only when an agent runs
    from steerflow.agent.agent import Agent

NB_HELP = (
    "Northbound store URL (file:///PATH.db, redis://HOST:PORT/DB, etcd://HOST:PORT). Default: $STEERFLOW_NB."
)


def agent(
    chassis: Annotated[str, typer.Option(help="This chassis' name (ports bound here carry it).")],
    encap_ip: Annotated[str, typer.Option(help="Underlay IP other chassis reach this one at (Geneve).")],
    ovsdb: Annotated[str, typer.Option(help="OVSDB server of this chassis: unix:PATH.")],
    nb: Annotated[str | None, typer.Option(help=NB_HELP)] = None,
    bridge: Annotated[str, typer.Option(help="Integration bridge the agent owns.")] = "br-int",
    datapath: Annotated[
        str, typer.Option(help="datapath_type of the bridge (netdev: userspace).")
    ] = "netdev",
    openflow: Annotated[
        str | None, typer.Option(help="Bridge management socket unix:PATH. Default: beside the OVSDB socket.")
    ] = None,
    ready_timeout: Annotated[
        float,
        typer.Option(help="Seconds a changed chain waits for the chassis it newly sends to (then goes on)."),
    ] = 5.0,
    retire_grace: Annotated[
        float, typer.Option(help="Seconds what a changed chain no longer uses stays installed.")
    ] = 5.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run the local controller of one chassis until SIGTERM/SIGINT."""
    from steerflow.agent.agent import Agent, AgentConfig
    from steerflow.compiler.rollout import RolloutTimes

    if ready_timeout < 0 or retire_grace < 0:
        print_error("--ready-timeout and --retire-grace take seconds, 0 or more")
        raise typer.Exit(2)

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s {chassis} %(levelname)s %(name)s: %(message)s",
    )
    config = AgentConfig(
        chassis=chassis, encap_ip=encap_ip, ovsdb=ovsdb, nb_url=nb, bridge=bridge,
        datapath_type=datapath, openflow=openflow, rollout=RolloutTimes(ready_timeout, retire_grace),
    )  # fmt: skip
    try:
        asyncio.run(_run_until_signalled(Agent(config)))
    except ValueError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from None


async def _run_until_signalled(agent: Agent) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await agent.run(stop)


def wait(
    revision: Annotated[
        int | None, typer.Option(help="NB revision to wait for. Default: the current one.")
    ] = None,
    nb: Annotated[str | None, typer.Option(help=NB_HELP)] = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds (exit code 1).")] = 30.0,
) -> None:
    """Wait until every registered chassis has applied an NB revision to its switch."""
    from steerflow.nbdb.status import wait_applied
    from steerflow.nbdb.url import open_store

    try:
        store = open_store(nb)
    except ValueError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from None
    try:
        target = store.revision() if revision is None else revision
        result = wait_applied(store, target, timeout)
    finally:
        store.close()
    if not result.done:
        print_error(f"revision {target} not applied after {timeout:g}s by: {', '.join(result.lagging)}")
        raise typer.Exit(1)
    typer.echo(f"revision {target} applied by {len(result.applied)} chassis")
