"""The probes themselves, on the data path: packet-outs into a function's ingress, packet-ins back.

`Probes.probe(check)` is the `agent.health.Probe` of a running agent. It sends over the agent's own
OpenFlow session to br-int (the bridge's management socket, a service connection): OVS sends a service
connection packet-ins only once it asked for them with a non-zero miss_send_len (OFPT_SET_CONFIG), which
`on_connected` does on every session. What br-int hands back (`compiler.l2`: frames from a service port
from or to the probe MAC) arrives in `on_message` and completes the probe waiting for it:

- `datapath`: the probe (`probe_frames.datapath_probe`, in the function's header) out of the egress port,
  its sequence number the one sent;
- `arp`: the ARP reply of the ingress port's address; `icmp`: the echo reply with the sequence sent;
- `tcp`: a SYN-ACK from `tcp_port` (healthy; the half-open connection is reset at once) or a reset
  (nobody listens: failed).

A probe that gets no answer is left to the caller's timeout (`HealthProber`: the check's interval); one
that cannot be sent (no OpenFlow session) raises `ProbeUnavailable` and counts neither way.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from typing import Any

from steerflow.agent import probe_frames as frames
from steerflow.agent.health import LocalCheck, ProbeUnavailable
from steerflow.southbound import ofcodec
from steerflow.southbound.oferrors import ChannelError
from steerflow.southbound.openflow import OpenFlowChannel

LOG = logging.getLogger(__name__)
MISS_SEND_LEN = 0xFFFF  # any non-zero value: OVS then sends this service connection packet-ins
EPHEMERAL = 49152  # a TCP probe's source ports: 49152-65535


class Probes:
    """Probes over one OpenFlow channel; set `channel.on_message = probes.on_message` and
    `channel.message_types = Probes.MESSAGE_TYPES` (what else the switch sends unasked is not decoded)."""

    MESSAGE_TYPES = frozenset({ofcodec.OFPT_PACKET_IN})

    def __init__(self, channel: OpenFlowChannel) -> None:
        self.channel = channel
        self.packet_ins = 0
        self._seq = itertools.count(random.randrange(1 << 16))
        # (ofport the answer comes out of, kind) -> (what it must carry, the probe waiting for it)
        self._waiting: dict[tuple[int, str], tuple[object, asyncio.Future[frames.Answer | None]]] = {}

    async def on_connected(self, channel: OpenFlowChannel) -> None:
        channel.send_raw(ofcodec.set_config(MISS_SEND_LEN))
        await channel.barrier()

    async def probe(self, check: LocalCheck) -> bool:
        if not self.channel.connected:
            raise ProbeUnavailable(f"no OpenFlow session with {self.channel.target}")
        if check.ingress_ofport is None:
            return False
        kind = check.settings.type
        if kind == "datapath":
            return await self._datapath(check)
        if check.ingress_ip is None or check.source_ip is None:
            LOG.warning("%s check of %s: its ingress port has no IPv4 address", kind, check.pair_id)
            return False
        if kind == "arp":
            request = frames.arp_request(check.source_ip, check.ingress_ip, check.ingress_mac)
            return await self._exchange(check.ingress_ofport, "arp", check.ingress_ip, [request]) is not None
        if kind == "icmp":
            return await self._icmp(check)
        if kind == "tcp":
            return await self._tcp(check)
        LOG.warning("unknown check type %r of %s", kind, check.pair_id)
        return False

    async def _datapath(self, check: LocalCheck) -> bool:
        if check.egress_ofport is None:
            return False
        seq = next(self._seq) & 0xFFFFFFFF
        probe = frames.datapath_probe(check.header, seq)
        assert check.ingress_ofport is not None
        answer = await self._wait(check.egress_ofport, "datapath", seq, check.ingress_ofport, [probe])
        return answer is not None

    async def _icmp(self, check: LocalCheck) -> bool:
        assert check.ingress_ofport is not None and check.ingress_ip and check.source_ip
        seq = next(self._seq) & 0xFFFF
        teach = frames.arp_request(check.source_ip, check.ingress_ip, check.ingress_mac)
        echo = frames.echo_request(check.source_ip, check.ingress_ip, check.ingress_mac, seq)
        return await self._exchange(check.ingress_ofport, "icmp", seq, [teach, echo]) is not None

    async def _tcp(self, check: LocalCheck) -> bool:
        assert check.ingress_ofport is not None and check.ingress_ip and check.source_ip
        assert check.settings.tcp_port is not None
        sport = EPHEMERAL + next(self._seq) % (65536 - EPHEMERAL)
        ports = (sport, check.settings.tcp_port)
        isn = random.getrandbits(32)
        teach = frames.arp_request(check.source_ip, check.ingress_ip, check.ingress_mac)
        syn = frames.tcp_segment(
            check.source_ip, check.ingress_ip, check.ingress_mac, ports, frames.TCP_SYN, isn
        )
        answer = await self._exchange(check.ingress_ofport, "tcp", sport, [teach, syn])
        if answer is None or not answer.ok:
            return False
        reset = frames.tcp_segment(
            check.source_ip, check.ingress_ip, check.ingress_mac, ports, frames.TCP_RST, answer.ack
        )
        self._send(check.ingress_ofport, reset)
        return True

    async def _exchange(
        self, ofport: int, kind: str, expected: object, sent: list[bytes]
    ) -> frames.Answer | None:
        """Send `sent` into `ofport` and wait for the answer coming out of the same port."""
        return await self._wait(ofport, kind, expected, ofport, sent)

    async def _wait(
        self, answer_port: int, kind: str, expected: object, into: int, sent: list[bytes]
    ) -> frames.Answer | None:
        key = (answer_port, kind)
        future: asyncio.Future[frames.Answer | None] = asyncio.get_running_loop().create_future()
        self._waiting[key] = (expected, future)
        try:
            for frame in sent:
                self._send(into, frame)
            return await future
        except ChannelError:
            return None
        finally:
            if self._waiting.get(key, (None, None))[1] is future:
                del self._waiting[key]

    def _send(self, ofport: int, frame: bytes) -> None:
        ofp, parser = ofcodec.ofp, ofcodec.parser
        actions = [parser.OFPActionOutput(ofport)]
        self.channel.send(
            parser.OFPPacketOut(ofcodec.DATAPATH, ofp.OFP_NO_BUFFER, ofp.OFPP_CONTROLLER, actions, frame)
        )

    def on_message(self, msg: Any) -> None:
        """A message the switch sent unasked: a packet-in completes the probe it answers."""
        if not isinstance(msg, ofcodec.parser.OFPPacketIn):
            return
        self.packet_ins += 1
        in_port, data = msg.match.get("in_port"), bytes(msg.data)
        if in_port is None:
            return
        seq = frames.probe_sequence(data)
        if seq is not None:
            self._complete((in_port, "datapath"), seq, frames.Answer("datapath", "", seq))
            return
        answer = frames.parse_answer(data)
        if answer is not None:
            self._complete((in_port, answer.kind), _key_of(answer), answer)

    def _complete(self, key: tuple[int, str], got: object, answer: frames.Answer) -> None:
        waiting = self._waiting.get(key)
        if waiting is None or waiting[0] != got or waiting[1].done():
            return  # late (its probe timed out), or not ours
        waiting[1].set_result(answer)


def _key_of(answer: frames.Answer) -> object:
    return answer.source if answer.kind == "arp" else answer.ident
