"""NSH (RFC 8300): SPI = the chain's chain_id, SI = 255 - hop position; MD type 1 or 2 per chain.

The header wraps the whole Ethernet frame; an outer Ethernet header addressed to the function's ingress
port carries it. An aware function may decrement SI or not: the egress port and the SPI identify the hop.

Metadata travels end to end: the source logical port's key (the origin, kept in register ORIGIN while a
forwarder holds the packet) and the chain's project (a 32-bit digest of its id).

- MD type 1 (default): context c1 = origin key, c2 = the chain's home network key, c3 = project digest.
  An aware function's return gives the origin back from c1.
- MD type 2 (`chain_parameters.nsh_md_type: 2`): two TLVs in the experimental metadata class
  `MD_CLASS` (RFC 8300 leaves 0xFFF6..0xFFFE to experiments), 16 bytes in all, as long as MD1's
  context, so anything MD1 carries through a Geneve tunnel, MD2 does too:

      class 0xFFF6, type 1 (`TLV_ORIGIN`),  length 4: the source logical port's key (big endian)
      class 0xFFF6, type 2 (`TLV_PROJECT`), length 4: the project digest (CRC-32 of the project id)

  OVS pushes TLVs only as static values and cannot read them back, so the push goes through one flow
  per (chain, origin port) in SFC_METADATA (`with_origin`), and the forwarder remembers the origin per
  connection (conntrack, see `chain`) to restore it when the function returns the packet.

The outer Ethernet header comes from the forwarder: destination the function's ingress MAC, source
`FORWARDER_MAC` (locally administered; OVS would leave it all zeros, which real switches drop).

Between forwarders (a tunnel to the chassis of the function, or of an unaware function's proxy) the
header is always MD type 1 (`carry`): its c1 is readable, so the far forwarder learns the origin, then
pushes what its local function expects.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from steerflow.compiler.chain_view import Chain, Hop, Instance
from steerflow.compiler.encap import MAX_LABEL
from steerflow.compiler.tables import SFC_METADATA
from steerflow.flows.types import (
    Action,
    Decap,
    EncapEthernet,
    EncapNsh,
    Match,
    Move,
    NshTlv,
    Resubmit,
    SetField,
)
from steerflow.pipeline import registers as reg

ETH_NSH = 0x894F
SI_START = 255
MD_CLASS = 0xFFF6  # RFC 8300 section 9.1.4: 0xFFF6..0xFFFE are for experimental use
TLV_ORIGIN = 1
TLV_PROJECT = 2
FORWARDER_MAC = "02:53:46:00:00:01"  # the outer source of NSH frames sent to functions ("SF")
PATH_MASK = 0xFFFFFF00  # NSH_PATH holds SPI << 8 | SI: the SPI bits


def project_digest(project_id: str) -> int:
    return zlib.crc32(project_id.encode())


def md2_tlvs(origin: int | None, project_id: str) -> tuple[NshTlv, ...]:
    """The MD2 TLVs for a packet from port key `origin` (None: unknown, no origin TLV)."""
    project = NshTlv(MD_CLASS, TLV_PROJECT, project_digest(project_id).to_bytes(4, "big"))
    if origin is None:
        return (project,)
    return (NshTlv(MD_CLASS, TLV_ORIGIN, origin.to_bytes(4, "big")), project)


class NshDriver:
    name = "nsh"
    max_label = MAX_LABEL  # labels never travel: SPI and SI do
    header_fields = frozenset({"eth_type", "nsh_mdtype", "nsh_spi", "nsh_si"})

    def push(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        if chain.nsh_md_type != 2:
            return self.carry(chain, hop, instance, ethertype)
        path = chain.chain_id << 8 | (SI_START - hop.position)
        header = (SetField(reg.NSH_PATH, path), Resubmit(SFC_METADATA))  # see with_origin
        return (*header, *_outer_ethernet(instance))

    def carry(self, chain: Chain, hop: Hop, instance: Instance, ethertype: int) -> tuple[Action, ...]:
        return (
            EncapNsh(md_type=1),
            SetField("nsh_spi", chain.chain_id),
            SetField("nsh_si", SI_START - hop.position),
            Move(reg.ORIGIN, "nsh_c1", 32),
            SetField("nsh_c2", chain.home_network),
            SetField("nsh_c3", project_digest(chain.project_id)),
            *_outer_ethernet(instance),
        )

    def with_origin(self, chain: Chain, origin: int | None) -> tuple[Match, tuple[Action, ...]] | None:
        """MD2 chains: the SFC_METADATA flow pushing the header of the chain's packets from `origin`."""
        if chain.nsh_md_type != 2:
            return None
        path = Match.of(**{reg.NSH_PATH: (chain.chain_id << 8, PATH_MASK)})
        match = path if origin is None else path.extend(**{reg.ORIGIN: origin})
        encap = EncapNsh(md_type=2, tlvs=md2_tlvs(origin, chain.project_id))
        spi_si = (Move(reg.NSH_PATH, "nsh_spi", 24, src_ofs=8), Move(reg.NSH_PATH, "nsh_si", 8))
        return match, (encap, *spi_si)

    def remembers(self, chain: Chain, instance: Instance) -> bool:
        """The origin is lost at an unaware function, and unreadable in MD2 headers. An unaware
        function at the chain's last hop needs nothing back: after it the packet leaves the chain plain,
        so its connections are not tracked (conntrack would cost two ct passes per packet)."""
        if not instance.aware:
            return _followed(chain, instance)
        return chain.nsh_md_type == 2

    def returned(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        if chain.nsh_md_type == 2:
            yield Match.of(eth_type=ETH_NSH, nsh_mdtype=2, nsh_spi=chain.chain_id), (Decap(), Decap())
            return
        match = Match.of(eth_type=ETH_NSH, nsh_mdtype=1, nsh_spi=chain.chain_id)
        yield match, (Move("nsh_c1", reg.ORIGIN, 32), Decap(), Decap())

    def arrived(self, chain: Chain, hop: Hop) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        # arrivals carry the SI as pushed: exact, so one chain's hops on one instance stay apart
        si = SI_START - hop.position
        match = Match.of(eth_type=ETH_NSH, nsh_mdtype=1, nsh_spi=chain.chain_id, nsh_si=si)
        yield match, (Move("nsh_c1", reg.ORIGIN, 32), Decap(), Decap())

    def strip(self) -> Iterator[tuple[Match, tuple[Action, ...]]]:
        yield Match.of(eth_type=ETH_NSH), (Decap(), Decap())


def _outer_ethernet(instance: Instance) -> tuple[Action, ...]:
    return (EncapEthernet(), SetField("eth_src", FORWARDER_MAC), SetField("eth_dst", instance.ingress.mac))


def _followed(chain: Chain, instance: Instance) -> bool:
    """Whether `instance` serves a hop of `chain` that another hop follows."""
    return any(i.key == instance.key for hop in chain.hops[:-1] for i in hop.instances)
