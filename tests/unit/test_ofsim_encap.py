"""ofsim encapsulation pipelines: MPLS push/pop round trips and NSH encap/decap, with OVS's install checks."""

from __future__ import annotations

import pytest

from steerflow.flows import (
    Decap,
    EncapEthernet,
    EncapNsh,
    NshTlv,
    Output,
    PopMpls,
    PushMpls,
    Resubmit,
    SetField,
)
from steerflow.ofsim import InvalidFlow, PipelineError, Switch
from tests.builders.ofsim_chains import MPLS, NSH_BARE, TCP, flow, mpls_chain, nsh_chain, vm_packet


def test_enters_port_1_leaves_port_9_with_label_1001() -> None:
    out = mpls_chain().run(vm_packet()).only(9)
    assert (out["eth_type"], out["mpls_label"], out["mpls_bos"], out["mpls_ttl"]) == (0x8847, 1001, 1, 64)
    assert "tcp_dst" not in out  # hidden under the label


def test_mpls_round_trip_restores_the_inner_packet() -> None:
    sw = mpls_chain()
    sent = vm_packet()
    labelled = sw.run(sent).only(9)
    back = sw.run(labelled.set(in_port=9)).only(2)
    assert back["eth_type"] == 0x0800
    assert back.without("in_port") == sent.without("in_port")
    assert back.payload == b"\x01\x02\x03"


def test_pop_with_the_wrong_ethertype_fails_with_the_trace() -> None:
    sw = Switch([flow(0, 10, (PopMpls(0x86DD), Output(2)), **MPLS)])
    labelled = vm_packet().push_mpls().set(mpls_label=5)
    with pytest.raises(PipelineError, match="under the label is 0x0800") as err:
        sw.run(labelled)
    assert err.value.trace is not None and err.value.trace.hops[0].table == 0


def test_mpls_fields_need_an_mpls_match_or_an_earlier_push() -> None:
    with pytest.raises(InvalidFlow, match="mpls_label lacks its prerequisites"):
        Switch([flow(30, 10, (SetField("mpls_label", 5), Output(2)), reg2=7)])
    with pytest.raises(InvalidFlow, match="pop_mpls"):
        Switch([flow(30, 10, (PopMpls(0x0800), Output(2)), reg2=7)])
    with pytest.raises(InvalidFlow, match="BAD_PREREQ"):
        Switch([flow(30, 10, (Output(2),), mpls_label=5)])
    with pytest.raises(InvalidFlow, match="read-only"):
        Switch([flow(30, 10, (SetField("mpls_bos", 1),), **MPLS)])
    # push then set in one flow is fine, and so is a pop after a push
    Switch([flow(30, 10, (PushMpls(), SetField("mpls_label", 5), PopMpls(0x0800), Output(2)), reg2=7)])


def test_two_labels_and_their_pops() -> None:
    sw = Switch(
        [
            flow(0, 10, (PushMpls(), SetField("mpls_label", 100), Resubmit(1), Output(3)), in_port=1, **TCP),
            flow(1, 10, (PushMpls(), SetField("mpls_label", 200), Output(2)), **MPLS),
        ]
    )
    trace = sw.run(vm_packet())
    two = trace.to(2)[0]
    assert [lse.label for lse in two.mpls] == [200, 100] and two["mpls_bos"] == 0
    # a resubmit does not undo what the resubmitted flow did
    assert [lse.label for lse in trace.to(3)[0].mpls] == [200, 100]
    assert two.pop_mpls(0x8847).pop_mpls(0x0800) == vm_packet()


def test_nsh_encap_leaves_port_9_with_spi_and_si() -> None:
    out = nsh_chain().run(vm_packet()).only(9)
    assert (out["eth_type"], out["nsh_spi"], out["nsh_si"], out["nsh_np"]) == (0x894F, 0x123, 255, 3)
    assert (out["nsh_c1"], out["eth_dst"], out["eth_src"]) == (
        0xC0FFEE,
        "fa:16:3e:00:00:09",
        "00:00:00:00:00:00",
    )


def test_nsh_round_trip_through_a_function_that_decrements_si() -> None:
    sw = nsh_chain()
    sent = vm_packet()
    at_function = sw.run(sent).only(9)
    returned = at_function.set(in_port=9, nsh_si=at_function.value("nsh_si") - 1)
    back = sw.run(returned).only(2)
    assert back.without("in_port") == sent.without("in_port")
    assert back.payload == sent.payload
    # and SI 255 (the function did not run) matches nothing
    assert sw.run(at_function.set(in_port=9)).dropped


def test_a_packet_without_ethernet_is_not_output_to_an_l2_port() -> None:
    sw = Switch([flow(0, 10, (EncapNsh(), Output(9)), in_port=1)])
    trace = sw.run(vm_packet())
    assert trace.dropped and "non-Ethernet packet" in trace.warnings[0]
    assert Switch(sw.flows, l3_ports=[9]).run(vm_packet()).only(9)["nsh_np"] == 3


def test_eth_type_matches_imply_an_ethernet_frame() -> None:
    sw = Switch(
        [
            flow(0, 10, (EncapNsh(), Resubmit(1), Resubmit(2)), in_port=1),
            flow(1, 10, (SetField("reg1", 1),), eth_type=0x894F),
            flow(2, 10, (SetField("reg2", 1),), nsh_spi=0, **NSH_BARE),
        ]
    )
    final = sw.run(vm_packet()).final
    assert final.get("reg1") is None and final["reg2"] == 1  # as OVS 3.1 does


def test_nsh_install_checks() -> None:
    with pytest.raises(InvalidFlow, match="nsh_spi needs eth_type"):
        Switch([flow(0, 10, (Output(2),), nsh_spi=5)])
    with pytest.raises(InvalidFlow, match="nsh_c1 needs nsh_mdtype=1"):
        Switch([flow(0, 10, (Output(2),), eth_type=0x894F, nsh_c1=5)])
    with pytest.raises(InvalidFlow, match="eth_dst lacks"):
        Switch([flow(0, 10, (EncapNsh(), SetField("eth_dst", "02:00:00:00:00:01")), in_port=1)])
    with pytest.raises(InvalidFlow, match="eth_dst lacks"):  # after an NSH decap OVS knows nothing
        Switch([flow(0, 10, (Decap(), Decap(), SetField("eth_dst", "02:00:00:00:00:01")), eth_type=0x894F)])
    with pytest.raises(InvalidFlow, match="read-only"):
        Switch([flow(0, 10, (SetField("nsh_np", 1),), eth_type=0x894F)])


def test_nsh_md2_tlvs_travel_with_the_packet() -> None:
    tlv = NshTlv(0x1000, 10, bytes.fromhex("12345678"))
    sw = Switch(
        [flow(0, 10, (EncapNsh(2, (tlv,)), SetField("nsh_spi", 7), EncapEthernet(), Output(9)), in_port=1)]
    )
    out = sw.run(vm_packet()).only(9)
    assert out["nsh_mdtype"] == 2 and out.nsh is not None and out.nsh.tlvs == (tlv,)
    assert str(sw.flows[0]).endswith(
        "encap(nsh(md_type=2,tlv(0x1000,10,0x12345678))),set_field:7->nsh_spi,encap(ethernet),output:9"
    )


def test_decapsulating_what_cannot_be_decapsulated_fails() -> None:
    sw = Switch([flow(0, 10, (Decap(), Decap(), Output(2)), in_port=1, **TCP)])
    with pytest.raises(PipelineError, match="cannot decap"):
        sw.run(vm_packet())
