"""VLAN: the hop label rides in one 802.1Q tag (VID = label), a steerflow encapsulation driver.

A third party's driver, packaged apart from steerflow (a test fixture): it uses only the driver protocol
(`steerflow.compiler.encap.EncapDriver`) and flow values (`steerflow.flows`).

- The VID is 12 bits and 0 (priority tag) and 4095 are reserved: `max_label = 4094`, so the API
  allocates the labels of `vlan` chains within 16..4094 (unique across every chain, so a VID names one
  (chain, direction, hop) everywhere) and agents refuse a chain whose labels exceed it.
- The tag carries no metadata (like an MPLS label): nothing to push per origin, nothing remembered.
- OVS matches a tagged packet's eth_type as the type inside the tag, so the packet pushed for IPv4 and
  IPv6 alike is told apart by the VID alone, and `pop_vlan` needs no inner type.
- An SFC-aware function must return the tag it got (it may change the PCP, not the VID); for an
  unaware one the forwarder pops the tag before delivery (`strip`), as for any driver.
- A frame a VM sent already tagged would get a second tag (QinQ), which steerflow does not model:
  steered traffic is untagged (Neutron ports carry untagged frames unless VLAN-aware VMs are in use).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from steerflow.compiler.chain_view import Chain, Hop, Instance
from steerflow.flows import Action, Match, PopVlan, PushVlan, SetField

if TYPE_CHECKING:
    from steerflow.compiler.encap import EncapDriver

__all__ = ["MAX_VID", "VLAN_PRESENT", "VlanDriver"]

VLAN_PRESENT = 0x1000  # OFPVID_PRESENT: OpenFlow's vlan_vid value for "tagged, VID ..."
MAX_VID = 4094  # 4095 is reserved (IEEE 802.1Q)


def _tag(hop: Hop) -> tuple[Action, ...]:
    return (PushVlan(), SetField("vlan_vid", VLAN_PRESENT | hop.label))


class VlanDriver:
    """The `vlan` correlation: one 802.1Q tag, VID = the hop's label."""

    name = "vlan"
    max_label = MAX_VID
    header_fields = frozenset({"vlan_vid"})

    def push(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        return _tag(hop)

    def carry(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        return _tag(hop)  # nothing else to carry between forwarders

    def with_origin(self, chain: Chain, origin: int | None) -> tuple[Match, tuple[Action, ...]] | None:
        return None  # a tag carries no metadata: no per-origin pushes

    def remembers(self, chain: Chain, instance: Instance) -> bool:
        return False

    def arrived(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        return self.returned(chain, hop)

    def returned(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        yield Match.of(vlan_vid=VLAN_PRESENT | hop.label), (PopVlan(),)

    def strip(self) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        yield Match.of(vlan_vid=(VLAN_PRESENT, VLAN_PRESENT)), (PopVlan(),)


if TYPE_CHECKING:  # mypy checks the driver against steerflow's protocol
    _CHECKED: EncapDriver = VlanDriver()
