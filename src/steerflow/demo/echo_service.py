"""The UDP echo service between lab VMs, from the demo's side: start the server in a VM, ask from another.

The programs themselves are `steerflow.demo.echo` (run with `python -m` inside the namespaces).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from steerflow.demo.procs import log_text, spawn, stop_process
from steerflow.lab.sh import LabError, in_netns
from steerflow.lab.vm import VmHandle

ECHO_PORT = 7  # the classic echo service (RFC 862)
# the programs' words (echo.py, which this module must not import: `python -m` runs it)
READY, NO_REPLY = "ready", "-"
START_TIMEOUT = 10.0


def _module(*args: str) -> list[str]:
    return [sys.executable, "-m", "steerflow.demo.echo", *args]


@dataclass
class EchoServer:
    """The echo server process in a VM's namespace."""

    vm: VmHandle
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, vm: VmHandle, log: Path, port: int = ECHO_PORT) -> EchoServer:
        """Start it and return once it is bound (its log says `ready`); on failure stop it and raise."""
        argv = in_netns(vm.netns, _module("serve", "--bind", vm.ipv4, "--port", str(port)))
        server = cls(vm, port, log, spawn(argv, log))
        deadline = time.monotonic() + START_TIMEOUT
        while READY not in log_text(log).split():
            if server.proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise LabError(f"the echo server in {vm.netns} did not start:\n{log_text(log)[-2000:]}")
            time.sleep(0.02)
        return server

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc)


def ask(
    client: VmHandle,
    server_ip: str,
    payloads: Sequence[bytes],
    *,
    port: int = ECHO_PORT,
    timeout: float = 2.0,
    reply_port: int = 0,
) -> list[bytes | None]:
    """Send each payload from `client` to the echo server, one at a time; the replies (None: no reply),
    from `reply_port` when a NAT on the way moves the requests' port (0: from `port`)."""
    args = ["ask", "--dst", server_ip, "--port", str(port), "--timeout", f"{timeout:g}"]
    args += ["--reply-port", str(reply_port)] if reply_port else []
    argv = in_netns(client.netns, _module(*args, *(p.hex() for p in payloads)))
    limit = timeout * len(payloads) + 10.0  # the interpreter's start in the namespace, on a busy machine
    done = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=False)
    if done.returncode != 0:
        raise LabError(f"the echo client in {client.netns} failed ({done.returncode}): {done.stderr.strip()}")
    return [None if line == NO_REPLY else bytes.fromhex(line) for line in done.stdout.splitlines()]
