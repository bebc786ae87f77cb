"""`steerflow port-chain stats`: a chain's counters as a table, refreshed with rates under --watch."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from steerflow.cli.common import NameCache
from steerflow.cli.output import print_json
from steerflow.client import SteerflowClient
from steerflow.model import schema

Row = tuple[str, str, int, int]  # (what, name, packets, bytes)


def show_stats(client: SteerflowClient, chain_id: str, watch: bool, interval: float, as_json: bool) -> None:
    names = NameCache(client)
    if not watch:
        stats = client.chain_statistics(chain_id)
        if as_json:
            print_json(stats)
        else:
            Console().print(render(rows(stats, names), None, 0.0))
        return
    before, taken = rows(client.chain_statistics(chain_id), names), time.monotonic()
    try:
        with Live(render(before, None, 0.0), auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                now, current = time.monotonic(), rows(client.chain_statistics(chain_id), names)
                live.update(render(current, before, now - taken), refresh=True)
                before, taken = current, now
    except KeyboardInterrupt:
        return


def rows(stats: Mapping[str, Any], names: NameCache) -> list[Row]:
    return list(_rows(stats, names))


def _rows(stats: Mapping[str, Any], names: NameCache) -> Iterator[Row]:
    for fc in stats["flow_classifiers"]:
        yield "classifier", names(schema.FLOW_CLASSIFIER, fc["id"]) or fc["id"], fc["packets"], fc["bytes"]
    for hop in stats["port_pair_groups"]:
        name = names(schema.PORT_PAIR_GROUP, hop["id"]) or hop["id"]
        yield f"hop {hop['position']}", name, hop["packets"], hop["bytes"]
        for pair in hop["port_pairs"]:
            pair_name = names(schema.PORT_PAIR, pair["id"]) or pair["id"]
            yield "  instance", pair_name, pair["packets"], pair["bytes"]
        dropped = hop["dropped"]
        if dropped["packets"]:
            yield "  dropped", name, dropped["packets"], dropped["bytes"]
    exited = stats["exited"]
    yield "exited", "", exited["packets"], exited["bytes"]


def render(current: list[Row], before: list[Row] | None, seconds: float) -> Table:
    """The table; rates from `before` (the previous refresh, `seconds` earlier), "-" without one."""
    table = Table(box=None)
    for title in ("", "NAME", "PACKETS", "BYTES", "PKT/S", "BYTES/S"):
        table.add_column(title, justify="right" if title and title != "NAME" else "left")
    previous = {(what, name): (p, b) for what, name, p, b in before or ()}
    for what, name, packets, nbytes in current:
        rate_p, rate_b = "-", "-"
        old = previous.get((what, name))
        if old is not None and seconds > 0:
            rate_p = f"{max(0, packets - old[0]) / seconds:.1f}"
            rate_b = f"{max(0, nbytes - old[1]) / seconds:.0f}"
        table.add_row(what, name, str(packets), str(nbytes), rate_p, rate_b)
    return table
