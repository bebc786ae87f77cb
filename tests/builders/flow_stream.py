"""A steady UDP stream of many flows (one source port each) from one VM to another, for the failover
tests and bench/function_failover.py: each datagram carries a zero byte, its flow and its round; the
functions on the way add to every byte, so the first byte tells which function a datagram crossed, and
the receiver records, per flow, every round's arrival time and function. `Stream.analyse` then tells,
around an event (a function killed), which flows moved, how long they were silent, and what was lost."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from dataclasses import dataclass

from steerflow.lab import VmHandle

FIRST_SPORT = 40000

RECEIVE = """
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 1 << 24)  # SO_RCVBUFFORCE (root): ride out stalls
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
got = {}
try:
    while True:
        data = s.recv(64)
        now = time.time()
        shift = data[0]
        plain = bytes((b - shift) % 256 for b in data[1:7])
        flow, seq = int.from_bytes(plain[:2], "big"), int.from_bytes(plain[2:6], "big")
        got.setdefault(flow, []).append((seq, shift, round(now, 4)))
except TimeoutError:
    pass
print(json.dumps(got), flush=True)
"""
SEND = """
import signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # Stream.stop: a clean end, rounds left unsent
flows, rounds, interval = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks = []
for i in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(sys.argv[6]) + i))
    socks.append(s)
start = time.monotonic()
to = (sys.argv[1], int(sys.argv[5]))
for seq in range(rounds):
    for i, s in enumerate(socks):
        s.sendto(b"\\0" + i.to_bytes(2, "big") + seq.to_bytes(4, "big") + b"flows", to)
    time.sleep(max(0.0, start + (seq + 1) * interval - time.monotonic()))
"""


@dataclass(frozen=True, order=True)
class Arrival:
    seq: int
    shift: int  # what the functions crossed added to each byte
    at: float  # wall-clock time of arrival


@dataclass(frozen=True)
class Outcome:
    """The stream around an event at `event` (wall clock)."""

    moved: dict[int, float]  # flow -> seconds from the event to its first datagram through another way
    healthy_lost: int  # datagrams lost by flows that did not cross the failed way
    stuck: list[int]  # flows of the failed way that never came back
    arrivals: dict[int, list[Arrival]]
    gaps: list[tuple[int, float, int]]  # healthy flows' losses: (flow, seconds after the event, datagrams)

    @property
    def failover(self) -> float:
        return max(self.moved.values(), default=0.0)


class Stream:
    """`flows` flows sending one datagram each every `interval` s for `rounds` rounds; use as a context."""

    def __init__(
        self, client: VmHandle, server: VmHandle, port: int, *, flows: int, rounds: int, interval: float
    ) -> None:
        self.client, self.server, self.port = client, server, port
        self.flows, self.rounds, self.interval = flows, rounds, interval
        self._receiver: subprocess.Popen[str] | None = None
        self._sender: subprocess.Popen[str] | None = None

    def __enter__(self) -> Stream:
        self._receiver = _netns_python(self.server, RECEIVE, self.server.ipv4, str(self.port), "3")
        assert self._receiver.stdout is not None and self._receiver.stdout.readline().strip() == "ready"
        args = (self.server.ipv4, str(self.flows), str(self.rounds), str(self.interval), str(self.port))
        self._sender = _netns_python(self.client, SEND, *args, str(FIRST_SPORT))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in (self._sender, self._receiver):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    def wait_rounds(self, seconds: float) -> None:
        time.sleep(seconds)

    def stop(self) -> None:
        """End the sender now, whatever rounds it has left (`finish` then collects what arrived)."""
        assert self._sender is not None
        self._sender.terminate()

    def finish(self) -> dict[int, list[Arrival]]:
        """Wait for the sender to end and the receiver to fall silent; every flow's arrivals by round."""
        assert self._sender is not None and self._receiver is not None
        assert self._sender.wait(timeout=self.rounds * self.interval * 3 + 30) == 0
        out, _ = self._receiver.communicate(timeout=60)
        got = json.loads(out.strip().splitlines()[-1])
        return {int(flow): sorted(Arrival(*a) for a in arrivals) for flow, arrivals in got.items()}


def analyse(arrivals: dict[int, list[Arrival]], event: float, failed_shift: int) -> Outcome:
    """Which flows crossed the way adding `failed_shift` just before `event`, when each first arrived by
    another way after it, and what the others lost (every round they sent, they must have got)."""
    moved: dict[int, float] = {}
    stuck: list[int] = []
    healthy_lost = 0
    gaps: list[tuple[int, float, int]] = []
    for flow, got in arrivals.items():
        before = [a for a in got if a.at < event]
        if before and before[-1].shift == failed_shift:
            after = [a for a in got if a.at >= event and a.shift != failed_shift]
            if after:
                moved[flow] = after[0].at - event
            else:
                stuck.append(flow)
            continue
        for prev, nxt in itertools.pairwise(got):
            if nxt.seq - prev.seq > 1:
                healthy_lost += nxt.seq - prev.seq - 1
                gaps.append((flow, round(prev.at - event, 3), nxt.seq - prev.seq - 1))
    return Outcome(moved, healthy_lost, stuck, arrivals, gaps)


def _netns_python(vm: VmHandle, script: str, *args: str) -> subprocess.Popen[str]:
    argv = ["ip", "netns", "exec", vm.netns, sys.executable, "-c", script, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
