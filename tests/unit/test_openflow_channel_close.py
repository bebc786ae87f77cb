"""A channel closed before its run_forever task ran stays closed: the task ends at once (an agent told
to stop while its first OpenFlow session was being set up hung until SIGKILL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from steerflow.southbound.openflow import OpenFlowChannel


def test_run_forever_after_close_returns_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        channel = OpenFlowChannel(f"unix:{tmp_path / 'no-switch.mgmt'}", backoff_initial=0.01)
        supervisor = asyncio.create_task(channel.run_forever())
        await channel.close()  # before the task got to run: as the agent's stop during its start-up
        await asyncio.wait_for(supervisor, 2.0)
        assert not channel.connected

    asyncio.run(scenario())
