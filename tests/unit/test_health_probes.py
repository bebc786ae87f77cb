"""The health probes' frames and their OpenFlow exchange: a datapath probe survives what a function does to
it (the lab emulator's rewrite, in every header), answers are recognised, packet-ins complete the probe
they answer and nothing else, and br-int hands probes back to the agent, never to tenants."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from steerflow.agent import probe_frames as frames
from steerflow.agent.health import LocalCheck, ProbeUnavailable
from steerflow.agent.probe_frames import ProbeHeader
from steerflow.agent.probes import Probes
from steerflow.compiler.compile import compile_nb
from steerflow.compiler.tables import PORT_SECURITY
from steerflow.lab.sfframes import Mode, rewrite_frame
from steerflow.nbdb.health import CheckSettings
from steerflow.ofsim import OFPP_CONTROLLER
from steerflow.pipeline.probe import PROBE_MAC
from steerflow.southbound.ofcodec import DATAPATH, ofp, parser
from tests.builders.chain_docs import chain_nb

HEADERS = {
    Mode.UNAWARE: ProbeHeader(),
    Mode.MPLS: ProbeHeader("mpls", label=100),
    Mode.NSH: ProbeHeader("nsh", spi=1, si=254),
}


@pytest.mark.parametrize("mode", list(HEADERS))
def test_a_datapath_probe_is_forwarded_by_a_function_and_read_back(mode: Mode) -> None:
    probe = frames.datapath_probe(HEADERS[mode], 0xDEAD01)
    returned = rewrite_frame(probe, mode, add=7).frame
    assert returned != probe  # the function changed its payload
    assert returned[6:12] == bytes.fromhex(PROBE_MAC.replace(":", ""))  # its source kept: br-int tells it
    assert frames.probe_sequence(returned) == 0xDEAD01


def test_ordinary_frames_are_not_probes() -> None:
    datagram = frames.echo_request("203.0.113.254", "203.0.113.3", "02:00:00:00:00:03", 5)
    assert frames.probe_sequence(datagram) is None
    assert frames.parse_answer(datagram) is None  # a request, and not to the probe MAC


def _to_probe(ethertype: int, body: bytes) -> bytes:
    return (
        bytes.fromhex(PROBE_MAC.replace(":", ""))
        + bytes.fromhex("020000000003")
        + struct.pack("!H", ethertype)
        + body
    )


def _ipv4(proto: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0,
                       bytes([203, 0, 113, 3]), bytes([203, 0, 113, 254])) + payload  # fmt: skip


def test_answers_to_the_probe_mac_are_recognised() -> None:
    arp = struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, bytes(6), bytes([203, 0, 113, 3]), bytes(6), bytes(4)
    )
    assert frames.parse_answer(_to_probe(0x0806, arp)) == frames.Answer("arp", "203.0.113.3")
    echo = struct.pack("!BBHHH", 0, 0, 0, frames.PROBE_ICMP_ID, 42)
    assert frames.parse_answer(_to_probe(0x0800, _ipv4(1, echo))) == frames.Answer("icmp", "203.0.113.3", 42)
    syn_ack = struct.pack("!HHIIBBHHH", 8080, 50000, 9, 1235, 5 << 4, 0x12, 0, 0, 0)
    answer = frames.parse_answer(_to_probe(0x0800, _ipv4(6, syn_ack)))
    assert answer == frames.Answer("tcp", "203.0.113.3", 50000, True, 1235)
    reset = struct.pack("!HHIIBBHHH", 8080, 50000, 0, 1235, 5 << 4, 0x14, 0, 0, 0)
    assert frames.parse_answer(_to_probe(0x0800, _ipv4(6, reset))) == frames.Answer(
        "tcp", "203.0.113.3", 50000, False, 1235
    )


def test_a_check_borrows_the_last_host_address_of_the_subnet_but_the_port_s_own() -> None:
    assert frames.borrowed_address("203.0.113.0/24", "203.0.113.3") == "203.0.113.254"
    assert frames.borrowed_address("203.0.113.0/24", "203.0.113.254") == "203.0.113.253"


class FakeChannel:
    """Records packet-outs; the test plays the switch."""

    target = "fake"

    def __init__(self, connected: bool = True) -> None:
        self.sent: list[Any] = []
        self.connected = connected

    def send(self, msg: Any) -> int:
        self.sent.append(msg)
        return len(self.sent)


def _packet_in(in_port: int, data: bytes) -> Any:
    match = parser.OFPMatch(in_port=in_port)
    return parser.OFPPacketIn(DATAPATH, ofp.OFP_NO_BUFFER, len(data), ofp.OFPR_ACTION, 10, 0, match, data)


CHECK = LocalCheck("pp1", CheckSettings("datapath", 200, 3), "in", "out", 3, 4, header=HEADERS[Mode.MPLS])


def test_a_datapath_probe_passes_when_it_comes_back_out_of_the_egress() -> None:
    async def run() -> bool:
        channel = FakeChannel()
        probes = Probes(channel)  # type: ignore[arg-type]
        probing = asyncio.create_task(probes.probe(CHECK))
        await asyncio.sleep(0)
        (out,) = channel.sent
        assert out.in_port == ofp.OFPP_CONTROLLER and out.actions[0].port == 3  # into the ingress
        returned = rewrite_frame(out.data, Mode.MPLS, add=3).frame
        probes.on_message(_packet_in(3, returned))  # out of the wrong port: not an answer
        probes.on_message(_packet_in(4, frames.datapath_probe(CHECK.header, 1)))  # another probe's
        await asyncio.sleep(0)
        assert not probing.done()
        probes.on_message(_packet_in(4, returned))
        return await asyncio.wait_for(probing, 1)

    assert asyncio.run(run()) is True


def test_a_probe_nobody_answers_is_left_to_the_prober_s_timeout() -> None:
    async def run() -> None:
        probes = Probes(FakeChannel())  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(probes.probe(CHECK), 0.05)
        assert not probes._waiting  # nothing left behind for a late answer

    asyncio.run(run())


def test_an_icmp_check_teaches_its_address_then_pings_and_passes_on_the_reply() -> None:
    check = LocalCheck("pp1", CheckSettings("icmp", 200, 3), "in", "out", 3, 4, "g", ProbeHeader(),
                       "02:00:00:00:00:03", "203.0.113.3", "203.0.113.254")  # fmt: skip

    async def run() -> bool:
        channel = FakeChannel()
        probes = Probes(channel)  # type: ignore[arg-type]
        probing = asyncio.create_task(probes.probe(check))
        await asyncio.sleep(0)
        teach, echo = (m.data for m in channel.sent)
        assert teach[12:14] == b"\x08\x06" and echo[12:14] == b"\x08\x00"
        seq = struct.unpack_from("!H", echo, 14 + 20 + 6)[0]
        reply = struct.pack("!BBHHH", 0, 0, 0, frames.PROBE_ICMP_ID, seq)
        probes.on_message(_packet_in(3, _to_probe(0x0800, _ipv4(1, reply))))
        return await asyncio.wait_for(probing, 1)

    assert asyncio.run(run()) is True


def test_br_int_hands_frames_from_or_to_the_probe_mac_from_a_service_port_to_the_agent() -> None:
    flows = compile_nb(chain_nb(correlation=None, sf_chassis="ch2"), "ch2", 100).flows.values()
    catches = [f for f in flows if f.table == PORT_SECURITY and any(
        field.value == PROBE_MAC for field in f.match.fields)]  # fmt: skip
    assert len(catches) == 4  # from and to the probe MAC, on both service ports
    for flow in catches:
        assert [str(a) for a in flow.actions] == [f"output:{OFPP_CONTROLLER}"] and flow.goto is None
        assert flow.priority > max(f.priority for f in flows if f.table == PORT_SECURITY and f not in catches)


def test_a_probe_without_a_switch_session_is_unavailable_not_failed() -> None:
    async def run() -> None:
        channel = FakeChannel(connected=False)
        with pytest.raises(ProbeUnavailable):
            await Probes(channel).probe(CHECK)  # type: ignore[arg-type]
        assert channel.sent == []

    asyncio.run(run())
