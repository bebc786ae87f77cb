"""A steady UDP stream through the lab while chain updates run: every datagram must arrive.

Each datagram carries a zero byte, then its number: functions add to every byte, so the first byte
tells how far the datagram was shifted (the hops it crossed) and the number is read back under it.
`stream_through` runs the stream while its steps run, each settled, and reports the shifts seen, the
gaps and the count; it fails if any datagram is lost.
"""

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from steerflow.api.resource import ResourceHandler
from steerflow.lab import VmHandle
from tests.builders.fabric import ADMIN, Fabric

STREAM_PACKETS = 900
INTERVAL = 0.01  # 100 datagrams per second, nine seconds of traffic

RECEIVE = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[4])))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
seen = {}
hops = {}
try:
    while len(seen) < int(sys.argv[3]):
        data = s.recv(64)
        shift = data[0]
        seen[int.from_bytes(bytes((b - shift) % 256 for b in data[1:5]), "big")] = time.time()
        hops[shift] = hops.get(shift, 0) + 1
except TimeoutError:
    pass
print("hops:", *(f"{k}x{v}" for k, v in sorted(hops.items())), flush=True)
# where each gap is: the missing number and the arrival time of the datagram before it, if any
gaps = [f"{i}@{seen.get(i - 1, 0):.3f}" for i in range(int(sys.argv[3])) if i not in seen]
print("gaps:", *gaps, flush=True)
print(len(seen), flush=True)
"""
SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"\\0" + i.to_bytes(4, "big") + b"steady", (sys.argv[1], int(sys.argv[4])))
    time.sleep(float(sys.argv[3]))
"""


def _netns_python(vm: VmHandle, script: str, *args: str) -> subprocess.Popen[str]:
    argv = ["ip", "netns", "exec", vm.netns, sys.executable, "-c", script, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def _settle(fabric: Fabric) -> None:
    fabric.wait_applied()
    time.sleep(0.3)  # let the stream cross the new state for a while (pacing, not synchronisation)


Step = tuple[str, Callable[[], object]]


def set_attrs(handler: ResourceHandler, id: str, **change: Any) -> Callable[[], object]:
    return lambda: handler.update(ADMIN, id, change)


def stream_through(fabric: Fabric, client: VmHandle, server: VmHandle, port: int, steps: list[Step]) -> str:
    """Run the UDP stream to `port` while `steps` run one after the other, each settled; the receiver's
    report (hops seen, gaps, count). Fails if any datagram is lost."""
    receiver = _netns_python(server, RECEIVE, server.ipv4, "20", str(STREAM_PACKETS), str(port))
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    sender = _netns_python(client, SEND, server.ipv4, str(STREAM_PACKETS), str(INTERVAL), str(port))
    timeline: list[tuple[float, str]] = [(time.time(), "sender started")]
    try:
        for what, step in steps:
            timeline.append((time.time(), what))
            step()
            _settle(fabric)
        timeline.append((time.time(), "all applied"))
        assert sender.wait(timeout=60) == 0
        out, _ = receiver.communicate(timeout=60)
    finally:
        for proc in (sender, receiver):
            if proc.poll() is None:
                proc.kill()
    hops, gaps, received = out.strip().splitlines()[-3:]
    steps_taken = "\n".join(f"  {at:.3f} {what}" for at, what in timeline)
    report = f"{hops}\n{gaps}\n{steps_taken}"
    assert int(received) == STREAM_PACKETS, f"the stream lost datagrams: {report}"
    return report
