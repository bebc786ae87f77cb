"""A live chassis' own answer: `ovs-appctl ofproto/trace` on its switch, compared with the compiled one."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from steerflow.flows.types import Multipath
from steerflow.ofsim import Packet
from steerflow.ofsim.trace import Trace
from steerflow.pipeline.cookies import CookieKind, cookie_kind
from steerflow.trace.detrace import cookies_in

DAEMON_SOCKET = "ovs-vswitchd.ctl"  # the lab's unixctl socket name under each chassis' run dir


class LiveError(RuntimeError):
    """ovs-appctl failed: no such socket, no such bridge, a flow OVS does not accept."""


@dataclass(frozen=True)
class Drift:
    """The flows (by cookie, in order) the compiled state and the installed one ran for the same packet."""

    compiled: tuple[int, ...]
    installed: tuple[int, ...]

    @property
    def same(self) -> bool:
        return self.compiled == self.installed

    def only_compiled(self) -> list[int]:
        return [c for c in dict.fromkeys(self.compiled) if c not in self.installed]

    def only_installed(self) -> list[int]:
        return [c for c in dict.fromkeys(self.installed) if c not in self.compiled]


def unixctl_for(chassis: str, rundir: Path) -> Path:
    """A lab chassis' ovs-vswitchd control socket: `<rundir>/<chassis>/ovs-vswitchd.ctl`."""
    return rundir / chassis / DAEMON_SOCKET


def ofproto_trace(unixctl: Path, bridge: str, packet: Packet, timeout: float = 10.0) -> str:
    """`ovs-appctl -t unixctl ofproto/trace bridge <packet>`'s output."""
    cmd = ["ovs-appctl", "-t", str(unixctl), "ofproto/trace", bridge, packet.ovs_flow()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LiveError(f"ovs-appctl: {exc}") from None
    if done.returncode != 0:
        raise LiveError(f"ovs-appctl -t {unixctl} ofproto/trace: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def drift(compiled: Trace, installed_text: str) -> Drift:
    """The steerflow flows each side ran (cookie 0 is no flow of steerflow's: left out). Where the
    packet was balanced, the instances' flows are left out too: ofsim's hash is not OVS's, so the
    switch may rightly pick another instance (`instances` says which it picked)."""
    balanced = any(isinstance(a, Multipath) for h in compiled.hops if h.flow for a in h.flow.actions)
    balanced = balanced or bool(compiled.choices)

    def kept(cookies: Iterable[int]) -> tuple[int, ...]:
        return tuple(c for c in cookies if c and not (balanced and cookie_kind(c) is CookieKind.INSTANCE))

    return Drift(kept(compiled.cookies), kept(cookies_in(installed_text.splitlines())))


def instances(installed_text: str) -> list[int]:
    """The cookies of the function instances whose flows the switch ran, in order, once each."""
    found = (c for c in cookies_in(installed_text.splitlines()) if cookie_kind(c) is CookieKind.INSTANCE)
    return list(dict.fromkeys(found))
