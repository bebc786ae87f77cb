"""Test traffic between lab VMs: N UDP datagrams or one TCP stream from one VM to another, and what arrived.

The library side (`udp_transfer`, `tcp_transfer`) runs in the test process; it starts this module's
receiver in the destination VM's namespace and its sender in the source's (`python -m
steerflow.lab.traffic udp-recv|udp-send|tcp-recv|tcp-send ...`), bounded in count and time, and stops
what it started by pid. The receiver prints `ready` once bound, then one hex line per datagram (TCP:
one hex line with the whole stream).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from steerflow.lab.sh import LabError, in_netns
from steerflow.lab.vm import VmHandle

READY = "ready"
DEFAULT_UDP_PORT = 5000
DEFAULT_TCP_PORT = 5001
_GRACE = 5.0  # on top of a receiver's own deadline, before we kill it
READY_TIMEOUT = 10.0  # a Python start in a namespace on a busy 2-core machine


def udp_transfer(
    src: VmHandle,
    dst: VmHandle,
    payloads: Sequence[bytes],
    *,
    port: int = DEFAULT_UDP_PORT,
    ipv6: bool = False,
    timeout: float = 5.0,
    arrive_port: int | None = None,
) -> list[bytes]:
    """Send each payload as one UDP datagram from `src` to `dst`:port; return the payloads that arrived
    at `dst` (on `arrive_port`, when functions on the way rewrite the port: default `port`), in arrival
    order, once all did or `timeout` seconds passed."""
    address = _address(dst, ipv6)
    recv_args = ["udp-recv", "--bind", address, "--port", str(port if arrive_port is None else arrive_port)]
    recv_args += ["--count", str(len(payloads)), "--timeout", f"{timeout:g}"]
    with _Receiver(dst.netns, recv_args, timeout) as receiver:
        send_args = ["udp-send", "--dst", address, "--port", str(port), *(p.hex() for p in payloads)]
        _run_module(src.netns, send_args, timeout)
        return [bytes.fromhex(line) for line in receiver.lines()]


def udp_flows(
    src: VmHandle,
    dst: VmHandle,
    payload: bytes,
    *,
    flows: int,
    first_source_port: int = 20000,
    port: int = DEFAULT_UDP_PORT,
    timeout: float = 15.0,
) -> dict[int, bytes]:
    """`flows` UDP flows from `src` to `dst`:port, one datagram each from consecutive source ports;
    returns what arrived per source port (a flow whose datagram was lost is missing)."""
    address = _address(dst, ipv6=False)
    recv_args = ["udp-recv", "--bind", address, "--port", str(port), "--with-source"]
    recv_args += ["--count", str(flows), "--timeout", f"{timeout:g}"]
    with _Receiver(dst.netns, recv_args, timeout) as receiver:
        send_args = ["udp-send", "--dst", address, "--port", str(port)]
        send_args += ["--source-ports", f"{first_source_port}:{flows}", payload.hex()]
        _run_module(src.netns, send_args, timeout)
        lines = (line.split() for line in receiver.lines())
        return {int(source): bytes.fromhex(data) for source, data in lines}


def udp_flow_datagrams(
    src: VmHandle,
    dst: VmHandle,
    payload: bytes,
    *,
    flows: int,
    first_source_port: int = 20000,
    port: int = DEFAULT_UDP_PORT,
    wait: float = 3.0,
) -> list[tuple[int, bytes]]:
    """Like `udp_flows`, but listening `wait` seconds whatever arrives: every datagram that did, as
    (source port, payload), duplicates included (each flow sends one)."""
    address = _address(dst, ipv6=False)
    recv_args = ["udp-recv", "--bind", address, "--port", str(port), "--with-source"]
    recv_args += ["--count", str(4 * flows), "--timeout", f"{wait:g}"]
    with _Receiver(dst.netns, recv_args, wait) as receiver:
        send_args = ["udp-send", "--dst", address, "--port", str(port)]
        send_args += ["--source-ports", f"{first_source_port}:{flows}", payload.hex()]
        _run_module(src.netns, send_args, wait)
        lines = (line.split() for line in receiver.lines())
        return [(int(source), bytes.fromhex(data)) for source, data in lines]


def _port_range(spec: str | None) -> range | None:
    if spec is None:
        return None
    first, count = (int(x) for x in spec.split(":"))
    return range(first, first + count)


def tcp_transfer(
    src: VmHandle,
    dst: VmHandle,
    payload: bytes,
    *,
    port: int = DEFAULT_TCP_PORT,
    ipv6: bool = False,
    timeout: float = 10.0,
) -> bytes:
    """Open one TCP connection from `src` to `dst`:port, send `payload`, close; return the bytes `dst`
    read from it before the sender's FIN (or `timeout`)."""
    address = _address(dst, ipv6)
    recv_args = ["tcp-recv", "--bind", address, "--port", str(port), "--timeout", f"{timeout:g}"]
    with _Receiver(dst.netns, recv_args, timeout) as receiver:
        send_args = ["tcp-send", "--dst", address, "--port", str(port), "--timeout", f"{timeout:g}"]
        _run_module(src.netns, [*send_args, payload.hex()], timeout)
        lines = receiver.lines()
    return bytes.fromhex(lines[0]) if lines else b""


def _address(vm: VmHandle, ipv6: bool) -> str:
    if not ipv6:
        return vm.ipv4
    if vm.ipv6 is None:
        raise LabError(f"vm {vm.name} has no IPv6 address")
    return vm.ipv6


def _module_argv(netns: str, args: Sequence[str]) -> list[str]:
    return in_netns(netns, [sys.executable, "-m", "steerflow.lab.traffic", *args])


def _run_module(netns: str, args: Sequence[str], timeout: float) -> None:
    # subprocess.run kills the sender (by its pid) if it outlives the timeout.
    proc = subprocess.run(
        _module_argv(netns, args), capture_output=True, text=True, timeout=timeout + _GRACE, check=False
    )
    if proc.returncode != 0:
        raise LabError(f"traffic sender in {netns} failed ({proc.returncode}): {proc.stderr.strip()}")


class _Receiver:
    """A receiver process in a namespace: started and ready on enter, killed by pid on exit if still there."""

    def __init__(self, netns: str, args: Sequence[str], timeout: float) -> None:
        self._argv = _module_argv(netns, args)
        self._timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Receiver:
        self._proc = subprocess.Popen(
            self._argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            self._wait_ready()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        line = _read_line(self._proc.stdout.fileno(), READY_TIMEOUT)
        if line != READY:
            self._stop()
            err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
            raise LabError(f"traffic receiver did not start ({line!r}): {err.strip()}")

    def lines(self) -> list[str]:
        """Wait for the receiver to finish (count reached or its own deadline) and return its lines."""
        assert self._proc is not None
        try:
            out, err = self._proc.communicate(timeout=self._timeout + _GRACE)
        except subprocess.TimeoutExpired:
            self._stop()
            out, err = self._proc.communicate()
        if self._proc.returncode != 0:
            raise LabError(
                f"traffic receiver failed ({self._proc.returncode}): {err.decode(errors='replace')}"
            )
        return [line for line in out.decode().splitlines() if line]

    def _stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=_GRACE)


def _read_line(fd: int, timeout: float) -> str:
    """One line from a pipe, byte by byte: what follows stays in the pipe for communicate() to read."""
    deadline = time.monotonic() + timeout
    line = bytearray()
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            break
        byte = os.read(fd, 1)
        if not byte:  # the receiver exited
            break
        line += byte
    return line.decode(errors="replace").strip()


# ---- the programs run inside the namespaces ---------------------------------------------------------


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _ready() -> None:
    print(READY, flush=True)


def udp_recv(bind: str, port: int, count: int, timeout: float, *, with_source: bool = False) -> None:
    deadline = time.monotonic() + timeout
    with socket.socket(_family(bind), socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((bind, port))
        _ready()
        for _ in range(count):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
                return
            data, source = sock.recvfrom(65535)
            print(f"{source[1]} {data.hex()}" if with_source else data.hex(), flush=True)


def udp_send(dst: str, port: int, payloads: Sequence[str], *, source_ports: range | None = None) -> None:
    if source_ports is None:
        with socket.socket(_family(dst), socket.SOCK_DGRAM) as sock:
            for payload in payloads:
                sock.sendto(bytes.fromhex(payload), (dst, port))
        return
    for source in source_ports:  # one flow per source port, gently paced for the datapath's upcalls
        with socket.socket(_family(dst), socket.SOCK_DGRAM) as sock:
            sock.bind(("::" if ":" in dst else "0.0.0.0", source))
            sock.sendto(bytes.fromhex(payloads[0]), (dst, port))
        time.sleep(0.001)


def tcp_recv(bind: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with socket.socket(_family(bind), socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((bind, port))
        server.listen(1)
        _ready()
        if not select.select([server], [], [], timeout)[0]:
            return
        conn, _ = server.accept()
        with conn:
            print(_read_until_eof(conn, deadline).hex(), flush=True)


def _read_until_eof(conn: socket.socket, deadline: float) -> bytes:
    data = bytearray()
    while (remaining := deadline - time.monotonic()) > 0:
        conn.settimeout(remaining)
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def tcp_send(dst: str, port: int, payload: str, timeout: float) -> None:
    with socket.create_connection((dst, port), timeout=timeout) as conn:
        conn.sendall(bytes.fromhex(payload))
        conn.shutdown(socket.SHUT_WR)
        with contextlib.suppress(TimeoutError):
            while conn.recv(65536):  # until the receiver closes: everything was read
                pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="steerflow.lab.traffic")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("udp-recv", "tcp-recv", "udp-send", "tcp-send"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--bind" if name.endswith("recv") else "--dst", required=True)
        cmd.add_argument("--port", type=int, required=True)
        if name != "udp-send":
            cmd.add_argument("--timeout", type=float, default=5.0)
        if name == "udp-recv":
            cmd.add_argument("--count", type=int, required=True)
            cmd.add_argument(
                "--with-source", action="store_true", help="prefix each line with the sender's port"
            )
        if name == "udp-send":
            cmd.add_argument(
                "--source-ports", help="FIRST:COUNT: send the payload once from each of these ports"
            )
        if name.endswith("send"):
            cmd.add_argument("payloads", nargs="*" if name == "udp-send" else 1, help="hex")
    a = p.parse_args(argv)
    if a.cmd == "udp-recv":
        udp_recv(a.bind, a.port, a.count, a.timeout, with_source=a.with_source)
    elif a.cmd == "udp-send":
        udp_send(a.dst, a.port, a.payloads, source_ports=_port_range(a.source_ports))
    elif a.cmd == "tcp-recv":
        tcp_recv(a.bind, a.port, a.timeout)
    else:
        tcp_send(a.dst, a.port, a.payloads[0], a.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
