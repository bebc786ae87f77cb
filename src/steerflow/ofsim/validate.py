"""Install-time checks of flows and groups: what OVS 3.1 refuses when the flow-mod or group-mod arrives.

Actions are checked like OVS's `ofpacts_check`: against the flow's own match (unmatched fields count as
zero), updated by each action in turn (push_mpls makes the packet MPLS, encap(nsh) makes it NSH). A
resubmit does not count: the flow after it sees whatever the packet became, so a table reached after
push_mpls must itself match eth_type=0x8847 to set mpls_label. Group buckets are checked for structure
only, as OVS does. A clone's actions are checked in turn from the packet before it, which comes back
unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from steerflow.flows.types import (
    MULTIPATH_ALGORITHMS,
    MULTIPATH_FIELDS,
    Action,
    Clone,
    Ct,
    Decap,
    Drop,
    EncapEthernet,
    EncapNsh,
    Flow,
    Group,
    GroupAction,
    Move,
    Multipath,
    Output,
    PopMpls,
    PopVlan,
    PushMpls,
    PushVlan,
    Resubmit,
    SetField,
)
from steerflow.ofsim import fields as fd
from steerflow.ofsim.errors import InvalidFlow, UnknownField
from steerflow.ofsim.fields import Condition, FieldSpec

MAX_TABLE = 254
OFPP_MAX = 0xFFFFFF00
OFPP_IN_PORT = 0xFFFFFFF8
OFPP_CONTROLLER = 0xFFFFFFFD
OFPP_LOCAL = 0xFFFFFFFE
SPECIAL_PORTS = frozenset({OFPP_IN_PORT, OFPP_CONTROLLER, OFPP_LOCAL})
GROUP_TYPES = frozenset({"all", "select", "indirect", "ff"})

# The abstract packet during the check: field -> value (zero when absent); None once unknown (after an
# NSH decap, OVS no longer knows what the packet is).
State = dict[str, int] | None


def check_flow(flow: Flow, pinned: Mapping[str, int], group_ids: Iterable[int]) -> None:
    """Raise `InvalidFlow` if OVS would refuse `flow` (whose match compiled to `pinned`)."""
    where = str(flow)
    if not 0 <= flow.table <= MAX_TABLE:
        raise InvalidFlow(f"{where}: table {flow.table} out of range")
    if flow.goto is not None and not flow.table < flow.goto <= MAX_TABLE:
        raise InvalidFlow(f"{where}: goto_table must go forward (OFPBIC_BAD_TABLE_ID)")
    if any(isinstance(a, Drop) for a in flow.actions) and (len(flow.actions) > 1 or flow.goto is not None):
        raise InvalidFlow(f"{where}: drop must not be accompanied by any other action or instruction")
    state: State = dict(pinned)
    known = frozenset(group_ids)
    for action in flow.actions:
        check_structure(action, known, where)
        state = _step(action, state, where)


def check_group(group: Group, group_ids: Iterable[int]) -> None:
    """Raise `InvalidFlow` for a group OVS would refuse, or one naming a group that does not exist."""
    where = str(group)
    if group.type not in GROUP_TYPES:
        raise InvalidFlow(f"{where}: unknown group type {group.type!r}")
    if group.type == "indirect" and len(group.buckets) != 1:
        raise InvalidFlow(f"{where}: an indirect group has exactly one bucket")
    if group.type != "select" and any(b.weight != 1 for b in group.buckets):
        raise InvalidFlow(f"{where}: only select groups can have bucket weights")
    if group.type == "ff" and any(b.watch_port is None for b in group.buckets):
        raise InvalidFlow(f"{where}: a fast failover bucket requires watch_port")
    for name in group.selection_fields:
        _field(name.split("=", 1)[0], where)
    known = frozenset(group_ids)
    for bucket in group.buckets:
        for action in bucket.actions:
            check_structure(action, known, where)


def check_structure(action: Action, group_ids: frozenset[int], where: str) -> None:
    """What OVS checks of an action whatever the packet: fields exist, fit and may be written."""
    if isinstance(action, SetField):
        spec = _writable(action.name, where)
        try:
            fd.to_int(spec, action.value)
        except ValueError as exc:
            raise InvalidFlow(f"{where}: {action}: {exc}") from None
    elif isinstance(action, Move):
        _check_move(action, where)
    elif isinstance(action, Multipath):
        _check_multipath(action, where)
    elif isinstance(action, Output):
        if action.port <= 0 or (action.port > OFPP_MAX and action.port not in SPECIAL_PORTS):
            raise InvalidFlow(f"{where}: {action}: port not supported (OFPBAC_BAD_OUT_PORT)")
    elif isinstance(action, GroupAction):
        if action.group_id not in group_ids:
            raise InvalidFlow(f"{where}: {action}: no such group (OFPBAC_BAD_OUT_GROUP)")
    elif isinstance(action, Resubmit):
        if not 0 <= action.table <= MAX_TABLE:
            raise InvalidFlow(f"{where}: {action}: table out of range")
    elif isinstance(action, PushMpls):
        if action.ethertype not in fd.MPLS_TYPES:
            raise InvalidFlow(f"{where}: {action}: push_mpls takes 0x8847 or 0x8848")
    elif isinstance(action, PushVlan):
        if action.ethertype not in (0x8100, 0x88A8):
            raise InvalidFlow(f"{where}: {action}: push_vlan takes 0x8100 or 0x88a8")
    elif isinstance(action, Ct):
        _check_ct(action, where)
    elif isinstance(action, Clone):
        for inner in action.actions:
            check_structure(inner, group_ids, where)
    elif isinstance(action, EncapNsh) and action.md_type not in (1, 2):
        raise InvalidFlow(f"{where}: {action}: md_type is 1 or 2")


# what set_field:..->vlan_vid needs of the packet, as a pseudo-field for _require
_TAGGED = FieldSpec("vlan tag", 0, fd.Layer.META, fd.Kind.INT, (fd.VLAN,), False, False)
# what ct needs of the packet, as a pseudo-field for _require
_CONNTRACK = FieldSpec("ct", 0, fd.Layer.META, fd.Kind.INT, (fd.IP_ANY,), False, False)


def _check_ct(action: Ct, where: str) -> None:
    if not 0 <= action.zone <= 0xFFFF or (action.table is not None and not 0 <= action.table <= MAX_TABLE):
        raise InvalidFlow(f"{where}: {action}: zone or table out of range")
    for inner in action.actions:  # OVS: ct's exec may only write the connection's mark or label
        dst = inner.name if isinstance(inner, SetField) else inner.dst
        if fd.canonical_name(dst) not in ("ct_mark", "ct_label"):
            raise InvalidFlow(
                f"{where}: {action}: exec may only write ct_mark/ct_label (OFPBAC_BAD_ARGUMENT)"
            )
        check_structure(inner, frozenset(), where)


def _check_move(action: Move, where: str) -> None:
    src = _field(action.src, where)
    dst = _writable(action.dst, where)
    if action.n_bits <= 0:
        raise InvalidFlow(f"{where}: {action}: moves no bits")
    for spec, ofs in ((src, action.src_ofs), (dst, action.dst_ofs)):
        if ofs < 0 or ofs + action.n_bits > spec.bits:
            raise InvalidFlow(f"{where}: {action}: {spec.name} is {spec.bits} bits wide")


def _check_multipath(action: Multipath, where: str) -> None:
    """OVS's checks when it decodes the action (OFPBAC_BAD_ARGUMENT) and of its destination."""
    dst = _writable(action.dst, where)
    if action.fields not in MULTIPATH_FIELDS or action.algorithm not in MULTIPATH_ALGORITHMS:
        raise InvalidFlow(f"{where}: {action}: unknown hash fields or algorithm")
    if not 1 <= action.n_links <= 0x10000 or not 0 <= action.basis <= 0xFFFF:
        raise InvalidFlow(f"{where}: {action}: n_links must be 1..65536 and basis 16 bits")
    if action.n_bits <= 0 or action.ofs < 0 or action.ofs + action.n_bits > dst.bits:
        raise InvalidFlow(f"{where}: {action}: {dst.name} is {dst.bits} bits wide")
    if action.n_bits < 16 and action.n_links > 1 << action.n_bits:
        raise InvalidFlow(f"{where}: {action}: {action.n_bits} bits cannot hold {action.n_links} links")


def _field(name: str, where: str) -> FieldSpec:
    try:
        return fd.spec(name)
    except UnknownField as exc:
        raise InvalidFlow(f"{where}: {exc}") from None


def _writable(name: str, where: str) -> FieldSpec:
    spec = _field(name, where)
    if not spec.writable:
        raise InvalidFlow(f"{where}: {spec.name} is read-only")
    return spec


def _step(action: Action, state: State, where: str) -> State:
    """The abstract packet after `action`, or `InvalidFlow` (OFPBAC_MATCH_INCONSISTENT)."""
    if isinstance(action, SetField):
        spec = fd.spec(action.name)
        _require(spec, state, action, where)
        if spec.name == "vlan_vid":  # OVS: only on a tag the packet has (pushed or matched)
            _require(_TAGGED, state, action, where)
        return None if state is None else {**state, spec.name: fd.to_int(spec, action.value)}
    if isinstance(action, Move):
        _require(fd.spec(action.src), state, action, where)
        _require(fd.spec(action.dst), state, action, where)
        return state
    if isinstance(action, Multipath):
        _require(fd.spec(action.dst), state, action, where)
        return state
    if isinstance(action, Ct):  # conntrack needs an IP packet
        _require(_CONNTRACK, state, action, where)
        return state
    if isinstance(action, PushVlan | PopVlan):
        return _vlan_step(action, state)
    if isinstance(action, Clone):  # its changes stay inside it
        inner = state
        for nested in action.actions:
            inner = _step(nested, inner, where)
        return state
    if state is None or not isinstance(action, PushMpls | PopMpls | EncapNsh | EncapEthernet | Decap):
        return state
    return _encap_step(action, state, where)


def _vlan_step(action: PushVlan | PopVlan, state: State) -> State:
    if state is None:
        return None
    if isinstance(action, PushVlan):
        return {**state, "vlan_vid": fd.VLAN_PRESENT}
    return {k: v for k, v in state.items() if k not in ("vlan_vid", "vlan_pcp")}


def _encap_step(action: Action, state: dict[str, int], where: str) -> State:
    if isinstance(action, PushMpls):
        return {**state, "eth_type": action.ethertype}
    if isinstance(action, PopMpls):
        if state.get("eth_type", 0) not in fd.MPLS_TYPES:
            raise InvalidFlow(
                f"{where}: {action} on a packet not known to be MPLS (OFPBAC_MATCH_INCONSISTENT)"
            )
        return {**state, "eth_type": action.ethertype}
    if isinstance(action, EncapNsh):
        return {**state, "packet_type": fd.PT_NSH, "eth_type": fd.ETH_NSH, "nsh_mdtype": action.md_type}
    if isinstance(action, EncapEthernet):
        return {**state, "packet_type": fd.PT_ETHERNET}
    if state.get("packet_type", fd.PT_ETHERNET) == fd.PT_ETHERNET:  # decap of the Ethernet header
        return {**state, "packet_type": fd.packet_type_of(1, state.get("eth_type", 0))}
    return None


def _require(spec: FieldSpec, state: State, action: Action, where: str) -> None:
    for cond in spec.prereqs:
        if cond.field == "nsh_mdtype":  # OVS checks MD type 1 for matches on nsh_c1..4, not for actions
            continue
        if state is None or not _holds(cond, state):
            raise InvalidFlow(
                f"{where}: {action}: {spec.name} lacks its prerequisites here (OFPBAC_MATCH_INCONSISTENT): "
                "match them in this flow, or set them by an earlier action of it"
            )


def _holds(cond: Condition, state: dict[str, int]) -> bool:
    value = state.get(cond.field, 0)
    return (value if cond.mask is None else value & cond.mask) in cond.values
