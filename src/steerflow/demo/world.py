"""The demo world: an API on a fresh embedded store, lab chassis each running an agent, and a state file.

Everything lives under one run dir (`/tmp/steerflow-demo-<prefix>` by default): the store, the logs, the
lab's own run dir (`lab/`) and `demo.json`, which records every process the world started (pid, and a
string its command line must contain). The state file is rewritten after each start, so `down()` can
remove a world left by `--keep` or by a run that was killed, from another process.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from steerflow.demo.procs import AgentProcess, ApiProcess, free_port, start_agent, stop_process, stop_recorded
from steerflow.lab import ChassisHandle, Lab, LabError, destroy, leftovers
from steerflow.lab.names import check_prefix

DEFAULT_PREFIX = "sfdemo"
STATE_FILE = "demo.json"


def default_run_dir(prefix: str) -> Path:
    # short and fixed: unix socket paths below it must fit in 108 bytes, and `--down` finds it by prefix
    return Path(f"/tmp/steerflow-demo-{prefix}")


@dataclass(frozen=True)
class DemoPaths:
    """Where one demo world keeps its files."""

    prefix: str
    run_dir: Path

    @classmethod
    def of(cls, prefix: str = DEFAULT_PREFIX, run_dir: Path | None = None) -> DemoPaths:
        return cls(check_prefix(prefix), (run_dir or default_run_dir(prefix)).absolute())

    @property
    def nb_path(self) -> Path:
        return self.run_dir / "nb.db"

    @property
    def nb_url(self) -> str:
        return self.nb_path.as_uri()

    @property
    def lab_dir(self) -> Path:
        return self.run_dir / "lab"

    @property
    def state_file(self) -> Path:
        return self.run_dir / STATE_FILE

    def log(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"


@dataclass(frozen=True)
class Recorded:
    """A process the world started: what it is, its pid, and a string its command line contains."""

    role: str
    pid: int
    marker: str


@dataclass
class DemoWorld:
    """The API, the lab and the agents of one demo, started step by step and torn down together."""

    paths: DemoPaths
    api_port: int = 0
    api: ApiProcess | None = None
    agents: dict[str, AgentProcess] = field(default_factory=dict)
    recorded: list[Recorded] = field(default_factory=list)
    _lab: Lab | None = None
    _extra: list[Any] = field(default_factory=list)  # anything with stop(): e.g. the echo server
    _prepared: bool = False  # the run dir is ours: only then may teardown remove it and the lab

    @property
    def prepared(self) -> bool:
        return self._prepared

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            self._lab = Lab(self.paths.lab_dir, self.paths.prefix)
        return self._lab

    def prepare(self) -> list[str]:
        """Remove what an earlier world with these paths left behind, then create the run dir."""
        removed = down(self.paths) if self.paths.state_file.exists() else []
        run_dir = self.paths.run_dir
        if run_dir.exists() and any(run_dir.iterdir()):
            raise LabError(f"{run_dir} is not empty and holds no demo state; refusing to use it")
        run_dir.mkdir(parents=True, exist_ok=True)
        self._prepared = True
        self.save()
        return removed

    def start_api(self) -> ApiProcess:
        self.api = ApiProcess(self.paths.nb_url, self.api_port or free_port(), self.paths.log("api"))
        try:
            self.api.start()
        finally:
            if self.api.proc is not None:
                self.record("api", self.api.pid, str(self.paths.nb_path))
        return self.api

    def add_chassis(self, name: str, underlay_ip: str, agent_args: Sequence[str] = ()) -> ChassisHandle:
        """A lab chassis (br-int is left to its agent) and `steerflow agent` running in it (with
        `agent_args`, more options)."""
        chassis = self.lab.add_chassis(name, underlay_ip, create_br_int=False)
        agent = start_agent(chassis, self.paths.nb_url, self.paths.log(f"agent-{name}"), extra=agent_args)
        self.agents[name] = agent
        self.record(f"agent {name}", agent.pid, str(self.paths.nb_path))
        return chassis

    def adopt(self, role: str, process: Any, marker: str) -> None:
        """Stop `process` (it has `pid` and `stop()`) with the world, and record it for `down()`."""
        self._extra.append(process)
        self.record(role, int(process.pid), marker)

    def record(self, role: str, pid: int, marker: str) -> None:
        self.recorded.append(Recorded(role, pid, marker))
        self.save()

    def save(self) -> None:
        doc = {
            "prefix": self.paths.prefix,
            "run_dir": str(self.paths.run_dir),
            "endpoint": self.api.endpoint if self.api else None,
            "owner_pid": os.getpid(),
            "processes": [asdict(r) for r in self.recorded],
        }
        tmp = self.paths.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(self.paths.state_file)

    def logs(self) -> dict[str, str]:
        """The logs of the API, the agents and the extra processes, by file name."""
        logs = sorted(self.paths.run_dir.glob("*.log"))
        return {p.name: p.read_text(errors="replace") for p in logs}

    def teardown(self) -> None:
        """Stop every process (newest first), remove the lab, then the run dir. Idempotent; a world whose
        `prepare()` refused the run dir leaves it (and the prefix's lab) alone."""
        if not self._prepared:
            return
        for extra in reversed(self._extra):
            extra.stop()
        _stop_together([a.proc for a in self.agents.values()])
        if self.api is not None:
            self.api.stop()
        if self._lab is not None:
            self._lab.teardown()
        else:
            destroy(self.paths.prefix, self.paths.lab_dir)
        shutil.rmtree(self.paths.run_dir, ignore_errors=True)


def _stop_together(procs: Sequence[Any]) -> None:
    """SIGTERM all first, then wait for each: the agents shut down in parallel."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        stop_process(proc)


def load_state(paths: DemoPaths) -> dict[str, Any] | None:
    try:
        doc = json.loads(paths.state_file.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def down(paths: DemoPaths) -> list[str]:
    """Remove a demo world from another process: its recorded processes (by pid, only if their command
    line still has the recorded marker), its lab (namespaces, links, daemons) and its run dir. Safe to
    repeat; works without the state file too (then only the lab and the dir). Returns what it did."""
    done: list[str] = []
    state = load_state(paths) or {}
    if not state and leftovers(paths.prefix) == ([], []) and not paths.run_dir.exists():
        return done
    for entry in reversed(state.get("processes", [])):
        rec = Recorded(**entry)
        if stop_recorded([rec.pid], rec.marker):
            done.append(f"stopped {rec.role} (pid {rec.pid})")
    try:
        Lab.attach(paths.lab_dir).teardown()
    except LabError:  # no lab state file: remove whatever the prefix names
        destroy(paths.prefix, paths.lab_dir)
    namespaces, links = leftovers(paths.prefix)
    if namespaces or links:
        raise LabError(f"leftovers of demo lab {paths.prefix}: {namespaces + links}")
    done.append(f"removed lab {paths.prefix}")
    if paths.run_dir.exists() and (state or not any(paths.run_dir.iterdir())):
        shutil.rmtree(paths.run_dir, ignore_errors=True)
        done.append(f"removed {paths.run_dir}")
    return done
