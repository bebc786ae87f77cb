"""NSH (RFC 8300), MD type 1: SPI = the chain's chain_id, SI = 255 - hop position.

Context headers carry metadata end to end: c1 = the source logical port's key (kept in a register
while the forwarder holds the packet, read back from c1 when an aware function returns it), c2 = the
chain's home network key, c3 = a 32-bit digest of the chain's project. The header wraps the whole
Ethernet frame; an outer Ethernet header addressed to the function's ingress port carries it. An aware
function may decrement SI or not: the egress port and the SPI identify the hop.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from steerflow.compiler.chain_view import Chain, Hop, Instance
from steerflow.flows.types import Action, Decap, EncapEthernet, EncapNsh, Match, Move, SetField
from steerflow.pipeline import registers as reg

ETH_NSH = 0x894F
SI_START = 255


def project_digest(project_id: str) -> int:
    return zlib.crc32(project_id.encode())


class NshDriver:
    name = "nsh"

    def push(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        return (
            EncapNsh(md_type=1),
            SetField("nsh_spi", chain.chain_id),
            SetField("nsh_si", SI_START - hop.position),
            Move(reg.ORIGIN, "nsh_c1", 32),
            SetField("nsh_c2", chain.home_network),
            SetField("nsh_c3", project_digest(chain.project_id)),
            EncapEthernet(),
            SetField("eth_dst", instance.ingress.mac),
        )

    def returned(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        match = Match.of(eth_type=ETH_NSH, nsh_mdtype=1, nsh_spi=chain.chain_id)
        yield match, (Move("nsh_c1", reg.ORIGIN, 32), Decap(), Decap())

    def strip(self) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        yield Match.of(eth_type=ETH_NSH), (Decap(), Decap())
