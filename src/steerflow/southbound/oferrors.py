"""OpenFlow error replies, named the way `ovs-ofctl` names them, and the channel's exceptions."""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from steerflow.southbound import ofcodec
from steerflow.southbound.ofcodec import HEADER

_ERROR = struct.Struct("!HH")
_EXPERIMENTER_ERROR = struct.Struct("!HHI")
OFPET_EXPERIMENTER = 0xFFFF
ONF_EXPERIMENTER_ID = 0x4F4E4600
NX_EXPERIMENTER_ID = 0x00002320

# Per standard error type, the prefix of its code constants in os-ken's ofproto_v1_3.
_CODE_PREFIXES = (
    ("OFPET_HELLO_FAILED", "OFPHFC_"),
    ("OFPET_BAD_REQUEST", "OFPBRC_"),
    ("OFPET_BAD_ACTION", "OFPBAC_"),
    ("OFPET_BAD_INSTRUCTION", "OFPBIC_"),
    ("OFPET_BAD_MATCH", "OFPBMC_"),
    ("OFPET_FLOW_MOD_FAILED", "OFPFMFC_"),
    ("OFPET_GROUP_MOD_FAILED", "OFPGMFC_"),
    ("OFPET_PORT_MOD_FAILED", "OFPPMFC_"),
    ("OFPET_TABLE_MOD_FAILED", "OFPTMFC_"),
    ("OFPET_QUEUE_OP_FAILED", "OFPQOFC_"),
    ("OFPET_SWITCH_CONFIG_FAILED", "OFPSCFC_"),
    ("OFPET_ROLE_REQUEST_FAILED", "OFPRRFC_"),
    ("OFPET_METER_MOD_FAILED", "OFPMMFC_"),
    ("OFPET_TABLE_FEATURES_FAILED", "OFPTFFC_"),
)


@functools.cache
def _names() -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    """Error type names and (type, code) names, from os-ken's constants: read when an error is named,
    so the agent does not load os-ken to start (`ofcodec`)."""
    constants = vars(ofcodec.ofp)
    types = {v: k for k, v in constants.items() if k.startswith("OFPET_") and isinstance(v, int)}
    codes = {
        (constants[etype], value): name
        for etype, prefix in _CODE_PREFIXES
        for name, value in constants.items()
        if name.startswith(prefix) and isinstance(value, int)
    }
    return types, codes


# OF1.3 has no error types for bundles and Nicira extensions: OVS sends them as experimenter errors
# (ONF for the 1.4 errors it backports, Nicira for its own). Codes as listed in OVS's ofp-errors.h.
_BUNDLE_CODES = (
    "UNKNOWN", "EPERM", "BAD_ID", "BUNDLE_EXIST", "BUNDLE_CLOSED", "OUT_OF_BUNDLES", "BAD_TYPE", "BAD_FLAGS",
    "MSG_BAD_LEN", "MSG_BAD_XID", "MSG_UNSUP", "MSG_CONFLICT", "MSG_TOO_MANY", "MSG_FAILED", "TIMEOUT",
    "BUNDLE_IN_PROGRESS",
)  # fmt: skip
_EXPERIMENTER_NAMES = {
    **{(ONF_EXPERIMENTER_ID, 2300 + i): f"OFPBFC_{n}" for i, n in enumerate(_BUNDLE_CODES)},
    (ONF_EXPERIMENTER_ID, 2360): "OFPFMFC_BAD_PRIORITY",
    (ONF_EXPERIMENTER_ID, 2370): "OFPACFC_INVALID",
    (ONF_EXPERIMENTER_ID, 2371): "OFPACFC_UNSUPPORTED",
    (ONF_EXPERIMENTER_ID, 2372): "OFPACFC_EPERM",
    (ONF_EXPERIMENTER_ID, 2640): "OFPBRC_MULTIPART_REQUEST_TIMEOUT",
    (ONF_EXPERIMENTER_ID, 2641): "OFPBRC_MULTIPART_REPLY_TIMEOUT",
    (ONF_EXPERIMENTER_ID, 4250): "OFPBAC_BAD_SET_MASK",
    (NX_EXPERIMENTER_ID, 2): "NXBRC_NXM_INVALID",
    (NX_EXPERIMENTER_ID, 3): "NXBRC_NXM_BAD_TYPE",
    (NX_EXPERIMENTER_ID, 4): "NXBRC_MUST_BE_ZERO",
    (NX_EXPERIMENTER_ID, 5): "NXBRC_BAD_REASON",
    (NX_EXPERIMENTER_ID, 9): "NXBRC_FM_BAD_EVENT",
    (NX_EXPERIMENTER_ID, 10): "NXBRC_UNENCODABLE_ERROR",
    (NX_EXPERIMENTER_ID, 11): "NXBAC_MUST_BE_ZERO",
    (NX_EXPERIMENTER_ID, 12): "NXFMFC_HARDWARE",
    (NX_EXPERIMENTER_ID, 13): "NXFMFC_BAD_TABLE_ID",
    (NX_EXPERIMENTER_ID, 15): "NXBAC_BAD_CONJUNCTION",
    (NX_EXPERIMENTER_ID, 37): "NXFMFC_INVALID_TLV_FIELD",
    (NX_EXPERIMENTER_ID, 42): "NXBAC_CT_DATAPATH_SUPPORT",
    (NX_EXPERIMENTER_ID, 43): "NXBMC_CT_DATAPATH_SUPPORT",
}


@dataclass(frozen=True)
class ErrorReply:
    """One OFPT_ERROR from the switch; `data` holds (the start of) the message that failed."""

    xid: int
    type: int
    code: int
    data: bytes = field(repr=False)
    experimenter: int | None = None

    @classmethod
    def decode(cls, frame: bytes) -> ErrorReply:
        xid = HEADER.unpack_from(frame)[3]
        etype, code = _ERROR.unpack_from(frame, HEADER.size)
        if etype == OFPET_EXPERIMENTER and len(frame) >= HEADER.size + _EXPERIMENTER_ERROR.size:
            _, code, experimenter = _EXPERIMENTER_ERROR.unpack_from(frame, HEADER.size)
            return cls(xid, etype, code, bytes(frame[HEADER.size + _EXPERIMENTER_ERROR.size :]), experimenter)
        return cls(xid, etype, code, bytes(frame[HEADER.size + _ERROR.size :]))

    @property
    def type_name(self) -> str:
        return _names()[0].get(self.type, f"OFPET_{self.type}")

    @property
    def name(self) -> str:
        """E.g. OFPBAC_BAD_OUT_PORT, OFPBFC_MSG_FAILED, NXFMFC_BAD_TABLE_ID (as ovs-ofctl prints it)."""
        if self.experimenter is not None:
            known = _EXPERIMENTER_NAMES.get((self.experimenter, self.code))
            return known or f"experimenter 0x{self.experimenter:08x} code {self.code}"
        return _names()[1].get((self.type, self.code), f"{self.type_name} code {self.code}")

    @property
    def failed_type(self) -> int | None:
        """The OFPT_* type of the message that failed, from the copy the switch sent back."""
        return self.data[1] if len(self.data) >= 2 else None

    def __str__(self) -> str:
        return f"{self.name} (xid {self.xid})"


class ChannelError(Exception):
    """Base of everything the OpenFlow channel raises."""


class ChannelClosed(ChannelError, ConnectionError):
    """The connection is down (or went down while a request was waiting for its reply)."""


class HandshakeFailed(ChannelError):
    """The switch is reachable but the OF1.3 session could not be established."""


class OpenFlowError(ChannelError):
    """The switch answered a request with an error; `name` is e.g. OFPBAC_BAD_OUT_PORT."""

    def __init__(self, reply: ErrorReply, context: str = "") -> None:
        self.reply = reply
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}{reply.name} (type {reply.type_name}, code {reply.code}, xid {reply.xid})")

    @property
    def name(self) -> str:
        return self.reply.name

    @property
    def type(self) -> int:
        return self.reply.type

    @property
    def code(self) -> int:
        return self.reply.code


class BatchFailed(OpenFlowError):
    """Messages sent without waiting (send/send_raw) failed; raised by the next barrier().

    `errors` holds them all, in arrival order; name/type/code are the first one's.
    """

    def __init__(self, errors: Sequence[ErrorReply]) -> None:
        self.errors = list(errors)
        more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
        super().__init__(errors[0], f"{len(errors)} message(s) failed before the barrier{more}")


class BundleFailed(OpenFlowError):
    """The switch rejected a bundle; it was discarded, so nothing of it is installed.

    `failures` pairs each error with the index of the failing message in the batch given to
    bundle() (None for an error on the bundle itself, e.g. OFPBFC_MSG_FAILED on the commit).
    name/type/code/`index` are those of the root cause: the first message-level error if any.
    """

    def __init__(self, bundle_id: int, failures: Sequence[tuple[int | None, ErrorReply]]) -> None:
        self.bundle_id = bundle_id
        self.failures = list(failures)
        by_message = [f for f in self.failures if f[0] is not None]
        self.index, cause = (by_message or self.failures)[0]
        where = f"message #{self.index}" if self.index is not None else "the bundle itself"
        super().__init__(cause, f"bundle {bundle_id} rejected at {where}, nothing applied")
