"""Removing everything a lab instance owns, found by its prefix: works after a crash and is idempotent."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from steerflow.lab.chassis import DAEMONS
from steerflow.lab.names import LabNames
from steerflow.lab.procs import kill_pids, owned_pid, pid_alive
from steerflow.lab.sh import LabError, poll_until, run, try_run
from steerflow.lab.state import STATE_FILE, load_state

log = logging.getLogger("steerflow.lab")


def list_netns() -> list[str]:
    out = run(["ip", "-j", "netns", "list"]).stdout.strip()
    return [entry["name"] for entry in json.loads(out)] if out else []


def list_links(netns: str | None = None) -> list[str]:
    argv = ["ip", "-j", "link", "show"] if netns is None else ["ip", "-n", netns, "-j", "link", "show"]
    proc = run(argv, check=False)
    if proc.returncode != 0:  # the namespace vanished meanwhile
        return []
    return [entry["ifname"] for entry in json.loads(proc.stdout or "[]")]


def leftovers(prefix: str) -> tuple[list[str], list[str]]:
    """(namespaces, root-namespace links) that belong to this prefix."""
    names = LabNames(prefix)
    return [n for n in list_netns() if names.owns_netns(n)], [x for x in list_links() if names.owns_link(x)]


def lab_pids(prefix: str, run_dir: Path) -> set[int]:
    """Our daemons from their pidfiles (checked against our run dir) plus every process in our namespaces."""
    pids: set[int] = set()
    for daemon in DAEMONS if run_dir.is_dir() else ():
        for pidfile in run_dir.glob(f"*/{daemon}.pid"):
            pid = owned_pid(pidfile)
            if pid is not None:
                pids.add(pid)
    names = LabNames(prefix)
    for ns in list_netns():
        if names.owns_netns(ns):
            out = run(["ip", "netns", "pids", ns], check=False).stdout
            pids.update(int(tok) for tok in out.split() if tok.isdigit())
    return pids


def destroy(prefix: str, run_dir: Path, timeout: float = 10.0) -> None:
    """Kill the lab's processes by pid, delete its namespaces, links, bridge and run dir, then check
    that they are gone."""
    names = LabNames(prefix)
    run_dir = run_dir.absolute()  # pidfile paths on the daemons' command lines are absolute
    pids = lab_pids(prefix, run_dir)
    if pids:
        kill_pids(pids)
    for ns in list_netns():
        if names.owns_netns(ns):
            _delete_netns(names, ns)
    for link in list_links():
        if names.owns_link(link):
            log.info("deleting link %s", link)
            try_run(["ip", "link", "del", link])
    _remove_run_dir(run_dir)
    try:
        poll_until(lambda: leftovers(prefix) == ([], []), timeout, f"lab {prefix} resources to disappear")
    except LabError as exc:
        raise LabError(f"{exc}; still present: {leftovers(prefix)}") from None


def sweep_orphans(base_dir: Path) -> list[str]:
    """Destroy the labs under base_dir whose owner process is gone (a run killed by SIGKILL or a hard
    timeout never reached its teardown); labs of live processes are left alone. Returns their prefixes."""
    removed: list[str] = []
    for state_file in sorted(base_dir.glob(f"*/{STATE_FILE}")) if base_dir.is_dir() else []:
        try:
            state = load_state(state_file.parent)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written right now, or not ours to judge
        if state is None or pid_alive(state.owner_pid):
            continue
        log.info(
            "lab %s in %s is orphaned (pid %d is gone): removing it",
            state.prefix,
            state.run_dir,
            state.owner_pid,
        )
        destroy(state.prefix, state.run_dir)
        removed.append(state.prefix)
    return removed


def _delete_netns(names: LabNames, ns: str) -> None:
    # Deleting links explicitly first makes their removal synchronous; a dropped namespace frees its
    # devices asynchronously, so a test checking right after could still see the peers.
    for link in list_links(ns):
        if names.owns_link(link):
            try_run(["ip", "-n", ns, "link", "del", link])
    log.info("deleting namespace %s", ns)
    try_run(["ip", "netns", "del", ns])


def _remove_run_dir(run_dir: Path) -> None:
    if not run_dir.is_dir():
        return
    # Only a directory the lab made (it holds our state file, or nothing) is ours to delete recursively.
    if (run_dir / STATE_FILE).exists() or not any(run_dir.iterdir()):
        log.info("removing run dir %s", run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        log.warning("not removing %s: it has no %s, so the lab did not create it", run_dir, STATE_FILE)
