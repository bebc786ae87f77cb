"""How the demo shows itself: the replies side by side, the path, and how to explore a kept world."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from steerflow.demo.echo_service import ECHO_PORT
from steerflow.demo.scenario import ADD, ADDRESSES, NAMES, Result, Scenario, doctored
from steerflow.demo.world import DEFAULT_PREFIX, DemoWorld, default_run_dir

LOG_TAIL_LINES = 15


def payload_text(payload: bytes | None) -> str:
    """A payload as quoted text; bytes outside printable ASCII as \\xNN (rich markup escaped)."""
    if payload is None:
        return "[red](no reply)[/]"
    text = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in payload)
    return escape(f'"{text}"')


def replies_table(result: Result) -> Table:
    table = Table(title="What the client got back", title_justify="left", show_lines=True)
    table.add_column("client sent")
    table.add_column("reply without the chain")
    table.add_column("reply through the chain")
    table.add_column("")
    for i, sent in enumerate(result.messages):
        plain = _at(result.without_chain, i)
        chained = _at(result.with_chain, i)
        ok = chained == doctored(sent)
        verdict = (
            f"[green]doctored: +{ADD} per byte[/]"
            if ok
            else f"[red]expected {payload_text(doctored(sent))}[/]"
        )
        table.add_row(payload_text(sent), payload_text(plain), f"[bold]{payload_text(chained)}[/]", verdict)
    return table


def _at(replies: list[bytes | None], i: int) -> bytes | None:
    return replies[i] if i < len(replies) else None


def path_lines(scenario: Scenario) -> str:
    client, server = ADDRESSES["client"], ADDRESSES["server"]
    doctor = f"doctor (ch2, {scenario.variant.function_mode}, +{ADD})"
    return (
        f"  request  client {client} (ch1) --UDP:{ECHO_PORT}--> server {server} (ch2)\n"
        f"  reply    server (ch2) --[{NAMES['classifier']}]--> {doctor} --> client (ch1)\n"
        f"  chain    {NAMES['chain']}: {scenario.variant.description}"
    )


def keep_instructions(world: DemoWorld, scenario: Scenario) -> str:
    """What a user can do with the world left running, and how to remove it."""
    paths, lab = world.paths, world.lab
    endpoint = world.api.endpoint if world.api else "?"
    client = scenario.vms["client"]
    ch2 = lab.chassis["ch2"]
    pids = ", ".join(f"{r.role} {r.pid}" for r in world.recorded)
    py = shlex.quote(sys.executable)
    down_prefix = f" --prefix {paths.prefix}" if paths.prefix != DEFAULT_PREFIX else ""
    run_dir_opt = (
        f" --run-dir {paths.run_dir}" if paths.run_dir != default_run_dir(paths.prefix).absolute() else ""
    )
    return "\n".join([
        f"run dir   {paths.run_dir}   (store nb.db, logs *.log, state demo.json, lab lab/)",
        f"processes {pids}",
        "",
        f"  open {endpoint}/ui/   (the live web view: chassis, functions, the chain and its traffic)",
        f"  export STEERFLOW_ENDPOINT={endpoint}",
        f"  steerflow port-chain show {NAMES['chain']}",
        f"  steerflow lab status --prefix {paths.prefix} --run-dir {paths.lab_dir}",
        f"  ip netns exec {client.netns} {py} -m steerflow.demo.echo ask --text "
        f"--dst {ADDRESSES['server']} 'hi there'",
        f"  ip netns exec {ch2.netns} env OVS_RUNDIR={ch2.run_dir} ovs-ofctl -O OpenFlow13 dump-flows "
        f"unix:{ch2.mgmt_socket}",
        f"  tail {lab.run_dir / 'doctor' / 'sfemu.log'}",
        "",
        f"stop it:  steerflow demo --down{down_prefix}{run_dir_opt}",
        f"     or:  kill <the pids above> && steerflow lab down --prefix {paths.prefix} "
        f"--run-dir {paths.lab_dir} && rm -rf {paths.run_dir}",
    ])  # fmt: skip


def print_log_tails(out: Console, logs: Mapping[str, str]) -> None:
    """The end of each log, for a failed run whose files are about to be removed."""
    for name, text in logs.items():
        tail = text.splitlines()[-LOG_TAIL_LINES:]
        if tail:
            out.print(f"[dim]--- {name} (last {len(tail)} lines) ---[/]")
            out.print("\n".join(tail), markup=False, highlight=False, soft_wrap=True)
