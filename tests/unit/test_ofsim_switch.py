"""ofsim.Switch: table lookup (priorities, masks, prerequisites), goto vs resubmit, outputs, misses, loops."""

from __future__ import annotations

import random
from typing import Any

import pytest

from steerflow.flows import Drop, Field, Flow, FlowKey, Match, Move, Output, Resubmit, SetField
from steerflow.ofsim import (
    OFPP_IN_PORT,
    AmbiguousMatch,
    InvalidFlow,
    Packet,
    PipelineLoop,
    Switch,
    overlapping,
)
from steerflow.ofsim.match import compile_match

IP = {"eth_type": 0x0800}
TCP = {"eth_type": 0x0800, "ip_proto": 6}
UDP = {"eth_type": 0x0800, "ip_proto": 17}


def flow(
    table: int,
    priority: int,
    actions: tuple[object, ...] = (),
    goto: int | None = None,
    cookie: int = 0,
    **match: object,
) -> Flow:
    return Flow(table, priority, Match.of(**match), tuple(actions), goto, cookie)  # type: ignore[arg-type]


def tcp(**extra: object) -> Packet:
    fields = {
        "in_port": 1,
        **TCP,
        "ipv4_src": "10.0.0.1",
        "ipv4_dst": "10.0.0.2",
        "tcp_src": 999,
        "tcp_dst": 80,
    }
    return Packet.of(**{**fields, **extra})  # type: ignore[arg-type]


def test_highest_priority_matching_flow_wins() -> None:
    sw = Switch(
        [
            flow(0, 10, (Output(2),), in_port=1),
            flow(0, 20, (Output(3),), in_port=1, **TCP),
            flow(0, 30, (Output(4),), in_port=1, **UDP),
        ]
    )
    assert sw.run(tcp()).ports == (3,)
    assert sw.run(Packet.of(in_port=1, eth_type=0x0806)).ports == (2,)


def test_equal_priority_overlap_is_a_compiler_bug() -> None:
    sw = Switch([flow(0, 10, (Output(2),), in_port=1), flow(0, 10, (Output(3),), **TCP)])
    with pytest.raises(AmbiguousMatch) as err:
        sw.run(tcp())
    assert err.value.table == 0 and len(err.value.flows) == 2
    assert err.value.trace is not None
    # packets that hit only one of them are fine
    assert sw.run(Packet.of(in_port=1, eth_type=0x0806)).ports == (2,)
    assert overlapping(sw.flows) == [(sw.flows[0], sw.flows[1])]
    with pytest.raises(InvalidFlow, match="equal-priority"):
        Switch(sw.flows, reject_overlaps=True)


def test_equal_priority_disjoint_flows_are_fine() -> None:
    flows = [flow(0, 10, (Output(2),), in_port=1, **TCP), flow(0, 10, (Output(3),), in_port=1, **UDP)]
    assert overlapping(flows) == []
    assert Switch(flows, reject_overlaps=True).run(tcp()).ports == (2,)


def test_masked_integer_and_mac_matches() -> None:
    sw = Switch(
        [
            flow(0, 30, (Output(2),), reg6=(0x10, 0xF0)),
            flow(0, 20, (Output(3),), eth_dst=("01:00:00:00:00:00", "01:00:00:00:00:00")),
            flow(0, 10, (Output(4),), tcp_dst=(0x50, 0xFFF0), **TCP),
        ]
    )
    assert sw.run(tcp(reg6=0x1F)).ports == (2,)
    assert sw.run(tcp(reg6=0x2F, eth_dst="ff:ff:ff:ff:ff:ff")).ports == (3,)
    assert sw.run(tcp(tcp_dst=0x5F)).ports == (4,)
    assert sw.run(tcp(tcp_dst=0x60)).dropped


def test_ip_prefixes_cidr_and_dotted() -> None:
    sw = Switch(
        [
            flow(0, 30, (Output(2),), ipv4_dst="10.1.2.0/24", **IP),
            flow(0, 20, (Output(3),), ipv4_dst=("10.1.0.0", "255.255.0.0"), **IP),
            Flow(0, 15, Match((Field("eth_type", 0x86DD), Field("ipv6_dst", "2001:db8::/32"))), (Output(5),)),
            flow(0, 10, (Output(4),), ipv4_src="10.0.0.1", **IP),
        ]
    )
    assert sw.run(tcp(ipv4_dst="10.1.2.77")).ports == (2,)
    assert sw.run(tcp(ipv4_dst="10.1.9.1")).ports == (3,)
    assert sw.run(tcp(ipv4_dst="10.2.0.1")).ports == (4,)
    v6 = Packet.of(in_port=1, eth_type=0x86DD, ipv6_dst="2001:db8:5::1")
    assert sw.run(v6).ports == (5,)


def test_prerequisites_tcp_port_does_not_match_other_protocols() -> None:
    sw = Switch([flow(0, 10, (Output(2),), tcp_dst=80, **TCP)])
    assert sw.run(tcp()).ports == (2,)
    # the value 80 is stored in the packet, but a UDP packet has no tcp_dst
    assert sw.run(Packet.of(in_port=1, eth_type=0x0800, ip_proto=17, udp_dst=80, tcp_dst=80)).dropped
    assert sw.run(Packet.of(in_port=1, eth_type=0x8847, mpls_label=5, tcp_dst=80)).dropped


def test_a_match_without_its_prerequisites_is_refused() -> None:
    with pytest.raises(InvalidFlow, match="tcp_dst needs eth_type"):
        Switch([flow(0, 10, (Output(2),), tcp_dst=80)])
    with pytest.raises(InvalidFlow, match="ip_proto"):
        Switch([flow(0, 10, (Output(2),), tcp_dst=80, **IP)])
    with pytest.raises(InvalidFlow, match="invalid mask"):
        Switch([flow(0, 10, (Output(2),), in_port=(1, 0xF))])


def test_table_miss_drops() -> None:
    trace = Switch([flow(0, 10, (Output(2),), in_port=5)]).run(tcp())
    assert trace.dropped
    assert trace.path == ((0, None),)
    assert "0. No match." in str(trace)


def test_goto_continues_forward_and_a_miss_there_drops() -> None:
    sw = Switch(
        [
            flow(0, 10, (SetField("reg6", 7),), goto=10, cookie=0xA, in_port=1),
            flow(10, 10, (Output(3),), goto=20, cookie=0xB, reg6=7),
        ]
    )
    trace = sw.run(tcp())
    assert trace.ports == (3,)
    assert trace.path == ((0, 0xA), (10, 0xB), (20, None))
    assert [h.via for h in trace.hops] == ["start", "goto", "goto"]
    assert trace.final["reg6"] == 7


def test_goto_must_go_forward() -> None:
    with pytest.raises(InvalidFlow, match="BAD_TABLE_ID"):
        Switch([flow(10, 10, goto=5)])
    with pytest.raises(InvalidFlow, match="BAD_TABLE_ID"):
        Switch([flow(10, 10, goto=10)])


def test_resubmit_returns_and_goto_does_not() -> None:
    sw = Switch(
        [
            flow(0, 10, (Resubmit(10), Output(4), Resubmit(30)), goto=20, in_port=1),
            flow(10, 10, (SetField("reg1", 1), Output(2))),
            flow(20, 10, (Output(5),), reg1=1),
            # table 30 has no flow: a miss inside a resubmit returns to the caller
        ]
    )
    trace = sw.run(tcp())
    assert trace.ports == (2, 4, 5)  # actions after resubmit ran, then goto
    assert [(h.table, h.via, h.depth) for h in trace.hops] == [
        (0, "start", 0),
        (10, "resubmit", 1),
        (30, "resubmit", 1),
        (20, "goto", 0),
    ]
    assert trace.hops[0].applied == (Resubmit(10), Output(4), Resubmit(30))


def test_resubmit_in_port_is_for_the_lookup_only() -> None:
    sw = Switch(
        [
            flow(0, 10, (Resubmit(1, in_port=2), Output(5)), in_port=1),
            flow(1, 10, (Resubmit(2),), in_port=2),
            flow(2, 10, (Output(4),), in_port=1),
            flow(2, 10, (Output(6),), in_port=2),
        ]
    )
    trace = sw.run(tcp())
    assert trace.ports == (4, 5)  # as in OVS 3.1: table 2 sees in_port=1 again
    assert trace.hops[1].packet["in_port"] == 2


def test_resubmit_loop_is_bounded() -> None:
    with pytest.raises(PipelineLoop, match="deeper than 64") as err:
        Switch([flow(0, 10, (Resubmit(1),)), flow(1, 10, (Resubmit(1),))]).run(tcp())
    assert err.value.trace is not None and len(err.value.trace.hops) == 66


def test_forward_resubmits_do_not_count_as_depth() -> None:
    chain = [flow(t, 10, (Resubmit(t + 1),)) for t in range(100)] + [flow(100, 10, (Output(9),))]
    assert Switch(chain).run(tcp()).ports == (9,)


def test_resubmit_fan_out_is_bounded_by_total_lookups() -> None:
    # each table resubmits to the next one twice: 2^13 lookups without ever nesting deeply
    flows = [flow(t, 10, (Resubmit(t + 1), Resubmit(t + 1))) for t in range(13)]
    with pytest.raises(PipelineLoop, match="4096"):
        Switch(flows).run(tcp())


def test_several_outputs_record_the_packet_as_it_was() -> None:
    sw = Switch([flow(0, 10, (Output(2), SetField("eth_dst", "02:00:00:00:00:99"), Output(3)), in_port=1)])
    trace = sw.run(tcp(eth_dst="02:00:00:00:00:02"))
    assert trace.ports == (2, 3)
    assert trace.to(2)[0]["eth_dst"] == "02:00:00:00:00:02"
    assert trace.to(3)[0]["eth_dst"] == "02:00:00:00:00:99"
    with pytest.raises(ValueError, match="exactly one output"):
        trace.only()
    with pytest.raises(ValueError, match="exactly one output on 2"):
        trace.only(2)


def test_output_to_the_input_port_is_skipped_unless_explicit() -> None:
    sw = Switch(
        [flow(0, 10, (Output(1), Output(2)), in_port=1), flow(0, 10, (Output(OFPP_IN_PORT),), in_port=7)]
    )
    trace = sw.run(tcp())
    assert trace.ports == (2,)
    assert trace.warnings == ("skipping output to input port",)
    assert sw.run(tcp(in_port=7)).ports == (7,)


def test_set_field_on_metadata_and_headers() -> None:
    actions = (
        SetField("metadata", 0xABC),
        SetField("tun_id", 42),
        SetField("tun_ipv4_dst", "192.168.0.9"),
        SetField("ipv4_dst", "10.9.9.9"),
        SetField("tcp_dst", 8080),
        SetField("eth_src", "02:00:00:00:00:AA"),
        Output(2),
    )
    out = Switch([flow(0, 10, actions, in_port=1, **TCP)]).run(tcp()).only(2)
    assert (out["metadata"], out["tunnel_id"], out["tun_ipv4_dst"]) == (0xABC, 42, "192.168.0.9")
    assert (out["ipv4_dst"], out["tcp_dst"], out["eth_src"]) == ("10.9.9.9", 8080, "02:00:00:00:00:aa")


def test_set_field_needs_its_prerequisites_in_the_match() -> None:
    with pytest.raises(InvalidFlow, match="MATCH_INCONSISTENT"):
        Switch([flow(0, 10, (SetField("ipv4_dst", "10.0.0.9"),), in_port=1)])
    with pytest.raises(InvalidFlow, match="read-only"):
        Switch([flow(0, 10, (SetField("eth_type", 0x86DD),), in_port=1)])


def test_move_copies_bit_ranges_between_fields() -> None:
    actions = (
        Move("reg6", "eth_dst", n_bits=16, dst_ofs=8),
        Move("reg6", "reg7", n_bits=4, src_ofs=4, dst_ofs=28),
        Move("NXM_OF_IP_SRC[]", "reg2", n_bits=32),
        Output(2),
    )
    sw = Switch([flow(0, 10, actions, in_port=1, **IP)])
    out = sw.run(tcp(reg6=0xABCD, reg7=0x0FFFFFFF, eth_dst="00:00:00:00:00:00")).only()
    assert out["eth_dst"] == "00:00:00:ab:cd:00"
    assert out["reg7"] == 0xCFFFFFFF
    assert out["reg2"] == 0x0A000001
    with pytest.raises(InvalidFlow, match="32 bits wide"):
        Switch([flow(0, 10, (Move("eth_src", "reg2", n_bits=48),))])


def test_drop_is_the_only_action_and_ends_that_flow() -> None:
    sw = Switch(
        [
            flow(0, 10, (Resubmit(5), Output(3)), in_port=1),
            flow(5, 10, (Drop(),)),
            flow(0, 10, (Drop(),), in_port=2),
        ]
    )
    assert sw.run(tcp(in_port=2)).dropped
    assert sw.run(tcp()).ports == (3,)  # a drop in a resubmitted table only ends that flow
    with pytest.raises(InvalidFlow, match="drop must not be accompanied"):
        Switch([flow(0, 10, (Drop(), Output(2)))])
    with pytest.raises(InvalidFlow, match="drop must not be accompanied"):
        Switch([flow(0, 10, (Drop(),), goto=3)])


def test_one_key_two_behaviours_is_refused_the_same_flow_twice_is_not() -> None:
    a = flow(0, 10, (Output(2),), in_port=1)
    assert len(Switch([a, a]).flows) == 1
    with pytest.raises(InvalidFlow, match="one key"):
        Switch([a, flow(0, 10, (Output(3),), in_port=1)])


def test_unknown_fields_are_refused_at_install() -> None:
    with pytest.raises(InvalidFlow, match="unknown field"):
        Switch([Flow(0, 10, Match((Field("tcp_dport", 80),)))])


def test_trace_renders_like_ofproto_trace() -> None:
    sw = Switch(
        [
            flow(0, 100, (SetField("reg6", 5), Resubmit(10)), goto=20, cookie=0x11, in_port=1),
            flow(10, 50, (Output(4),), cookie=0x12, reg6=5),
        ]
    )
    text = sw.run(tcp()).render(lambda cookie: {0x11: "ingress port 1"}.get(cookie))
    lines = text.splitlines()
    assert lines[0].startswith("Flow: in_port=1,")
    assert 'bridge("br-int")' in lines
    assert " 0. in_port=1, priority 100, cookie 0x11 (ingress port 1)" in lines
    assert "    set_field:5->reg6" in lines
    assert "    10. reg6=5, priority 50, cookie 0x12" in lines
    assert "        output:4" in lines
    assert "    goto_table:20" in lines
    assert "20. No match." in lines
    assert lines[-1].startswith("Output: port 4: in_port=1,reg6=5,")


def test_priority_wins_across_match_shapes() -> None:
    sw = Switch(
        [
            flow(0, 5, (Output(2),), in_port=1),
            flow(0, 7, (Output(3),), reg0=(0x1, 0x1)),
            flow(0, 6, (Output(4),), tcp_dst=80, **TCP),
        ]
    )
    assert sw.run(tcp(reg0=1)).ports == (3,)
    assert sw.run(tcp(reg0=2)).ports == (4,)
    assert sw.run(tcp(reg0=2, tcp_dst=81)).ports == (2,)
    with pytest.raises(AmbiguousMatch):  # equal priority in two different shapes
        Switch([flow(0, 5, (Output(2),), in_port=1), flow(0, 5, (Output(3),), reg0=1)]).run(tcp(reg0=1))


def test_classifier_agrees_with_a_linear_scan() -> None:
    rng = random.Random(7)

    def random_match() -> dict[str, Any]:
        shapes: list[dict[str, Any]] = [
            {"in_port": rng.randint(1, 4)},
            {"reg0": (rng.randint(0, 15), rng.choice([0xF3, 0xFC, 0xFF]))},
            {**TCP, "tcp_dst": rng.randint(1, 6)},
            {**UDP, "udp_dst": rng.randint(1, 6), "in_port": rng.randint(1, 4)},
            {"eth_dst": ("01:00:00:00:00:00", "01:00:00:00:00:00")},
        ]
        return rng.choice(shapes)

    by_key: dict[FlowKey, Flow] = {}
    for i in range(150):
        f = flow(0, rng.randint(0, 60), (Output(100 + i),), **random_match())
        by_key.setdefault(f.key, f)
    sw = Switch(by_key.values())
    compiled = [(f, compile_match(f.match)) for f in by_key.values()]
    outcomes = [0, 0, 0]  # misses, single winners, ties
    for _ in range(300):
        proto = rng.choice([6, 17, 0])
        l4 = {"tcp_dst" if proto == 6 else "udp_dst": rng.randint(1, 7)} if proto else {}
        packet = Packet.of(
            in_port=rng.randint(1, 5),
            reg0=rng.randint(0, 31),
            eth_dst=rng.choice(["01:00:00:00:00:01", "02:00:00:00:00:01"]),
            eth_type=0x0800 if proto else 0x0806,
            **({"ip_proto": proto, **l4} if proto else {}),
        )
        matching = [f for f, m in compiled if m.matches(packet)]
        top = max((f.priority for f in matching), default=None)
        expected = [f for f in matching if f.priority == top]
        outcomes[min(len(expected), 2)] += 1
        if len(expected) > 1:
            with pytest.raises(AmbiguousMatch) as err:
                sw.lookup(0, packet)
            assert set(err.value.flows) == set(expected)
        else:
            assert sw.lookup(0, packet) == (expected[0] if expected else None)
    assert all(outcomes), outcomes
