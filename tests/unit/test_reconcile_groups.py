"""The reconciler's group plan: a group the compiler hands again is not encoded again; a rebuilt one is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from steerflow.flows import Bucket, Flow, Group, Output, SetField
from steerflow.flows.types import FlowKey
from steerflow.reconcile.ofctrl import Reconciler
from steerflow.reconcile.ofctrl_plan import Op
from steerflow.southbound.flowcodec import FlowCodec


class CountingCodec(FlowCodec):
    """The real codec, counting the groups it encodes for their canonical form."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[int] = []

    def canonical_group(self, group: Group) -> Group:
        self.encoded.append(group.group_id)
        return super().canonical_group(group)


@dataclass
class State:
    groups: dict[int, Group]
    flows: dict[FlowKey, Flow] = field(default_factory=dict)


def _flood(*remotes: str) -> Group:
    tunnels = tuple(
        Bucket((SetField("tun_ipv4_dst", ip), SetField("tunnel_id", 5), Output(9))) for ip in remotes
    )
    return Group(1, "all", (Bucket((Output(1),)), *tunnels))


def _planned(reconciler: Reconciler, state: State) -> dict[Op, list[Any]]:
    plan = reconciler._plan(state, set())
    reconciler._groups = plan.groups  # what a successful apply records
    return {s.op: list(s.items) for s in plan.batch.segments}


def test_a_group_handed_again_is_not_encoded_again_and_a_rebuilt_one_is_planned() -> None:
    codec = CountingCodec()
    reconciler = Reconciler(cast(Any, None), codec=codec)
    flood = _flood("198.51.100.12", "198.51.100.13")
    hashed = Group(2, "select", (Bucket((Output(3),), weight=2),), selection_fields=("ip_src",))
    state = State({1: flood, 2: hashed})
    assert _planned(reconciler, state) == {Op.GROUP_ADD: [flood, codec.canonical_group(hashed)]}
    codec.encoded.clear()
    for _ in range(3):  # writes that moved no group (a chain elsewhere): nothing to encode, nothing to send
        assert _planned(reconciler, state) == {}
    assert codec.encoded == []
    wider = _flood("198.51.100.12", "198.51.100.13", "198.51.100.14")  # a chassis joined: rebuilt
    assert _planned(reconciler, State({1: wider, 2: hashed})) == {Op.GROUP_MODIFY: [wider]}
    assert codec.encoded == [1]
    assert _planned(reconciler, State({1: wider})) == {Op.GROUP_DELETE: [codec.canonical_group(hashed)]}
    assert _planned(reconciler, State({1: _flood("198.51.100.12"), 2: hashed}))[Op.GROUP_ADD] == [
        codec.canonical_group(hashed)
    ]
