"""systemd's readiness protocol (sd_notify): one datagram to the unix socket $NOTIFY_SOCKET names."""

from __future__ import annotations

import logging
import os
import socket

LOG = logging.getLogger(__name__)
NOTIFY_ENV = "NOTIFY_SOCKET"


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to the service manager; False when none listens (no $NOTIFY_SOCKET,
    or the send failed: a daemon runs on without it)."""
    target = os.environ.get(NOTIFY_ENV, "")
    if not target:
        return False
    # "@name" is an abstract socket (its first byte NUL); anything else a path
    address = "\0" + target[1:] if target.startswith("@") else target
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        LOG.warning("cannot notify the service manager at %s: %s", target, exc)
        return False
    return True


def ready(status: str) -> bool:
    """Tell the service manager the daemon is ready, with a one-line status (systemctl status shows it)."""
    return notify(f"READY=1\nSTATUS={status}")


def stopping() -> bool:
    return notify("STOPPING=1")
