"""Pytest fixtures for the lab: a `lab` factory whose labs are always torn down, even on failure or Ctrl-C.

Use it from a conftest with `pytest_plugins = ["tests.builders.lab_fixtures"]` (the fixture is named
`lab`); every lab gets a fresh random prefix, so concurrent test runs never collide.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from steerflow.lab import ChassisHandle, Lab, VmHandle, sweep_orphans
from steerflow.lab.chassis import ovs_schema

# Short, fixed base: unix socket paths under it must stay below 108 bytes, and a fixed place lets a later
# run sweep the labs of a run that was killed before its teardown (SIGKILL, hard timeout).
LAB_BASE_DIR = Path("/tmp/steerflow-lab-tests")
TOOLS = (
    "ip",
    "ovsdb-tool",
    "ovsdb-server",
    "ovs-vswitchd",
    "ovs-vsctl",
    "ovs-ofctl",
    "ovs-appctl",
    "ethtool",
    "ping",
)

LabFactory = Callable[..., Lab]


def lab_unavailable() -> str | None:
    """Why the lab cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return "the lab needs root"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing tools: {', '.join(missing)}"
    if not ovs_schema().exists():
        return f"no OVS schema at {ovs_schema()}"
    return None


requires_lab = pytest.mark.skipif(lab_unavailable() is not None, reason=lab_unavailable() or "")


def new_prefix() -> str:
    """`t` + 6 hex digits: unique per lab, and 7 characters leave room in 15-byte interface names."""
    return "t" + secrets.token_hex(3)


@pytest.fixture(name="lab")
def lab_fixture(tmp_path: Path) -> Iterator[LabFactory]:
    """Factory: `lab()` (or `lab(prefix=...)`) returns a started Lab. Every lab made is torn down when the
    test ends, whatever the outcome; the daemons' logs are kept in tmp_path/lab-logs for post-mortems."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    sweep_orphans(LAB_BASE_DIR)
    made: list[Lab] = []

    def factory(prefix: str | None = None) -> Lab:
        p = prefix or new_prefix()
        made_lab = Lab(LAB_BASE_DIR / p, p)
        made.append(made_lab)
        # Last resort if the interpreter exits without running fixture finalizers.
        atexit.register(made_lab.teardown)
        made_lab.start()
        return made_lab

    try:
        yield factory
    finally:
        _teardown_all(made, tmp_path / "lab-logs")


def _teardown_all(made: list[Lab], logs: Path) -> None:
    errors: list[BaseException] = []
    for made_lab in reversed(made):
        with contextlib.suppress(OSError):  # logs are a convenience; the teardown is what matters
            made_lab.save_logs(logs / made_lab.prefix)
        try:
            made_lab.teardown()
            atexit.unregister(made_lab.teardown)
        except Exception as exc:  # tear the others down before reporting
            errors.append(exc)
    if errors:
        raise errors[0]


@dataclass(frozen=True)
class TwoChassis:
    """The recipe's topology: vm1 on ch1, vm2 on ch2, with IPv4 and IPv6 addresses."""

    ch1: ChassisHandle
    ch2: ChassisHandle
    vm1: VmHandle
    vm2: VmHandle


def build_two_chassis(lab: Lab, *, create_br_int: bool = True) -> TwoChassis:
    """Two chassis with one VM each, underlay warmed; no flows (install_static_l2 or the agent adds them)."""
    ch1 = lab.add_chassis("ch1", "198.51.100.11", create_br_int=create_br_int)
    ch2 = lab.add_chassis("ch2", "198.51.100.12", create_br_int=create_br_int)
    vm1 = lab.add_vm(ch1, "vm1", "02:00:00:00:00:01", "203.0.113.1/24", "2001:db8::1/64")
    vm2 = lab.add_vm(ch2, "vm2", "02:00:00:00:00:02", "203.0.113.2/24", "2001:db8::2/64")
    lab.warm_underlay()
    return TwoChassis(ch1, ch2, vm1, vm2)
