"""The JSON a benchmark writes with `--json PATH`: its figures, their ratios to the run's baseline, details.

Not a benchmark itself (bench/run.py's BENCHES lists those). `figures` are flat name -> number (units in
the name: `_ms`, `_s`, `_gbps`, `_per_s`), `ratios` flat name -> ratio against a baseline measured in the
same run (1.0 = as fast as the baseline); anything else (samples for a distribution, arguments) goes
alongside. bench/plot.py draws from these keys.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, help="also write the figures and ratios as JSON to this file")


def write(path: Path | None, figures: dict[str, float], ratios: dict[str, float], **extra: Any) -> None:
    """Write the bench's JSON when `--json` was given (no-op otherwise)."""
    if path is None:
        return
    path.write_text(json.dumps({"figures": figures, "ratios": ratios, **extra}, indent=1, default=str))
