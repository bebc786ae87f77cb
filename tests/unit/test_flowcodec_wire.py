"""FlowCodec against real wire bytes: what OVS 3.1 reported for flows ovs-ofctl installed, os-ken's
parser reading our messages, and foreign content (fields, actions, instructions we do not model)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings

from steerflow.flows.types import (
    Decap,
    EncapEthernet,
    EncapNsh,
    Field,
    Flow,
    Match,
    Move,
    Multipath,
    NshTlv,
    Opaque,
    Output,
    PopMpls,
    Resubmit,
    SetField,
)
from steerflow.southbound.flowcodec import (
    OFPFC_ADD,
    OFPFC_DELETE_STRICT,
    FlowCodec,
    decode_group,
    group_entries,
)
from steerflow.southbound.flowcodec_actions import decode_instructions, encode_instructions
from steerflow.southbound.flowcodec_fields import BY_NAME, Kind
from steerflow.southbound.flowcodec_match import decode_match, encode_match
from steerflow.southbound.ofcodec import FlowEntry, decode
from tests.builders.flow_strategies import entry_of, matches


def _entry(match: str, instructions: str, idle: int = 0) -> FlowEntry:
    return FlowEntry(1, 10, 0, idle, 0, 0, 0, 0, bytes.fromhex(match), bytes.fromhex(instructions))


# (ovs-ofctl flow, then match and instructions as `ovs-ofctl dump-flows` reported them on the wire)
OVS_REPORTED = [
    (
        "reg5=0x1/0x1,tun_id=0x7,metadata=0x5,in_port=3 actions=set_field:0x1->metadata,"
        "set_field:10.0.0.2->tun_dst,set_field:0x5->tun_id,output:3",
        "00010030800000040000000380004c08000000000000000700010b080000000100000001800004080000000000000005",
        "00040048000000000019001080000408000000000000000100190010000140040a00000200000000001900108000"
        "4c08000000000000000500000010000000030000000000000000",
        Flow(
            1,
            10,
            Match.of(in_port=3, tunnel_id=7, metadata=5, reg5=(1, 1)),
            (
                SetField("metadata", 1),
                SetField("tun_ipv4_dst", "10.0.0.2"),
                SetField("tunnel_id", 5),
                Output(3),
            ),
        ),
    ),
    (
        "arp,arp_op=1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
        "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
        "move:NXM_NX_REG0[0..15]->NXM_NX_TUN_ID[16..31]",
        "0001001080000a02080680002a020001",
        "0004006800000000ffff00180000232000060030000000000000040600000206ffff0018000023200006003000000000"
        "0001220600012406ffff00180000232000060020000000000000200400002204ffff001800002320000600100000001000"
        "01000400012008",
        Flow(
            1,
            10,
            Match.of(eth_type=0x806, arp_op=1),
            (
                Move("eth_src", "eth_dst", 48),
                Move("arp_sha", "arp_tha", 48),
                Move("arp_spa", "arp_tpa", 32),
                Move("reg0", "tunnel_id", 16, 0, 16),
            ),
        ),
    ),
    (
        "packet_type=(1,0x894f),nsh_spi=0x5,nsh_si=3 actions=decap(),goto_table:2",
        "00010021800058040001894fffff0808005ad65000000005ffff0a05005ad6500300000000000000",
        "0004001800000000ffff001000002320002f00000000fffe0001000802000000",
        Flow(1, 10, Match.of(packet_type=0x1894F, nsh_spi=5, nsh_si=3), (Decap(),), goto=2),
    ),
    (
        "ip actions=encap(nsh(md_type=1)),set_field:0x10->nsh_spi,set_field:5->nsh_si,output:1",
        "0001000a80000a020800000000000000",
        "0004005000000000ffff001800002320002e00000001894f000401050100000000190010ffff0808005ad6500000001000"
        "190010ffff0a05005ad6500500000000000010000000010000000000000000",
        Flow(
            1,
            10,
            Match.of(eth_type=0x800),
            (EncapNsh(1), SetField("nsh_spi", 0x10), SetField("nsh_si", 5), Output(1)),
        ),
    ),
    (
        "ip actions=encap(nsh(md_type=2,tlv(0x1000,10,0x12345678),tlv(0x2000,3,0xab))),output:1",
        "0001000a80000a020800000000000000",
        "0004005000000000ffff003800002320002e00000001894f00040105020000000004021010000a041234567800000000"
        "0004021020000301ab0000000000000000000010000000010000000000000000",
        Flow(
            1,
            10,
            Match.of(eth_type=0x800),
            (
                EncapNsh(2, (NshTlv(0x1000, 10, bytes.fromhex("12345678")), NshTlv(0x2000, 3, b"\xab"))),
                Output(1),
            ),
        ),
    ),
    (
        "ip actions=encap(ethernet),output:1",
        "0001000a80000a020800000000000000",
        "0004002800000000ffff001000002320002e00000000000000000010000000010000000000000000",
        Flow(1, 10, Match.of(eth_type=0x800), (EncapEthernet(), Output(1))),
    ),
    (
        "reg2=5 actions=multipath(symmetric_l3l4+udp,0,hrw,4,0,reg9[0..15]),resubmit(,31)",
        "0001000c000104040000000500000000",
        "0004003800000000ffff002000002320000a00030000000000020003000000000000000f00011204ffff0010000023"
        "20000efff81f000000",
        Flow(
            1, 10, Match.of(reg2=5), (Multipath("symmetric_l3l4+udp", 0, "hrw", 4, 0, "reg9"), Resubmit(31))
        ),
    ),
    (
        "reg2=6 actions=multipath(nw_src,7,hash_threshold,64,3,reg9[3..10])",
        "0001000c000104040000000600000000",
        "0004002800000000ffff002000002320000a0004000700000001003f00000003000000c700011204",
        Flow(1, 10, Match.of(reg2=6), (Multipath("nw_src", 7, "hash_threshold", 64, 3, "reg9", 3, 8),)),
    ),
    (
        "reg2=7 actions=multipath(symmetric_l3,65535,iter_hash,65536,4294967295,NXM_NX_REG1[])",
        "0001000c000104040000000700000000",
        "0004002800000000ffff002000002320000a0006ffff00000003ffffffffffff0000001f00010204",
        Flow(
            1,
            10,
            Match.of(reg2=7),
            (Multipath("symmetric_l3", 0xFFFF, "iter_hash", 0x10000, 0xFFFFFFFF, "reg1", 0, 32),),
        ),
    ),
    (
        "mpls actions=pop_mpls:0x0800,resubmit(,3),resubmit(5,4),IN_PORT,CONTROLLER:65535",
        "0001000a80000a028847000000000000",
        "00040050000000000014000808000000ffff001000002320000efff803000000ffff001000002320000e000504000000"
        "00000010fffffff8000000000000000000000010fffffffdffff000000000000",
        Flow(
            1,
            10,
            Match.of(eth_type=0x8847),
            (PopMpls(0x800), Resubmit(3), Resubmit(4, 5), Output(0xFFFFFFF8), Output(0xFFFFFFFD)),
        ),
    ),
]


def test_what_ovs_reports_decodes_to_our_values_and_we_encode_the_same_instructions() -> None:
    codec = FlowCodec()
    for text, match, instructions, expected in OVS_REPORTED:
        flow = codec.decode_flow(_entry(match, instructions))
        assert flow == expected, text
        assert encode_instructions(flow.actions, flow.goto)[0].hex() == instructions, text
        assert encode_match(flow.match)[0].hex() == match, text  # OVS's field order, byte for byte


def test_foreign_instructions_timeouts_and_actions_are_opaque_and_re_encode_exactly() -> None:
    # ip,nw_dst=10.0.0.0/8,idle_timeout=30
    # actions=clear_actions,write_actions(output:3),write_metadata:0x5/0xff
    match = "0001001680000a020800800019080a000000ff0000000000"
    instructions = (
        "0005000800000000000300180000000000000010000000030000000000000000"
        "0002001800000000000000000000000500000000000000ff"
    )
    codec = FlowCodec()
    flow = codec.decode_flow(_entry(match, instructions, idle=30))
    assert flow.match == Match.of(eth_type=0x800, ipv4_dst="10.0.0.0/8")
    assert [a.kind for a in flow.actions if isinstance(a, Opaque)] == ["instruction"] * 3 + ["flow"]
    assert flow.actions[-1] == Opaque("flow", "idle_timeout=30,hard_timeout=0,flags=0")
    data = codec.flow_mod(flow, OFPFC_ADD)
    assert entry_of(data).instructions.hex() == instructions and entry_of(data).idle_timeout == 30
    # load:0x5->NXM_NX_REG3[0..7] is an action we do not model
    load = "ffff00180000232000070007000106040000000000000005"
    (action,), goto = decode_instructions(bytes.fromhex("00040020" + "00000000" + load))
    assert action == Opaque("action", load) and goto is None
    assert encode_instructions((action,), None)[0].hex() == "0004002000000000" + load


def test_unknown_match_fields_keep_their_exact_bytes() -> None:
    # ct_ipv6_src (NXM1 122, 16 bytes) and actset_output (ONF experimenter 0x4f4e4600, field 43), masked
    ct_ipv6_src = "0001f410" + "00" * 15 + "01"
    actset_output = "ffff5708" + "4f4e4600" + "0002" + "0fff"
    body = bytes.fromhex(ct_ipv6_src + actset_output)
    length = 4 + len(body)
    data = (1).to_bytes(2, "big") + length.to_bytes(2, "big") + body + bytes(-length % 8)
    match = decode_match(data)
    assert match.fields == (
        Field("oxm_0001_122_16", "0x" + "00" * 15 + "01"),
        Field("oxm_ffff_43_4f4e4600_2", "0x0002", "0x0fff"),
    )
    encoded, canonical = encode_match(match)
    assert canonical and sorted(_tlvs(encoded)) == sorted([ct_ipv6_src, actset_output])
    flow = Flow(0, 5, match)
    delete = FlowCodec().flow_mod(flow, OFPFC_DELETE_STRICT)
    assert entry_of(delete).match == encoded  # delete-strict names exactly that match


def test_tcp_flags_are_the_onf_experimenter_field_ovs_dumps() -> None:
    # OVS writes tcp_flags in OpenFlow 1.3 dumps as ONF extension 56: class 0xffff, field 42
    tcp_flags = "ffff5508" + "4f4e4600" + "0002" + "0012"
    body = bytes.fromhex(tcp_flags)
    length = 4 + len(body)
    data = (1).to_bytes(2, "big") + length.to_bytes(2, "big") + body + bytes(-length % 8)
    match = decode_match(data)
    assert match.fields == (Field("tcp_flags", 2, 0x12),)
    encoded, canonical = encode_match(match)
    assert canonical and _tlvs(encoded) == [tcp_flags]


def _tlvs(match: bytes) -> list[str]:
    out, offset, end = [], 4, int.from_bytes(match[2:4], "big")
    while offset < end:
        size = 4 + match[offset + 3]
        out.append(match[offset : offset + size].hex())
        offset += size
    return out


def test_group_descriptions_as_ovs_reports_them() -> None:
    # all (2 buckets), select (weights 5, 7), ff (watch ports), indirect, empty all
    body = bytes.fromhex(
        "004800000000000100200000ffffffffffffffff000000000000001000000001000000000000000000200000ffffffff"
        "ffffffff0000000000000010000000020000000000000000004801000000000200200005ffffffffffffffff00000000"
        "0000001000000001000000000000000000200007ffffffffffffffff00000000000000100000000200000000000000000048"
        "0300000000030020000000000001ffffffff00000000000000100000000100000000000000000020000000000002ffffffff"
        "0000000000000010000000020000000000000000003802000000000400300000ffffffffffffffff0000000000190010000140"
        "040a00000100000000000000100000000100000000000000000008000000000005"
    )
    got = [str(decode_group(entry)) for entry in group_entries(body)]
    assert got == [
        "group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2",
        "group_id=2,type=select,bucket=weight:5,actions=output:1,bucket=weight:7,actions=output:2",
        "group_id=3,type=ff,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=output:2",
        "group_id=4,type=indirect,bucket=actions=set_field:10.0.0.1->tun_dst,output:1",
        "group_id=5,type=all",
    ]


@settings(max_examples=300, deadline=None)
@given(matches())
def test_os_ken_reads_our_matches_as_we_meant_them(match: Match) -> None:
    if match.get("packet_type") is not None:
        return  # an OF1.5 field os-ken's OF1.3 parser does not know
    if match.get("nd_reserved") is not None or match.get("nd_options_type") is not None:
        return  # Ericsson OXMs (OVS 2.11+), unknown to os-ken
    mod = decode(FlowCodec().flow_mod(Flow(0, 1, match), OFPFC_ADD))
    theirs = {name: _norm(name, value) for name, value in mod.match.items()}
    ours = {f.name: _norm(f.name, f.value if f.mask is None else (f.value, f.mask)) for f in match.fields}
    assert theirs == ours


def _norm(name: str, value: object) -> object:
    """IPv6 addresses as ipaddress spells them (os-ken writes v4-mapped ones the inet_ntop way)."""
    if isinstance(value, tuple):
        return tuple(_norm(name, v) for v in value)
    if isinstance(value, str) and BY_NAME[name].kind is Kind.IPV6:
        return str(ipaddress.IPv6Address(value))
    return value
