"""MPLS: one label identifies chain and hop (allocated in the NB, stable across chain updates).

The label's traffic class remembers the inner ethertype (0 IPv4, 1 IPv6), which `pop_mpls` must be told.
"""

from __future__ import annotations

from collections.abc import Iterator

from steerflow.compiler.chain_view import Chain, Hop, Instance
from steerflow.compiler.encap import ETH_IPV4, INNER_ETHERTYPES, MAX_LABEL
from steerflow.flows.types import Action, Match, PopMpls, PushMpls, SetField

ETH_MPLS = 0x8847


def _tc(ethertype: int) -> int:
    return 0 if ethertype == ETH_IPV4 else 1


class MplsDriver:
    name = "mpls"
    max_label = MAX_LABEL  # a label is 20 bits
    header_fields = frozenset({"eth_type", "mpls_label", "mpls_tc"})

    def push(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        return (PushMpls(ETH_MPLS), SetField("mpls_label", hop.label), SetField("mpls_tc", _tc(ethertype)))

    def carry(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        return self.push(chain, hop, instance, ethertype)

    def with_origin(self, chain: Chain, origin: int | None) -> tuple[Match, tuple[Action, ...]] | None:
        return None  # a label carries no metadata

    def remembers(self, chain: Chain, instance: Instance) -> bool:
        return False

    def arrived(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        return self.returned(chain, hop)

    def returned(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        for inner in INNER_ETHERTYPES:
            match = Match.of(eth_type=ETH_MPLS, mpls_label=hop.label, mpls_tc=_tc(inner))
            yield match, (PopMpls(inner),)

    def strip(self) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        for inner in INNER_ETHERTYPES:
            yield Match.of(eth_type=ETH_MPLS, mpls_tc=_tc(inner)), (PopMpls(inner),)
