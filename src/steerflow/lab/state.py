"""The lab's state file: what `lab up` built, so another process (`lab down`, `lab status`) can find it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from steerflow.lab.chassis import ChassisHandle
from steerflow.lab.function import FunctionHandle
from steerflow.lab.vm import VmHandle

STATE_FILE = "lab.json"
STATE_VERSION = 1


@dataclass
class LabState:
    prefix: str
    run_dir: Path
    owner_pid: int = field(default_factory=os.getpid)
    chassis: dict[str, ChassisHandle] = field(default_factory=dict)
    vms: dict[str, VmHandle] = field(default_factory=dict)
    functions: dict[str, FunctionHandle] = field(default_factory=dict)
    last_index: dict[str, int] = field(default_factory=dict)

    def allocate_index(self, kind: str) -> int:
        """A fresh index of a kind ("chassis", "vm") for link names, never reused within the lab: a step
        that failed half-way may have left links under the index it took."""
        self.last_index[kind] = self.last_index.get(kind, 0) + 1
        return self.last_index[kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "prefix": self.prefix,
            "run_dir": str(self.run_dir),
            "owner_pid": self.owner_pid,
            "last_index": dict(self.last_index),
            # not the NB schema: the lab's state file
            "chassis": [{**asdict(c), "run_dir": str(c.run_dir)} for c in self.chassis.values()],
            "vms": [asdict(v) for v in self.vms.values()],
            "functions": [f.to_json() for f in self.functions.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported lab state version {data.get('version')!r}")
        # not the NB schema: the lab's state file
        chassis = [ChassisHandle(**{**c, "run_dir": Path(c["run_dir"])}) for c in data["chassis"]]
        vms = [VmHandle(**v) for v in data["vms"]]
        functions = [FunctionHandle.from_json(f) for f in data.get("functions", [])]
        return cls(
            prefix=data["prefix"],
            run_dir=Path(data["run_dir"]),
            owner_pid=int(data["owner_pid"]),
            last_index={str(k): int(v) for k, v in data["last_index"].items()},
            chassis={c.name: c for c in chassis},
            vms={v.name: v for v in vms},
            functions={f.name: f for f in functions},
        )


def state_path(run_dir: Path) -> Path:
    return run_dir / STATE_FILE


def save_state(state: LabState) -> None:
    """Write atomically so a crash never leaves a half-written file for `lab down` to choke on."""
    path = state_path(state.run_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    tmp.replace(path)


def load_state(run_dir: Path) -> LabState | None:
    try:
        data = json.loads(state_path(run_dir).read_text())
    except FileNotFoundError:
        return None
    return LabState.from_json(data)
