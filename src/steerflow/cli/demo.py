"""`steerflow demo`: echo replies doctored by a service function once a chain exists, on a lab of 2 chassis.

The orchestration lives in `steerflow.demo` (world, scenario, rendering); this module is the command: its
checks (root, tools, encapsulation), the run with its cleanup on any failure, Ctrl-C or SIGTERM, and
`--down` for a world left up with `--keep`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click
from rich.console import Console

from steerflow.cli.output import print_error
from steerflow.model import schema

if TYPE_CHECKING:  # the lab and the orchestration load only when the demo runs
    from steerflow.demo import DemoWorld, Scenario
    from steerflow.demo.graph_scene import GraphScene

EXIT_UNAVAILABLE = 2
COUNTERS_WAIT = 5.0  # seconds the demo waits for the agents to report the chain's counters
LAB_TOOLS = ("ip", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovs-appctl",
             "ethtool", "ping")  # fmt: skip
NOT_ROOT = (
    "steerflow demo needs root: it builds emulated chassis out of network namespaces, veth links and "
    "Open vSwitch daemons. Run it as root (sudo .venv/bin/steerflow demo, or ./run.sh demo)."
)


class Encap(StrEnum):
    mpls = "mpls"
    nsh = "nsh"


@click.command("demo")
@click.option(
    "--keep/--no-keep", default=False, show_default=True,
    help="Leave the API, the agents and the lab up at the end, and say how to explore.",
)  # fmt: skip
@click.option(
    "--encap", type=click.Choice(Encap),
    help="mpls: an MPLS-aware function; nsh: an NSH chain (default: MPLS, unaware function).",
)  # fmt: skip
@click.option(
    "--graph", is_flag=True,
    help="Then a second scene: a service graph whose branch a NAT-like function selects.",
)  # fmt: skip
@click.option("--down", is_flag=True, help="Remove a demo left up with --keep, and exit.")
@click.option(
    "--prefix", envvar="STEERFLOW_DEMO_PREFIX", default="sfdemo", show_default=True,
    help="Lab name prefix (<= 8 chars).",
)  # fmt: skip
@click.option(
    "--run-dir", type=click.Path(path_type=Path),
    help="Where the demo keeps its files (default /tmp/steerflow-demo-PREFIX).",
)  # fmt: skip
@click.option(
    "--port", type=int, default=0, show_default=True, help="Port for the demo's API (0: a free one)."
)
@click.option("--message", "-m", multiple=True, help="A datagram to send (repeatable).")
def demo(
    keep: bool,
    encap: Encap | None,
    graph: bool,
    down: bool,
    prefix: str,
    run_dir: Path | None,
    port: int,
    message: Sequence[str],
) -> None:
    """Build 2 chassis with real agents, a client, an echo server and a service function; send datagrams
    without and then with a port chain created through the REST API; show both replies side by side.
    With --graph, then fan requests out through a service graph."""
    if down:
        raise click.exceptions.Exit(run_down(prefix, run_dir))
    encap_name = encap.value if encap is not None else None
    raise click.exceptions.Exit(run_demo(keep, encap_name, prefix, run_dir, port, message, graph))


def unavailable(encap: str | None) -> str | None:
    """Why the demo cannot run here (root, tools, encapsulation driver), or None."""
    if os.geteuid() != 0:
        return NOT_ROOT
    from steerflow.lab.chassis import ovs_schema

    missing = [t for t in LAB_TOOLS if shutil.which(t) is None]
    if missing or not ovs_schema().exists():
        what = ", ".join(missing) or f"the OVS schema {ovs_schema()}"
        return f"steerflow demo needs {what} (Open vSwitch, iproute2, ethtool, ping): ./run.sh install"
    if encap is not None:
        return encap_unavailable(encap)
    return None


def encap_unavailable(encap: str) -> str | None:
    from steerflow.compiler.encap import driver

    try:
        driver(encap)
    except Exception as exc:  # an absent or broken driver alike: the agents could not compile the chain
        return f"the {encap} encapsulation is not available in this steerflow ({exc}); try without --encap"
    return None


def _console() -> Console:
    if not sys.stdout.isatty():
        # piped output (CI, logs): rich would squeeze the tables into 80 columns
        os.environ.setdefault("COLUMNS", "160")
    return Console(highlight=False)


def run_demo(
    keep: bool = False,
    encap: str | None = None,
    prefix: str = "sfdemo",
    run_dir: Path | None = None,
    port: int = 0,
    messages: Sequence[str] | None = None,
    graph: bool = False,
) -> int:
    """The whole demo (`graph`: with the service graph scene); returns the exit code. Without `keep` (or
    after a failure) nothing stays behind."""
    problem = unavailable(encap)
    if problem:
        print_error(problem)
        return EXIT_UNAVAILABLE
    from steerflow.demo import DemoPaths, DemoWorld, Scenario, variant
    from steerflow.demo.scenario import DEFAULT_MESSAGES

    try:
        paths = DemoPaths.of(prefix, run_dir)
    except ValueError as exc:
        print_error(str(exc))
        return EXIT_UNAVAILABLE
    payloads = [m.encode() for m in (messages or DEFAULT_MESSAGES)]
    world = DemoWorld(paths, api_port=port)
    scenario = Scenario(world, variant(encap), payloads)
    scene = None
    if graph:
        from steerflow.demo.graph_scene import GraphScene

        scene = GraphScene(scenario)
    return _run(_console(), world, scenario, keep, scene)


def _run(out: Console, world: DemoWorld, scenario: Scenario, keep: bool, scene: GraphScene | None) -> int:
    from steerflow.client import ClientError
    from steerflow.demo.scenario import DemoError
    from steerflow.lab import LabError

    # AssertionError: the lab's wait helpers (e.g. VmHandle.wait_ping) raise it
    failures = (
        DemoError,
        ClientError,
        LabError,
        OSError,
        subprocess.SubprocessError,
        ValueError,
        AssertionError,
    )
    started = time.monotonic()
    out.rule("[bold]steerflow demo")
    out.print(f"[dim]{scenario.variant.description}; the chain will doctor the echo server's replies[/]")
    code, kept = 1, False
    with _terminate_as_exit():
        try:
            for line in world.prepare():
                out.print(f"[dim]earlier demo: {line}[/]")
            last = ("Trace one reply datagram through the model (steerflow trace)", scenario.trace_one)
            _steps(out, [*scenario.steps(), *(scene.steps() if scene is not None else ()), last])
            code = _results(out, scenario, scene)
            kept = keep
        except KeyboardInterrupt:
            out.print("[yellow]interrupted[/]")
            code = 130
        except SystemExit as exc:  # SIGTERM or SIGHUP
            out.print("[yellow]terminated[/]")
            code = exc.code if isinstance(exc.code, int) else 1
        except failures as exc:
            print_error(f"{type(exc).__name__}: {exc}")
            _log_tails(world)
        finally:
            scenario.close()
            if not kept:
                _cleanup(out, world)
    if kept:
        _kept(out, world, scenario)
    out.print(f"[dim]done in {time.monotonic() - started:.1f} s[/]")
    return code


def _steps(out: Console, steps: Sequence[tuple[str, Callable[[], str]]]) -> None:
    for number, (title, step) in enumerate(steps, 1):
        out.print(f"[bold cyan][{number}/{len(steps)}][/] {title}")
        began = time.monotonic()
        detail = step()
        out.print(f"      {detail} [dim]({time.monotonic() - began:.1f} s)[/]", soft_wrap=True)


def _results(out: Console, scenario: Scenario, scene: GraphScene | None) -> int:
    from steerflow.demo.render import path_lines, replies_table
    from steerflow.demo.scenario import NAMES

    assert scenario.client is not None
    out.print()
    out.print(replies_table(scenario.result))
    out.print(path_lines(scenario), markup=False)
    out.print()
    out.rule(f"[bold]The chain[/]: steerflow port-chain show {NAMES['chain']}")
    run_cli(scenario.client.endpoint, ["port-chain", "show", NAMES["chain"]])
    _counters(out, scenario)
    if not scenario.result.doctored_ok:
        print_error("the replies through the chain are not the doctored ones (see the table)")
        return 1
    return _graph_results(out, scenario, scene) if scene is not None else 0


def _counters(out: Console, scenario: Scenario) -> None:
    """The chain's counters once the agents have reported the replies it carried (they read their
    switches' counters every second)."""
    from steerflow.demo.scenario import NAMES

    assert scenario.client is not None
    client, carried = scenario.client, len(scenario.result.messages)
    chain_id = client.find_id(schema.PORT_CHAIN, NAMES["chain"])
    deadline = time.monotonic() + COUNTERS_WAIT
    while time.monotonic() < deadline:
        stats = client.chain_statistics(chain_id)
        if sum(fc["packets"] for fc in stats["flow_classifiers"]) >= carried:
            break
        time.sleep(0.25)
    out.print()
    out.rule(f"[bold]Its counters[/]: steerflow port-chain stats {NAMES['chain']}")
    run_cli(client.endpoint, ["port-chain", "stats", NAMES["chain"]])


def _graph_results(out: Console, scenario: Scenario, scene: GraphScene) -> int:
    from steerflow.demo.graph_scene import GRAPH_NAMES, graph_table

    assert scenario.client is not None
    out.print()
    out.print(graph_table(scene.result))
    out.print()
    out.rule(f"[bold]The graph[/]: steerflow service-graph show {GRAPH_NAMES['graph']}")
    run_cli(scenario.client.endpoint, ["service-graph", "show", GRAPH_NAMES["graph"]])
    if not scene.result.ok:
        print_error("the echoes through the graph are not the ones its branches doctor (see the table)")
        return 1
    return 0


def run_cli(endpoint: str, argv: Sequence[str]) -> int:
    """Run one steerflow CLI command in this process, exactly as a user would type it."""
    from steerflow.cli.main import app

    result = app.main(["--endpoint", endpoint, *argv], prog_name="steerflow", standalone_mode=False)
    return int(result or 0)


def _cleanup(out: Console, world: DemoWorld) -> None:
    if not world.prepared:
        return
    out.print("[dim]cleaning up: echo server, agents, API, lab namespaces, run dir[/]")
    with _signals_held():
        world.teardown()


def _kept(out: Console, world: DemoWorld, scenario: Scenario) -> None:
    from steerflow.demo.render import keep_instructions

    out.print()
    out.rule("[bold]The demo stays up (--keep)")
    out.print(keep_instructions(world, scenario), markup=False, soft_wrap=True)


def _log_tails(world: DemoWorld) -> None:
    from steerflow.demo.render import print_log_tails

    print_log_tails(Console(file=sys.stderr, highlight=False), world.logs())


def run_down(prefix: str, run_dir: Path | None) -> int:
    """`--down`: remove a kept demo (its processes by pid, its lab, its run dir)."""
    if os.geteuid() != 0:
        print_error(NOT_ROOT)
        return EXIT_UNAVAILABLE
    from steerflow.demo import DemoPaths, down
    from steerflow.lab import LabError

    try:
        paths = DemoPaths.of(prefix, run_dir)
        with _signals_held():
            done = down(paths)
    except (LabError, ValueError, OSError) as exc:
        print_error(str(exc))
        return 1
    for line in done:
        click.echo(line)
    click.echo(f"demo {paths.prefix} is down" if done else f"no demo {paths.prefix} to remove")
    return 0


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like an exception, so the cleanup in `finally` still runs."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while cleaning up, so a second one cannot cut it short; re-raise
    the first after."""
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, hold) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt if received[0] == signal.SIGINT else SystemExit(128 + received[0])
