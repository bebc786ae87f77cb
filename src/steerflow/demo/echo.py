"""A UDP echo server and client, run with `python -m steerflow.demo.echo` inside lab namespaces.

`serve` sends every datagram back until it is killed; it prints `ready <addr>:<port>` once bound. `ask`
sends each payload as one datagram and prints the reply (`-` when none came within the timeout), so a
reply that a service function changed on its way back shows as such. Standard library only: it starts
fast in a namespace, and the demo's own modules never import it.
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
from collections.abc import Sequence

ECHO_PORT = 7  # the classic echo service (RFC 862)
READY = "ready"
NO_REPLY = "-"


def serve(bind: str, port: int) -> None:
    """Send every datagram back to where it came from, until killed."""
    with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind, port))
        print(f"{READY} {bind}:{port}", flush=True)
        while True:
            data, peer = sock.recvfrom(65535)
            sock.sendto(data, peer)
            print(f"echoed {len(data)} bytes to {peer[0]}:{peer[1]}", flush=True)


def ask_all(
    dst: str, port: int, payloads: Sequence[str], timeout: float, text: bool = False, reply_port: int = 0
) -> None:
    """For each payload (hex, or UTF-8 text with `text`): send it, print the reply (hex, or text) or `-`
    if none came within `timeout`. `reply_port`: the replies come from that port of `dst` (a NAT on the
    way moved the request's destination port), not from `port`."""
    with socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((dst, reply_port or port))  # only the server's replies are read
        for payload in payloads:
            data = payload.encode() if text else bytes.fromhex(payload)
            if reply_port:
                sock.sendto(data, (dst, port))  # a connected socket still sends elsewhere with sendto
            else:
                sock.send(data)
            reply = _reply(sock, timeout)
            if reply is None:
                print(NO_REPLY, flush=True)
            else:
                print(reply.decode(errors="backslashreplace") if text else reply.hex(), flush=True)


def _reply(sock: socket.socket, timeout: float) -> bytes | None:
    if not select.select([sock], [], [], timeout)[0]:
        return None
    try:
        return sock.recv(65535)
    except ConnectionRefusedError:  # an ICMP port unreachable: nobody listens
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steerflow.demo.echo")
    sub = parser.add_subparsers(dest="cmd", required=True)
    srv = sub.add_parser("serve")
    srv.add_argument("--bind", required=True)
    srv.add_argument("--port", type=int, default=ECHO_PORT)
    cli = sub.add_parser("ask")
    cli.add_argument("--dst", required=True)
    cli.add_argument("--port", type=int, default=ECHO_PORT)
    cli.add_argument("--timeout", type=float, default=2.0)
    cli.add_argument("--reply-port", type=int, default=0, help="replies come from this port (a NAT)")
    cli.add_argument("--text", action="store_true", help="payloads and replies as text, not hex")
    cli.add_argument("payloads", nargs="+", help="hex (or text with --text)")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        serve(args.bind, args.port)
    else:
        ask_all(args.dst, args.port, args.payloads, args.timeout, args.text, args.reply_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
