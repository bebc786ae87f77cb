"""ofsim's multipath: what each field set hashes, symmetric sets, link choice, install-time checks."""

from __future__ import annotations

from collections import Counter
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steerflow.flows.types import MULTIPATH_ALGORITHMS, MULTIPATH_FIELDS, Flow, Match, Multipath, Output
from steerflow.ofsim import InvalidFlow, Packet, Switch
from steerflow.ofsim.multipath import choose_link, flow_hash

PORTS = st.integers(1, 0xFFFF)
ADDRESSES = st.integers(1, 0xFFFFFFFE).map(lambda n: ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0)))


def udp(src: str, dst: str, sport: int, dport: int, **extra: object) -> Packet:
    fields: dict[str, object] = {
        "in_port": 1, "eth_src": "02:00:00:00:00:01", "eth_dst": "02:00:00:00:00:02", "eth_type": 0x0800,
        "ip_proto": 17, "ipv4_src": src, "ipv4_dst": dst, "udp_src": sport, "udp_dst": dport,
    }  # fmt: skip
    return Packet.of(**{**fields, **extra})  # type: ignore[arg-type]


def reverse(packet: Packet) -> Packet:
    swapped = {"eth_src": "eth_dst", "ipv4_src": "ipv4_dst", "udp_src": "udp_dst"}
    values = {}
    for a, b in swapped.items():
        values[a], values[b] = packet[b], packet[a]
    return packet.set(**values)


@given(
    ADDRESSES,
    ADDRESSES,
    PORTS,
    PORTS,
    st.sampled_from(["symmetric_l3l4+udp", "symmetric_l4", "symmetric_l3"]),
)
def test_symmetric_sets_hash_both_directions_alike(
    src: str, dst: str, sport: int, dport: int, fields: str
) -> None:
    there = udp(src, dst, sport, dport)
    assert flow_hash(fields, 0, there) == flow_hash(fields, 0, reverse(there))


def test_each_set_hashes_what_ovs_hashes_and_nothing_else() -> None:
    base = udp("10.0.0.1", "10.0.0.2", 5000, 7)
    changes = {
        "new source port": base.set(udp_src=5001),
        "new source address": base.set(ipv4_src="10.0.0.3"),
        "new destination address": base.set(ipv4_dst="10.0.0.4"),
        "new source MAC": base.set(eth_src="02:00:00:00:00:09"),
    }
    hashed = {  # which changes each set notices (symmetric_l4 counts TCP/SCTP ports only, as OVS)
        "eth_src": {"new source MAC"},
        "nw_src": {"new source address"},
        "nw_dst": {"new destination address"},
        "symmetric_l3": {"new source address", "new destination address"},
        "symmetric_l3l4": {"new source address", "new destination address"},
        "symmetric_l3l4+udp": {"new source port", "new source address", "new destination address"},
        "symmetric_l4": {"new source address", "new destination address", "new source MAC"},
    }
    assert set(hashed) == set(MULTIPATH_FIELDS)
    for fields, noticed in hashed.items():
        seen = {what for what, p in changes.items() if flow_hash(fields, 0, p) != flow_hash(fields, 0, base)}
        assert seen == noticed, fields


def test_tcp_ports_count_for_l3l4_and_l4_and_non_ip_falls_back_to_l2() -> None:
    tcp = Packet.parse("in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=5000,tp_dst=80")
    for fields in ("symmetric_l3l4", "symmetric_l4", "symmetric_l3l4+udp"):
        assert flow_hash(fields, 0, tcp) != flow_hash(fields, 0, tcp.set(tcp_src=5001)), fields
    arp = Packet.parse("in_port=1,arp,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff")
    other = arp.set(eth_src="02:00:00:00:00:07")
    assert flow_hash("symmetric_l3l4+udp", 0, arp) != flow_hash("symmetric_l3l4+udp", 0, other)
    assert flow_hash("nw_src", 0, arp) == flow_hash("nw_src", 0, other)  # no address: only the basis
    assert flow_hash("nw_src", 0, arp) != flow_hash("nw_src", 1, arp)


@pytest.mark.parametrize("algorithm", MULTIPATH_ALGORITHMS)
@pytest.mark.parametrize("n_links", [1, 3, 64, 100])
def test_every_algorithm_spreads_over_all_links_in_about_equal_shares(algorithm: str, n_links: int) -> None:
    counts = Counter(choose_link(h, algorithm, n_links, 0) for h in _hashes())
    assert set(counts) == set(range(n_links))
    expected = len(_hashes()) / n_links
    assert all(abs(c - expected) <= 5 * expected**0.5 for c in counts.values()), counts


def test_hrw_moves_only_the_flows_a_new_link_wins() -> None:
    hashes = _hashes()
    before = [choose_link(h, "hrw", 8, 0) for h in hashes]
    after = [choose_link(h, "hrw", 9, 0) for h in hashes]
    moved = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert all(b == 8 for _, b in moved)
    assert abs(len(moved) / len(hashes) - 1 / 9) < 0.03


def test_the_link_goes_into_the_destination_bits_only() -> None:
    action = Multipath("nw_src", 0, "modulo_n", 16, 0, "reg9", 4, 4)
    flows = [Flow(0, 1, Match(), (action, Output(2)))]
    packet = udp("10.0.0.1", "10.0.0.2", 1, 2, reg9=0xF00F)
    out = Switch(flows).run(packet).only(2)
    link = choose_link(flow_hash("nw_src", 0, packet), "modulo_n", 16, 0)
    assert out["reg9"] == 0xF00F | (link << 4) and (out["reg9"] >> 4) & 0xF == link


@pytest.mark.parametrize(
    "action",
    [
        Multipath("symmetric_l3l4+udp", 0, "hrw", 64, 0, "reg9", 0, 5),  # 5 bits cannot hold 64 links
        Multipath("symmetric_l3l4+udp", 0, "hrw", 0, 0, "reg9"),
        Multipath("symmetric_l3l4+udp", 0, "hrw", 4, 0, "reg9", 20, 16),  # past bit 31
        Multipath("ip_src", 0, "hrw", 4, 0, "reg9"),
        Multipath("symmetric_l3", 0, "round_robin", 4, 0, "reg9"),
        Multipath("symmetric_l3", 0, "hrw", 4, 0, "eth_type"),  # read-only
        Multipath("symmetric_l3", 0, "hrw", 4, 0, "tcp_src"),  # no TCP in this flow's match
    ],
)
def test_the_switch_refuses_multipath_actions_ovs_refuses(action: Multipath) -> None:
    with pytest.raises(InvalidFlow):
        Switch([Flow(0, 1, Match.of(eth_type=0x0800), (action,))])


@cache
def _hashes() -> tuple[int, ...]:
    """nw_src hashes of 6400 packets from distinct addresses (built once: packets are the slow part)."""
    return tuple(
        flow_hash("nw_src", 0, udp(f"10.0.{i >> 8}.{i & 255}", "192.0.2.1", 1000, 7)) for i in range(6400)
    )
