"""sfemu: a service function emulator that forwards frames between two NICs, adding N to each L4 payload byte.

    python -m steerflow.lab.sfemu --ingress IF --egress IF --mode unaware|mpls|nsh|vlan [--add N]
        [--decrement-si] [--nat-udp-dst N] [--bridge] [--log FILE] [--status FILE]

It reads every frame arriving on the ingress NIC with an AF_PACKET socket in promiscuous mode (the
forwarder keeps the original MACs, so frames are not addressed to it), rewrites it with
`steerflow.lab.sfframes.rewrite_frame` and sends it out of the egress NIC (the same NIC when ingress ==
egress). The kernel takes a VLAN tag off a received frame into packet metadata: the emulator reads it
back (PACKET_AUXDATA) and puts it in place, so a VLAN-aware function sees, and returns, the tag it got.
Frames it does not expect (ARP, ND, LLDP, another encapsulation) are counted and dropped.

`--bridge` makes it a bump in the wire, like a transparent firewall or an IPS: every frame goes
through, both ways (ingress -> egress and egress -> ingress), broadcasts, multicast and non-IP
included. What it recognises is rewritten as above (in either direction); what it does not goes
through unchanged (counted as `bridged`). A single-NIC function sends everything back out of its NIC.
Counters go to the status file (JSON, rewritten atomically; they include how many frames carried
each NSH metadata or VLAN VID seen, so a test can check what every hop received); SIGTERM or SIGINT
makes it exit cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from steerflow.lab.sfframes import Ignored, Mode, rewrite_frame, with_vlan_tag

log = logging.getLogger("sfemu")

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4  # sll_pkttype of frames this host sends: ours, and the kernel's own
PACKET_AUXDATA = 8
AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata (native byte order)
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
MAX_FRAME = 65535
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
RECEIVE_BUFFER = 16 << 20
POLL_INTERVAL = 0.1  # how soon a stop request is noticed, and how stale the status file may get
STATUS_INTERVAL = 0.2


@dataclass
class Counters:
    """What the emulator did, as written to its status file."""

    seen: int = 0
    forwarded: int = 0
    ignored: int = 0
    send_errors: int = 0
    bridged: int = 0  # forwarded unchanged (`--bridge`: frames it does not recognise)
    backwards: int = 0  # forwarded egress -> ingress (`--bridge`)
    ignored_reasons: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, int] = field(default_factory=dict)  # NSH metadata (`NshHeader.metadata`), VLAN VIDs


@dataclass(frozen=True)
class Config:
    ingress: str
    egress: str
    mode: Mode
    add: int
    decrement_si: bool
    status: Path | None
    nat_udp_dst: int = 0  # added to UDP destination ports, like a NAT (`rewrite_frame`)
    bridge: bool = False


class Emulator:
    """The forwarding loop over one receive socket and one send socket (the same one for a single NIC);
    when bridging two NICs, the egress socket is read too, and what it gets goes out of the ingress."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.counters = Counters()
        self.stop_requested = False
        self._rx = _packet_socket(config.ingress, promiscuous=True)
        two_nics = config.egress != config.ingress
        self._tx = _packet_socket(config.egress, promiscuous=config.bridge) if two_nics else self._rx
        # receiving socket -> (sending socket, the reverse direction?)
        self._routes = {self._rx: (self._tx, False)}
        if config.bridge and two_nics:
            self._routes[self._tx] = (self._rx, True)
        self._dirty = True
        self._last_status = 0.0

    def run(self) -> None:
        self.write_status("running")
        log.info("forwarding %s -> %s mode=%s add=%d", self.config.ingress, self.config.egress,
                 self.config.mode, self.config.add)  # fmt: skip
        try:
            while not self.stop_requested:
                ready, _, _ = select.select(list(self._routes), [], [], POLL_INTERVAL)
                for sock in ready:
                    self._drain(sock)
                if self._dirty and (not ready or time.monotonic() - self._last_status > STATUS_INTERVAL):
                    self.write_status("running")
        finally:
            self.write_status("stopped")
            self._rx.close()
            self._tx.close()
            log.info("stopped: %s", asdict(self.counters))

    def _drain(self, rx: socket.socket) -> None:
        """Handle what is queued without blocking (bounded, so a flood never starves the status file)."""
        tx, backwards = self._routes[rx]
        for _ in range(256):
            try:
                frame, ancillary, _, addr = rx.recvmsg(MAX_FRAME, socket.CMSG_SPACE(AUXDATA.size),
                                                       socket.MSG_DONTWAIT)  # fmt: skip
            except BlockingIOError:
                return
            if addr[2] != PACKET_OUTGOING:  # not what we (or the kernel) sent ourselves
                self.handle(_retagged(frame, ancillary), tx, backwards=backwards)

    def handle(self, frame: bytes, tx: socket.socket | None = None, *, backwards: bool = False) -> None:
        c = self.counters
        c.seen += 1
        self._dirty = True
        cfg = self.config
        try:
            out = rewrite_frame(
                frame, cfg.mode, cfg.add, decrement_si=cfg.decrement_si, nat_udp_dst=cfg.nat_udp_dst
            )
        except Ignored as exc:
            if cfg.bridge:  # a bump in the wire lets through what it does not understand
                self._send(frame, tx, f"unchanged ({exc})", backwards=backwards, bridged=True)
                return
            c.ignored += 1
            c.ignored_reasons[str(exc)] = c.ignored_reasons.get(str(exc), 0) + 1
            log.debug("ignored %d bytes %s: %s", len(frame), _macs(frame), exc)
            return
        if not self._send(out.frame, tx, out.summary, backwards=backwards):
            return
        seen = out.nsh.metadata if out.nsh is not None else None
        if out.vlan_vid is not None:
            seen = f"vlan vid={out.vlan_vid}"
        if seen is not None:
            c.metadata[seen] = c.metadata.get(seen, 0) + 1
        log.debug("forwarded %d bytes %s: %s", len(out.frame), _macs(frame), out.summary)

    def _send(
        self, frame: bytes, tx: socket.socket | None, summary: str, *, backwards: bool, bridged: bool = False
    ) -> bool:
        c = self.counters
        try:
            (tx or self._tx).send(frame)
        except OSError as exc:
            c.send_errors += 1
            log.warning("could not send %d bytes (%s): %s", len(frame), summary, exc)
            return False
        c.forwarded += 1
        c.bridged += bridged
        c.backwards += backwards
        if bridged:
            way = "egress->ingress" if backwards else "ingress->egress"
            log.debug("bridged %d bytes %s %s: %s", len(frame), _macs(frame), way, summary)
        return True

    def write_status(self, state: str) -> None:
        self._dirty = False
        self._last_status = time.monotonic()
        if self.config.status is None:
            return
        body = {"pid": os.getpid(), "state": state, **asdict(self.counters)}
        tmp = self.config.status.with_name(self.config.status.name + ".tmp")
        tmp.write_text(json.dumps(body) + "\n")
        tmp.replace(self.config.status)  # readers never see a half-written file


def _retagged(frame: bytes, ancillary: list[tuple[int, int, bytes]]) -> bytes:
    """The frame as it was on the wire: with the VLAN tag the kernel moved into the auxdata, if any."""
    for level, kind, data in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= AUXDATA.size:
            status, _, _, _, _, tci, tpid = AUXDATA.unpack_from(data)
            if status & TP_STATUS_VLAN_VALID:
                return with_vlan_tag(frame, tci, tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100)
    return frame


def _macs(frame: bytes) -> str:
    return f"{frame[6:12].hex(':')}>{frame[0:6].hex(':')}"


def _packet_socket(ifname: str, *, promiscuous: bool = False) -> socket.socket:
    # Protocol 0 receives nothing until bind names the interface: no frame of another NIC sneaks in.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((ifname, ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    # A real function has its NIC's ring to ride out a stall; on a loaded machine this process is
    # descheduled for tenths of a second, so it gets room for that (beyond rmem_max: it runs as root).
    with contextlib.suppress(PermissionError):
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
    if promiscuous:
        mreq = struct.pack("iHH8s", socket.if_nametoindex(ifname), PACKET_MR_PROMISC, 0, b"")
        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    return sock


def _parse_args(argv: list[str] | None) -> Config:
    p = argparse.ArgumentParser(prog="sfemu", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--ingress", required=True, help="NIC frames arrive on")
    p.add_argument("--egress", required=True, help="NIC frames leave by (may equal --ingress)")
    p.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.UNAWARE.value)
    p.add_argument("--add", type=int, default=1, help="added to every L4 payload byte, mod 256")
    p.add_argument("--decrement-si", action="store_true", help="NSH: decrement the service index")
    p.add_argument("--nat-udp-dst", type=int, default=0, help="added to UDP destination ports (a NAT)")
    bridge = "bump in the wire: forward every frame both ways, unknown ones unchanged"
    p.add_argument("--bridge", action="store_true", help=bridge)
    p.add_argument("--log", type=Path, help="log file (DEBUG: one line per frame); default stderr at INFO")
    p.add_argument("--status", type=Path, help="JSON counters file, rewritten as they change")
    args = p.parse_args(argv)
    _setup_logging(args.log)
    mode, add, nat = Mode(args.mode), args.add % 256, args.nat_udp_dst % 0x10000
    return Config(args.ingress, args.egress, mode, add, args.decrement_si, args.status, nat, args.bridge)


def _setup_logging(path: Path | None) -> None:
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if path else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    config = _parse_args(argv)
    try:
        emulator = Emulator(config)
    except OSError as exc:
        log.error("cannot open %s/%s: %s", config.ingress, config.egress, exc)
        return 2

    def request_stop(signum: int, frame: FrameType | None) -> None:
        emulator.stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
