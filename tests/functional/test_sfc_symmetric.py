"""Symmetric chains on real OVS: forward and reverse of each flow meet the same instances.

client -> [a (+1) | b (+2)] -> [c (+10)] -> UDP echo server on port 7, and the reply back through c then
the SAME instance of the first group: a flow served by a comes back shifted by 2*1 + 2*10 = 22, one
served by b by 24; a reply crossing the other instance would be shifted by 23, an unsteered one by 11/12.

The lab's emulator forwards one way (ingress NIC -> egress NIC); a symmetric chain sends the reverse
traffic into the function's egress and expects it back from its ingress, so each function also runs a
second emulator the other way round, which this test starts and stops itself; or, the second time, the
functions are bridging emulators (a bump in the wire: `sfemu --bridge`), which forward both ways alone.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from steerflow.demo.echo_service import EchoServer
from steerflow.demo.procs import log_text, spawn, stop_process
from steerflow.lab.function import FunctionHandle
from steerflow.lab.sh import in_netns
from steerflow.lab.vm import VmHandle
from steerflow.model import schema
from tests.builders.fabric import Fabric
from tests.builders.lab_fixtures import requires_lab
from tests.builders.trace_cli import trace_json

pytestmark = [pytest.mark.root, requires_lab]

FLOWS = 24
FIRST_PORT = 31000
PAYLOAD = b"\x10\x20\x30"
START_TIMEOUT = 10.0

# One datagram per source port to the echo server, each reply printed as "<port> <hex or ->".
_CLIENT = """
import select, socket, sys
dst, first, count, payload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), bytes.fromhex(sys.argv[4])
socks = []
for port in range(first, first + count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.connect((dst, 7))
    s.send(payload)
    socks.append((port, s))
for port, s in socks:
    reply = s.recv(65535).hex() if select.select([s], [], [], 3.0)[0] else "-"
    print(port, reply, flush=True)
"""


@contextmanager
def reverse_emulator(fn: FunctionHandle, run_dir: Path) -> Iterator[None]:
    """A second emulator in `fn`'s namespace: reads its egress NIC, sends out of its ingress NIC."""
    status, log = run_dir / f"{fn.name}-reverse.json", run_dir / f"{fn.name}-reverse.log"
    args = ["--ingress", fn.egress.nic, "--egress", fn.ingress.nic, "--mode", fn.mode, "--add", str(fn.add)]
    argv = [sys.executable, "-m", "steerflow.lab.sfemu", *args, "--status", str(status)]
    proc = spawn(in_netns(fn.netns, argv), log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while '"running"' not in (status.read_text() if status.exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline, log_text(log)
            time.sleep(0.05)
        yield
    finally:
        stop_process(proc)


def _replies(client: VmHandle, server: VmHandle) -> dict[int, int]:
    """Source port -> how much its echoed reply was shifted (missing: no reply)."""
    argv = [sys.executable, "-c", _CLIENT, server.ipv4, str(FIRST_PORT), str(FLOWS), PAYLOAD.hex()]
    done = subprocess.run(
        in_netns(client.netns, argv), capture_output=True, text=True, timeout=30, check=True
    )
    lines = (line.split() for line in done.stdout.splitlines())
    return {int(port): (bytes.fromhex(data)[0] - PAYLOAD[0]) % 256 for port, data in lines if data != "-"}


@pytest.mark.parametrize("bridging", [False, True], ids=["two-emulators", "bridging"])
def test_symmetric_forward_and_reverse_of_each_flow_meet_the_same_instances(
    fabric: Fabric, tmp_path: Path, bridging: bool
) -> None:
    net, client, server = fabric.client_and_server()
    fa, a = fabric.plug_function("ch2", "a", net, add=1, bridge=bridging)
    fb, b = fabric.plug_function("ch3", "b", net, add=2, bridge=bridging)
    fc_, c = fabric.plug_function("ch1", "c", net, add=10, bridge=bridging)
    fabric.lab.warm_underlay()
    g1 = fabric.create(schema.PORT_PAIR_GROUP, name="g1", port_pairs=[a["id"], b["id"]])
    g2 = fabric.create(schema.PORT_PAIR_GROUP, name="g2", port_pairs=[c["id"]])
    fc = fabric.create(
        schema.FLOW_CLASSIFIER, name="udp-7", protocol="udp", destination_port_range_min=7,
        destination_port_range_max=7, logical_source_port=client.iface_id,
    )  # fmt: skip
    fabric.create(
        schema.PORT_CHAIN, name="c", port_pair_groups=[g1["id"], g2["id"]], flow_classifiers=[fc["id"]],
        chain_parameters={"symmetric": True},
    )  # fmt: skip
    fabric.wait_applied()
    client.wait_ping(server.ipv4)
    with ExitStack() as stack:
        for fn in () if bridging else (fa, fb, fc_):
            stack.enter_context(reverse_emulator(fn, tmp_path))
        echo = EchoServer.start(server, tmp_path / "echo.log")
        stack.callback(echo.stop)
        shifts = _replies(client, server)
    assert len(shifts) >= FLOWS - 1, f"only {len(shifts)} of {FLOWS} flows got a reply: {shifts}"
    wrong = {port: s for port, s in shifts.items() if s not in (22, 24)}
    assert not wrong, f"replies not shifted by one instance both ways (22 or 24): {wrong}"
    assert set(shifts.values()) == {22, 24}, "both instances of the first group serve some flows"
    # steerflow trace: a reply crosses the forward path's instances backwards (which instance of g1
    # serves a flow is the switch's hash; trace's own hash picks one, the same both ways)
    for port in sorted(shifts)[:3]:
        there = trace_json(fabric.nb_url, "--from", client.iface_id, "--to", server.ipv4,
                           "--sport", str(port), "--dport", "7")  # fmt: skip
        back = trace_json(fabric.nb_url, "--from", server.iface_id, "--to", client.ipv4,
                          "--sport", "7", "--dport", str(port))  # fmt: skip
        assert there["functions"][0] in (a["id"], b["id"]) and there["functions"][1:] == [c["id"]]
        assert back["functions"] == there["functions"][::-1]
        assert [d["to_port"] for d in back["deliveries"]] == [client.iface_id]
