"""`steerflow lab up|status|down`: build, inspect and remove a lab of emulated chassis from the shell."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.table import Table

from steerflow.lab import Lab, LabError, destroy, install_static_l2, leftovers
from steerflow.lab.lab import ChassisStatus
from steerflow.lab.names import check_prefix

PREFIX_ENV = "STEERFLOW_LAB_PREFIX"
RUN_DIR_ENV = "STEERFLOW_LAB_DIR"
DEFAULT_PREFIX = "sflab"
MAX_CHASSIS = 200
MAX_VMS = 250

lab_commands = click.Group(
    "lab",
    help="Emulated chassis (netns + userspace OVS) and VMs on this machine. Needs root.",
    no_args_is_help=True,
)


def _valid_prefix(ctx: click.Context, param: click.Parameter, prefix: str) -> str:
    try:
        return check_prefix(prefix)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


prefix_option = click.option(
    "--prefix", envvar=PREFIX_ENV, default=DEFAULT_PREFIX, show_default=True, callback=_valid_prefix,
    help="Name prefix of every namespace and link (<= 8 chars).",
)  # fmt: skip
run_dir_option = click.option(
    "--run-dir", type=click.Path(path_type=Path), envvar=RUN_DIR_ENV,
    help="Run dir (default /tmp/steerflow-lab-<prefix>).",
)  # fmt: skip
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors.")


@dataclass(frozen=True)
class LabPlan:
    """Addresses `lab up` gives chassis i (198.51.100.10+i) and VM k (203.0.113.k, 2001:db8::k)."""

    chassis: int
    vms_per_chassis: int

    def chassis_ip(self, i: int) -> str:
        return f"198.51.100.{10 + i}"

    def vm_addresses(self, k: int) -> tuple[str, str, str]:
        """(mac, ipv4 cidr, ipv6 cidr) of the k-th VM (1-based)."""
        return f"02:5f:00:00:{k >> 8:02x}:{k & 0xFF:02x}", f"203.0.113.{k}/24", f"2001:db8::{k:x}/64"


def run_dir_for(prefix: str, run_dir: Path | None) -> Path:
    return run_dir if run_dir is not None else Path(f"/tmp/steerflow-lab-{prefix}")


@lab_commands.command("up")
@click.option(
    "--chassis", type=click.IntRange(1, MAX_CHASSIS), default=2, show_default=True, help="Number of chassis."
)
@click.option("--vms", type=click.IntRange(min=0), default=2, show_default=True, help="VMs on each chassis.")
@prefix_option
@run_dir_option
@click.option(
    "--br-int/--no-br-int", default=True, show_default=True, help="Create br-int (else the agent will)."
)
@click.option(
    "--static-flows/--no-static-flows", default=True, show_default=True,
    help="Connect all VMs with static L2 flows.",
)  # fmt: skip
@quiet_option
def up(
    chassis: int, vms: int, prefix: str, run_dir: Path | None, br_int: bool, static_flows: bool, quiet: bool
) -> None:
    """Build the lab (replacing leftovers of an earlier lab with this prefix); on failure remove it again."""
    _setup(quiet)
    if chassis * vms > MAX_VMS:
        _fail(f"at most {MAX_VMS} VMs in all (the tenant range is one /24)")
    lab = Lab(run_dir_for(prefix, run_dir), prefix)
    try:
        _build(lab, LabPlan(chassis, vms), br_int)
        if br_int and static_flows:
            install_static_l2(lab)
            _check_connectivity(lab)
    except (LabError, OSError, ValueError, AssertionError) as exc:
        lab.teardown()
        _fail(f"lab up failed and was rolled back: {exc}")
    _print_status(lab.status())
    click.echo(f"lab {prefix} is up; run dir {lab.run_dir}")


def _build(lab: Lab, plan: LabPlan, br_int: bool) -> None:
    k = 0
    for i in range(1, plan.chassis + 1):
        ch = lab.add_chassis(f"ch{i}", plan.chassis_ip(i), create_br_int=br_int)
        for _ in range(plan.vms_per_chassis):
            k += 1
            mac, ipv4, ipv6 = plan.vm_addresses(k)
            lab.add_vm(ch, f"vm{k}", mac, ipv4, ipv6)
    lab.warm_underlay()


def _check_connectivity(lab: Lab) -> None:
    vms = list(lab.vms.values())
    for dst in vms[1:]:
        vms[0].wait_ping(dst.ipv4, timeout=5.0)
        if dst.ipv6:
            vms[0].wait_ping(dst.ipv6, timeout=5.0)


@lab_commands.command("status")
@prefix_option
@run_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(prefix: str, run_dir: Path | None, as_json: bool) -> None:
    """Show the lab's chassis: namespace, underlay address, daemon pids (alive or not) and VMs."""
    directory = run_dir_for(prefix, run_dir)
    try:
        lab = Lab.attach(directory)
    except LabError:
        _fail(f"no lab in {directory}")
    rows = lab.status()
    if as_json:
        click.echo(json.dumps([_status_json(s) for s in rows], indent=2))
    else:
        _print_status(rows)
    if not all(s.healthy for s in rows):
        raise click.exceptions.Exit(1)


@lab_commands.command("down")
@prefix_option
@run_dir_option
@quiet_option
def down(prefix: str, run_dir: Path | None, quiet: bool) -> None:
    """Remove the lab: its daemons (by pid), namespaces, links, bridge and run dir. Safe to repeat."""
    _setup(quiet)
    directory = run_dir_for(prefix, run_dir)
    try:
        try:
            Lab.attach(directory).teardown()
        except LabError:  # no state file: fall back to what the prefix names
            destroy(prefix, directory)
    except LabError as exc:
        _fail(str(exc))
    namespaces, links = leftovers(prefix)
    if namespaces or links:
        _fail(f"leftovers of lab {prefix}: {namespaces + links}")
    click.echo(f"lab {prefix} is down")


def _status_json(s: ChassisStatus) -> dict[str, object]:
    return {
        "chassis": s.name,  # not the NB schema: a key of the lab's status report (its chassis' name)
        "netns": s.netns,
        "netns_present": s.netns_present,
        "underlay_ip": s.underlay_ip,
        "pids": dict(s.pids),
        "vms": list(s.vms),
        "healthy": s.healthy,
    }


def _print_status(rows: list[ChassisStatus]) -> None:
    # not the NB schema: a table heading
    table = Table("chassis", "netns", "underlay IP", "ovsdb-server", "ovs-vswitchd", "VMs")
    for s in rows:
        netns = s.netns if s.netns_present else f"[red]{s.netns} (missing)[/red]"
        table.add_row(s.name, netns, s.underlay_ip, *map(_pid_cell, s.pids.values()), ", ".join(s.vms))
    Console(file=sys.stdout, highlight=False).print(table)


def _pid_cell(pid: int | None) -> str:
    return f"[green]{pid} alive[/green]" if pid is not None else "[red]not running[/red]"


def _setup(quiet: bool) -> None:
    if os.geteuid() != 0:
        _fail("the lab needs root (network namespaces, links, OVS daemons)")
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("steerflow.lab").setLevel(logging.WARNING if quiet else logging.INFO)


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise click.exceptions.Exit(1)


if __name__ == "__main__":
    lab_commands()
