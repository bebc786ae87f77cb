"""ofsim's connection tracker: commit stores a mark per (zone, connection), ct(table=) recalls it, and the
switch refuses ct as OVS does."""

import pytest

from steerflow.flows.types import Ct, Flow, Match, Move, Output, SetField
from steerflow.ofsim import Packet, Switch
from steerflow.ofsim.errors import InvalidFlow

IP = Match.of(eth_type=0x0800)


def _udp(in_port: int, sport: int = 5000, reverse: bool = False) -> Packet:
    a, b = ("10.0.0.1", sport), ("10.0.0.2", 7)
    (src, s), (dst, d) = (b, a) if reverse else (a, b)
    return Packet.of(in_port=in_port, eth_type=0x0800, ip_proto=17, ipv4_src=src, ipv4_dst=dst,
                     udp_src=s, udp_dst=d)  # fmt: skip


def _switch() -> Switch:
    flows = [
        Flow(0, 10, Match.of(in_port=1), (SetField("reg2", 42),), goto=1),
        Flow(1, 10, IP, (Ct(True, 3, None, (Move("reg2", "ct_mark", 32),)), Output(9))),
        Flow(0, 10, Match.of(in_port=2, eth_type=0x0800), (Ct(zone=3, table=2),)),
        Flow(0, 10, Match.of(in_port=4, eth_type=0x0800), (Ct(zone=4, table=2),)),
        Flow(2, 10, Match.of(ct_mark=42, ct_state=0x22), (Output(20),)),
        Flow(2, 5, Match.of(ct_state=0x21), (Output(21),)),
    ]
    return Switch(flows)


def test_commit_stores_the_mark_and_a_later_lookup_in_the_zone_recalls_it() -> None:
    sw = _switch()
    assert sw.run(_udp(2)).ports == (21,)  # +trk+new: never committed
    assert sw.run(_udp(1)).ports == (9,)
    assert sw.run(_udp(2)).ports == (20,)  # +trk+est, ct_mark=42
    assert sw.run(_udp(2, reverse=True)).ports == (20,)  # the reply direction is the same connection
    assert sw.run(_udp(2, sport=5001)).ports == (21,)  # another connection
    assert sw.run(_udp(4)).ports == (21,)  # another zone


def test_ct_needs_an_ip_match_and_exec_writes_only_ct_mark() -> None:
    with pytest.raises(InvalidFlow, match="prerequisites"):
        Switch([Flow(0, 10, Match(), (Ct(zone=1, table=2),))])
    with pytest.raises(InvalidFlow, match="ct_mark"):
        Switch([Flow(0, 10, IP, (Ct(True, 1, None, (SetField("reg1", 1),)),))])
