"""The frames and constants `ofcodec` builds by hand are os-ken's, byte for byte; the agent starts without
os-ken."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest

from steerflow.southbound import ofcodec
from steerflow.southbound.oferrors import ErrorReply

CONSTANTS = (
    "OFP_VERSION", "OFPT_HELLO", "OFPT_ERROR", "OFPT_ECHO_REQUEST", "OFPT_ECHO_REPLY", "OFPT_EXPERIMENTER",
    "OFPT_FEATURES_REQUEST", "OFPT_FEATURES_REPLY", "OFPT_SET_CONFIG", "OFPT_PACKET_IN",
    "OFPT_MULTIPART_REQUEST", "OFPT_MULTIPART_REPLY", "OFPT_BARRIER_REQUEST", "OFPT_BARRIER_REPLY",
    "OFPMP_FLOW", "OFPMP_GROUP_DESC", "OFPMPF_REPLY_MORE", "OFP_MULTIPART_REPLY_SIZE", "OFPTT_ALL",
    "OFPP_ANY", "OFPG_ANY", "OFPG_ALL", "OFPC_FRAG_NORMAL", "OFPHET_VERSIONBITMAP", "ONF_ET_BUNDLE_CONTROL",
    "ONF_ET_BUNDLE_ADD_MESSAGE", "ONF_BCT_OPEN_REQUEST", "ONF_BCT_COMMIT_REQUEST", "ONF_BCT_DISCARD_REQUEST",
    "ONF_BF_ATOMIC", "ONF_BF_ORDERED",
)  # fmt: skip


@pytest.mark.parametrize("name", CONSTANTS)
def test_each_constant_is_os_kens(name: str) -> None:
    assert getattr(ofcodec, name) == getattr(ofcodec.ofp, name)


def test_every_message_type_is_named_as_os_ken_names_it() -> None:
    for name, value in vars(ofcodec.ofp).items():
        if name.startswith("OFPT_") and isinstance(value, int) and value < 0x100:
            assert ofcodec.type_name(value) == name
    assert ofcodec.type_name(200) == "type200"


@pytest.mark.parametrize(
    ("table", "cookie", "mask"), [(ofcodec.OFPTT_ALL, 0, 0), (3, 0x0300000000000000, 0xFF00000000000000)]
)
def test_flow_stats_request_is_os_kens(table: int, cookie: int, mask: int) -> None:
    ofp, parser = ofcodec.ofp, ofcodec.parser
    theirs = parser.OFPFlowStatsRequest(
        ofcodec.DATAPATH, 0, table, ofp.OFPP_ANY, ofp.OFPG_ANY, cookie, mask, parser.OFPMatch()
    )
    assert ofcodec.flow_stats_request(table, cookie, mask, xid=7) == ofcodec.serialize(theirs, 7)


def test_group_desc_request_is_os_kens() -> None:
    theirs = ofcodec.parser.OFPGroupDescStatsRequest(ofcodec.DATAPATH, 0)
    assert ofcodec.group_desc_request(xid=9) == ofcodec.serialize(theirs, 9)


def test_set_config_is_os_kens() -> None:
    theirs = ofcodec.parser.OFPSetConfig(ofcodec.DATAPATH, ofcodec.ofp.OFPC_FRAG_NORMAL, 0xFFFF)
    assert ofcodec.set_config(0xFFFF, xid=3) == ofcodec.serialize(theirs, 3)


def test_features_reply_is_read_as_os_ken_reads_it() -> None:
    reply = ofcodec.parser.OFPSwitchFeatures(ofcodec.DATAPATH, 0x0000_1234_5678_9ABC, 0, 254, 0, 0x4F)
    frame = bytearray(ofcodec.HEADER.size + 24)
    ofcodec.HEADER.pack_into(frame, 0, ofcodec.OFP_VERSION, ofcodec.OFPT_FEATURES_REPLY, len(frame), 5)
    frame[ofcodec.HEADER.size :] = struct.pack(
        ofcodec.ofp.OFP_SWITCH_FEATURES_PACK_STR, reply.datapath_id, 0, 254, 0, 0x4F, 0
    )
    decoded = ofcodec.decode(bytes(frame))
    assert ofcodec.features(bytes(frame)) == (decoded.datapath_id, decoded.n_tables)
    assert ofcodec.features(bytes(frame)) == (reply.datapath_id, 254)


def test_an_error_is_named_as_ovs_ofctl_names_it() -> None:
    ofp = ofcodec.ofp
    frame = ofcodec.HEADER.pack(ofcodec.OFP_VERSION, ofcodec.OFPT_ERROR, 12, 4) + bytes(
        [0, ofp.OFPET_BAD_ACTION, 0, ofp.OFPBAC_BAD_OUT_PORT]
    )
    error = ErrorReply.decode(frame)
    assert (error.name, error.type_name) == ("OFPBAC_BAD_OUT_PORT", "OFPET_BAD_ACTION")


def test_the_agent_starts_without_os_ken() -> None:
    """Importing the agent, its command and the channel loads no os-ken (nor oslo.config, its
    dependency): a restart reads the switch ~0.2 s sooner (docs/scale.md "OVN side by side")."""
    code = (
        "import sys, steerflow.cli.main, steerflow.cli.agent_cmd, steerflow.agent.agent;"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('os_ken', 'oslo'))}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    assert out.stdout.strip() == "[]", out.stdout
