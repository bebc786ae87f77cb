"""Registers the pipeline carries between tables, and what each holds."""

from __future__ import annotations

from typing import Final

NETWORK: Final = "metadata"  # the network key (= its Geneve VNI) of the packet's logical network
SRC_PORT: Final = "reg6"  # the logical port key the packet entered from (0 = from a tunnel)
DST_PORT: Final = "reg7"  # the logical port key the packet is going to (set by L2 lookup)
FLAGS: Final = "reg5"  # bit flags below
HOP: Final = "reg2"  # SFC: the label of the hop the packet is heading to (0 = not in a chain)
ORIGIN: Final = "reg8"  # SFC: the key of the port the chain's traffic came from (NSH context c1)
INSTANCE: Final = "reg4"  # SFC: the pair key of the function instance chosen for that hop
NSH_PATH: Final = "reg3"  # SFC: NSH MD2 push: the service path header (SPI << 8 | SI) SFC_METADATA writes
SLOT: Final = "reg9"  # SFC: the hop's balance slot multipath picked (SFC_BALANCE maps it to reg4)

FLAG_FROM_TUNNEL: Final = 0x1  # arrived from another chassis: deliver locally only, never re-tunnel
FLAG_ND_REPLY: Final = 0x2  # an advertisement the ND responder is writing (not one from a port)
FLAG_STRIPPED: Final = 0x4  # SFC: an aware function's return, its header just stripped (SFC_RETURN again)
