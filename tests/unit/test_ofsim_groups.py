"""ofsim groups: all (copies), indirect, fast failover liveness, select by stable weighted hash."""

from __future__ import annotations

from collections import Counter

import pytest

from steerflow.flows import Bucket, Flow, Group, GroupAction, Match, Output, SetField
from steerflow.ofsim import GroupChoice, InvalidFlow, Packet, Switch

FIVE_TUPLE = ("ipv4_src", "ipv4_dst", "ip_proto", "tcp_src", "tcp_dst")


def to_group(group_id: int, *then: Output) -> Flow:
    return Flow(0, 10, Match.of(in_port=1), (GroupAction(group_id), *then))


def conn(src: int, sport: int, dport: int = 80, **extra: int | str) -> Packet:
    return Packet.of(
        in_port=1,
        eth_type=0x0800,
        ip_proto=6,
        ipv4_src=f"10.0.{src >> 8}.{src & 0xFF}",
        ipv4_dst="10.9.0.1",
        tcp_src=sport,
        tcp_dst=dport,
        **extra,
    )


def lb(weights: tuple[int, ...], fields: tuple[str, ...] = FIVE_TUPLE) -> Group:
    buckets = tuple(Bucket((Output(10 + i),), weight=w, bucket_id=i) for i, w in enumerate(weights))
    return Group(1, "select", buckets, selection_fields=fields)


def test_all_group_runs_every_bucket_on_a_copy() -> None:
    group = Group(
        1,
        "all",
        (
            Bucket((SetField("reg0", 9), SetField("eth_dst", "02:00:00:00:00:09"), Output(2))),
            Bucket((Output(3),)),
        ),
    )
    trace = Switch([to_group(1, Output(4))], [group]).run(conn(1, 1000, eth_dst="02:00:00:00:00:01"))
    assert trace.ports == (2, 3, 4)
    assert trace.to(2)[0]["eth_dst"] == "02:00:00:00:00:09" and trace.to(2)[0]["reg0"] == 9
    # nothing a bucket did leaks into the next bucket or the actions after the group
    for port in (3, 4):
        assert trace.to(port)[0]["eth_dst"] == "02:00:00:00:00:01"
        assert trace.to(port)[0].get("reg0") is None
    assert trace.final.get("reg0") is None
    assert trace.choices == ()


def test_indirect_group_and_groups_chained_in_buckets() -> None:
    groups = [
        Group(1, "indirect", (Bucket((SetField("reg1", 1), GroupAction(2))),)),
        Group(2, "all", (Bucket((Output(5),)), Bucket((Output(6),)))),
    ]
    trace = Switch([to_group(1)], groups).run(conn(1, 1))
    assert trace.ports == (5, 6)
    assert all(p["reg1"] == 1 for p in trace.to(5) + trace.to(6))


def test_fast_failover_takes_the_first_live_bucket() -> None:
    ff = Group(1, "ff", (Bucket((Output(2),), watch_port=2), Bucket((Output(3),), watch_port=3)))
    flows = [to_group(1)]
    assert Switch(flows, [ff]).run(conn(1, 1)).ports == (2,)
    trace = Switch(flows, [ff], down_ports=[2]).run(conn(1, 1))
    assert trace.ports == (3,) and trace.choices == (GroupChoice(1, 1, 1),)
    dead = Switch(flows, [ff], down_ports=[2, 3]).run(conn(1, 1))
    assert dead.dropped and "no live bucket: dropped" in dead.warnings[0]


def test_select_is_sticky_for_one_connection() -> None:
    sw = Switch([to_group(1)], [lb((1, 1, 1, 1))])
    first = sw.run(conn(7, 4242)).ports
    for _ in range(5):
        assert sw.run(conn(7, 4242)).ports == first
    # fields outside the selection fields do not move a connection
    assert sw.run(conn(7, 4242, nw_ttl=3, eth_src="02:00:00:00:00:05")).ports == first
    # and the pick is exposed, for load-balancing tests
    choice = sw.run(conn(7, 4242)).choices
    assert choice == (GroupChoice(1, first[0] - 10, first[0] - 10),)
    assert sw.select_bucket(1, conn(7, 4242)) == first[0] - 10


def test_select_spreads_by_weight() -> None:
    sw = Switch([to_group(1)], [lb((1, 3, 0, 4))])
    counts = Counter(sw.select_bucket(1, conn(src, 1024 + src * 7)) for src in range(8000))
    assert counts[2] == 0  # weight 0 is never chosen
    for bucket, share in ((0, 1 / 8), (1, 3 / 8), (3, 4 / 8)):
        assert counts[bucket] / 8000 == pytest.approx(share, abs=0.02)


def test_select_spread_through_full_runs() -> None:
    sw = Switch([to_group(1)], [lb((1, 1))])
    ports = Counter(sw.run(conn(src, 5000)).ports[0] for src in range(2000))
    assert ports[10] / 2000 == pytest.approx(0.5, abs=0.04)


def test_removing_a_bucket_moves_only_its_connections() -> None:
    before = lb((1, 1, 1, 1))
    after = Group(1, "select", before.buckets[:2] + before.buckets[3:], selection_fields=FIVE_TUPLE)
    packets = [conn(src, 2000 + src) for src in range(3000)]
    picks = [
        (before.buckets[i].bucket_id, after.buckets[j].bucket_id) for i, j in _picks(before, after, packets)
    ]
    moved = [(b, a) for b, a in picks if b != a]
    assert moved and all(b == 2 for b, _ in moved)  # only bucket 2's flows moved


def _picks(before: Group, after: Group, packets: list[Packet]) -> list[tuple[int, int]]:
    old, new = Switch([to_group(1)], [before]), Switch([to_group(1)], [after])
    picks = []
    for p in packets:
        i, j = old.select_bucket(1, p), new.select_bucket(1, p)
        assert i is not None and j is not None
        picks.append((i, j))
    return picks


def test_selection_fields_decide_what_spreads() -> None:
    by_dst_port = Switch([to_group(1)], [lb((1, 1, 1, 1), ("tcp_dst",))])
    # one destination port: every source goes to the same bucket
    assert len({by_dst_port.select_bucket(1, conn(src, 1000 + src)) for src in range(200)}) == 1
    masked = Switch([to_group(1)], [lb((1, 1, 1, 1), ("ipv4_src=255.255.255.0",))])
    # sources in one /24 share a bucket
    assert len({masked.select_bucket(1, conn(src, 1)) for src in range(200)}) == 1


def test_default_selection_is_symmetric() -> None:
    sw = Switch([to_group(1)], [lb((1, 1, 1, 1, 1, 1, 1, 1), ())])
    for src in range(50):
        forward = conn(src, 3000 + src)
        reverse = forward.set(
            ipv4_src="10.9.0.1", ipv4_dst=forward["ipv4_src"], tcp_src=80, tcp_dst=3000 + src
        )
        assert sw.select_bucket(1, forward) == sw.select_bucket(1, reverse)


def test_select_skips_buckets_whose_watch_port_is_down() -> None:
    group = Group(1, "select", (Bucket((Output(2),), watch_port=2), Bucket((Output(3),), watch_port=3)))
    sw = Switch([to_group(1)], [group], down_ports=[2])
    assert {sw.run(conn(src, 1)).ports for src in range(50)} == {(3,)}


def test_set_field_in_a_bucket_is_skipped_on_packets_without_the_field() -> None:
    group = Group(1, "all", (Bucket((SetField("tcp_dst", 8080), Output(2))),))
    udp = Packet.of(in_port=1, eth_type=0x0800, ip_proto=17, udp_dst=53)
    trace = Switch([to_group(1)], [group]).run(udp)
    assert trace.only(2)["udp_dst"] == 53
    assert trace.warnings == ("skipped: the packet has no tcp_dst",)


@pytest.mark.parametrize(
    ("group", "error"),
    [
        (Group(1, "indirect", (Bucket((Output(2),)), Bucket((Output(3),)))), "exactly one bucket"),
        (Group(1, "all", (Bucket((Output(2),), weight=5),)), "only select groups"),
        (Group(1, "ff", (Bucket((Output(2),)),)), "requires watch_port"),
        (Group(1, "all", (Bucket((GroupAction(99),)),)), "no such group"),
        (Group(1, "fancy", ()), "unknown group type"),
        (Group(1, "select", (Bucket((Output(2),)),), selection_fields=("tcp_dport",)), "unknown field"),
    ],
)
def test_invalid_groups_are_refused(group: Group, error: str) -> None:
    with pytest.raises(InvalidFlow, match=error):
        Switch([], [group])


def test_a_flow_naming_a_missing_group_is_refused() -> None:
    with pytest.raises(InvalidFlow, match="BAD_OUT_GROUP"):
        Switch([to_group(7)])
