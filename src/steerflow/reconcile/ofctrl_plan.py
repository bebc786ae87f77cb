"""Batch: one apply's changes as ordered, encoded OpenFlow messages, and how each one moves the record.

Send order: group adds and modifies, flow adds, flow modifies, flow deletes, group deletes (a flow may
point at a group only once the group exists; a group may go only once no flow uses it). A batch can
be cut into several bundles at any message boundary; `apply_range` then records exactly the part the
switch committed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

from steerflow.flows.types import Flow, FlowKey, Group, Opaque
from steerflow.reconcile.diff import FlowChanges, GroupChanges
from steerflow.southbound.flowcodec import (
    OFPFC_ADD,
    OFPFC_DELETE_STRICT,
    OFPFC_MODIFY_STRICT,
    OFPGC_ADD,
    OFPGC_DELETE,
    OFPGC_MODIFY,
    FlowCodec,
)


class Op(enum.Enum):
    GROUP_ADD = "group add"
    GROUP_MODIFY = "group modify"
    FLOW_ADD = "flow add"
    FLOW_MODIFY = "flow modify"  # modify-strict, or a replacing add when the cookie changes
    FLOW_DELETE = "flow delete-strict"
    GROUP_DELETE = "group delete"


_ENCODE_CHUNK = 1024  # flows encoded per call while a bundle streams


@dataclass
class Segment:
    """Consecutive messages of one kind: the values they carry and their encoded bytes.

    `frames` is None for flow adds that are encoded while the bundle is being sent.
    """

    op: Op
    items: Sequence[Flow] | Sequence[Group]
    frames: list[bytes] | None


@dataclass
class Batch:
    codec: FlowCodec
    segments: list[Segment] = field(default_factory=list)
    odd: list[Flow] = field(default_factory=list)  # added/modified flows that are not canonical

    @property
    def size(self) -> int:
        return sum(len(s.items) for s in self.segments)

    @property
    def lazy(self) -> bool:
        """Whether some flows are encoded only while sending (so `odd` is complete only then)."""
        return any(s.frames is None for s in self.segments)

    def count(self, *ops: Op) -> int:
        return sum(len(s.items) for s in self.segments if s.op in ops)

    def frames(self) -> Iterator[bytes]:
        """Every message in order (flow adds of a lazy batch are encoded as they are pulled)."""
        for segment in self.segments:
            if segment.frames is not None:
                yield from segment.frames
            else:
                yield from self._encode_adds(segment.items)

    def _encode_adds(self, items: Sequence[Flow] | Sequence[Group]) -> Iterator[bytes]:
        flows = cast(Sequence[Flow], items)  # only flow adds are left to encode while sending
        for start in range(0, len(flows), _ENCODE_CHUNK):
            frames, odd = self.codec.flow_mods(flows[start : start + _ENCODE_CHUNK], OFPFC_ADD)
            self.odd.extend(odd)
            yield from frames

    def describe(self, index: int) -> str:
        """What message `index` of the batch does, e.g. "flow add cookie=0x..,table=3,..."."""
        for segment in self.segments:
            if index < len(segment.items):
                return f"{segment.op.value} {segment.items[index]}"
            index -= len(segment.items)
        return f"message #{index} past the end of the batch"

    def apply_range(self, start: int, end: int, flows: dict[FlowKey, Flow], groups: dict[int, Group]) -> None:
        """Record the effect of messages [start, end) on the installed state."""
        offset = 0
        for segment in self.segments:
            first, last = max(start - offset, 0), min(end - offset, len(segment.items))
            for item in segment.items[first:last]:
                _record(segment.op, item, flows, groups)
            offset += len(segment.items)


def _record(op: Op, item: Flow | Group, flows: dict[FlowKey, Flow], groups: dict[int, Group]) -> None:
    if isinstance(item, Group):
        if op is Op.GROUP_DELETE:
            groups.pop(item.group_id, None)
        else:
            groups[item.group_id] = item
    elif op is Op.FLOW_DELETE:
        flows.pop(item.key, None)
    else:
        flows[item.key] = item


def build_batch(
    codec: FlowCodec,
    groups: GroupChanges,
    flows: FlowChanges,
    installed: dict[FlowKey, Flow],
) -> Batch:
    """The changes in send order. A batch of adds only (a cold install) encodes its flows while it is
    sent; any other batch is encoded now, so that its non-canonical flows are known before sending."""
    batch = Batch(codec)
    _add(batch, Op.GROUP_ADD, groups.adds, [codec.group_mod(g, OFPGC_ADD) for g in groups.adds])
    _add(batch, Op.GROUP_MODIFY, groups.modifies, [codec.group_mod(g, OFPGC_MODIFY) for g in groups.modifies])
    if not (groups.modifies or groups.deletes or flows.modifies or flows.deletes):
        _add(batch, Op.FLOW_ADD, flows.adds, None)
        return batch
    adds, odd = codec.flow_mods(flows.adds, OFPFC_ADD)
    _add(batch, Op.FLOW_ADD, flows.adds, adds)
    modifies, odd_modifies = codec.flow_mods(flows.modifies, OFPFC_MODIFY_STRICT)
    _add(batch, Op.FLOW_MODIFY, flows.modifies, _replacing(flows.modifies, modifies, installed))
    _add(batch, Op.FLOW_DELETE, flows.deletes, codec.flow_mods(flows.deletes, OFPFC_DELETE_STRICT)[0])
    _add(batch, Op.GROUP_DELETE, groups.deletes, [codec.group_mod(g, OFPGC_DELETE) for g in groups.deletes])
    batch.odd = odd + odd_modifies
    return batch


def _add(batch: Batch, op: Op, items: Sequence[Flow] | Sequence[Group], frames: list[bytes] | None) -> None:
    if items:
        batch.segments.append(Segment(op, items, frames))


def _replacing(flows: Sequence[Flow], frames: list[bytes], installed: dict[FlowKey, Flow]) -> list[bytes]:
    """Modify-strict keeps a flow and its counters, but in OpenFlow 1.3 the cookie of a modify only
    filters: a new cookie (or timeouts someone else set) needs a replacing add, which in OF1.2+
    keeps the counters too."""
    out = frames
    for i, flow in enumerate(flows):
        old = installed.get(flow.key)
        if old is not None and (old.cookie != flow.cookie or _has_flow_attrs(old)):
            if out is frames:
                out = list(frames)
            out[i] = frames[i][:_COMMAND_AT] + bytes([OFPFC_ADD]) + frames[i][_COMMAND_AT + 1 :]
    return out


_COMMAND_AT = 25  # ofp_flow_mod: header 8, cookie 8, cookie_mask 8, table_id 1, then command


def _has_flow_attrs(flow: Flow) -> bool:
    return any(isinstance(a, Opaque) and a.kind == "flow" for a in flow.actions)


def split(size: int, limit: int) -> Iterable[tuple[int, int]]:
    """Message ranges of at most `limit` messages covering [0, size)."""
    for start in range(0, size, limit):
        yield start, min(start + limit, size)
