"""A counters poll cut into slices reads what one request per table reads, on a real ovs-vswitchd."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from steerflow.agent.counters import Reading, poll
from steerflow.compiler.tables import CLASSIFY, INGRESS_PORT, SFC_DELIVER, SFC_DISPATCH
from steerflow.pipeline.cookies import CookieKind, cookie
from steerflow.southbound.ofcodec import DATAPATH, ofp, parser
from steerflow.southbound.openflow import OpenFlowChannel
from tests.builders.ovs_fixtures import OvsSandbox, sandbox_or_skip

pytestmark = pytest.mark.root
PER_TABLE = 300


@pytest.fixture
def switch() -> Iterator[OvsSandbox]:
    yield from sandbox_or_skip()


def counted_flow(table: int, kind: CookieKind, i: int) -> object:
    """A flow of `kind` in `table` with a random object's cookie (no instructions: a drop)."""
    match = parser.OFPMatch(eth_type=0x0800, ipv4_dst=f"10.1.{i >> 8}.{i & 255}")
    return parser.OFPFlowMod(
        DATAPATH,
        cookie=cookie(kind, str(uuid.uuid4())),
        table_id=table,
        priority=100,
        command=ofp.OFPFC_ADD,
        buffer_id=ofp.OFP_NO_BUFFER,
        out_port=ofp.OFPP_ANY,
        out_group=ofp.OFPG_ANY,
        match=match,
        instructions=[],
    )


def test_a_poll_in_sixteen_slices_reads_every_counted_flow_once(switch: OvsSandbox) -> None:
    layout = [
        (INGRESS_PORT, CookieKind.INSTANCE),
        (CLASSIFY, CookieKind.CLASSIFIER),
        (SFC_DISPATCH, CookieKind.HOP),
        (SFC_DISPATCH, CookieKind.CHAIN),
        (SFC_DELIVER, CookieKind.INSTANCE),
        (CLASSIFY, CookieKind.HOP),  # not a kind CLASSIFY counts: read by neither poll
    ]
    flows = [
        counted_flow(table, kind, n * PER_TABLE + i)
        for n, (table, kind) in enumerate(layout)
        for i in range(PER_TABLE)
    ]

    async def scenario() -> tuple[Reading, Reading]:
        channel = OpenFlowChannel(switch.mgmt_target)
        await channel.connect()
        try:
            await channel.bundle(flows)
            return await poll(channel, 0), await poll(channel, 4)
        finally:
            await channel.close()

    whole, sliced = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert whole.flows == sliced.flows == 5 * PER_TABLE
    assert sliced.counts == whole.counts
    assert len(whole.counts) >= 3 * PER_TABLE  # classifiers, hops (drops) and chains, one per cookie
