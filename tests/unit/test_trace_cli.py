"""`steerflow trace` and `steerflow detrace` on an NB store: the path as text and JSON, errors, names,
and the drift between a compiled and an installed trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from steerflow.cli.main import app
from steerflow.model import schema
from steerflow.nbdb.api import Put
from steerflow.nbdb.url import open_store
from steerflow.pipeline.cookies import CookieKind, cookie, cookie_kind
from steerflow.southbound.ovsdb import TUNNEL_OFPORT
from steerflow.trace.fabric import Fabric
from steerflow.trace.live import drift, instances
from steerflow.trace.probe import probe
from steerflow.trace.run import TUNNEL_OFPORT as TRACED_TUNNEL
from tests.builders.pipeline_scenarios import TUNNEL, balance, single_hop

runner = CliRunner()


@pytest.fixture
def nb(tmp_path: Path) -> str:
    """An NB store holding one chain: client (ch1) -> aware MPLS function f (ch2) -> server (ch2)."""
    assert TUNNEL == TUNNEL_OFPORT == TRACED_TUNNEL  # the scenarios' and trace's tunnel port is the agent's
    url = f"file://{tmp_path / 'nb.db'}"
    store = open_store(url)
    docs = single_hop("mpls", True, "ch2").docs
    store.commit([Put(kind, oid, value) for kind, objs in docs.items() for oid, value in objs.items()])
    store.close()
    return url


def run(*args: str, stdin: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=stdin)


def test_trace_prints_the_path_tree(nb: str) -> None:
    result = run("trace", "--nb", nb, "--from", "client", "--to", "server", "--dport", "7")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0] == "udp 203.0.113.1:5000 -> 203.0.113.2:7 from client on ch1"
    for part in ("classifier fc", "hop g", "tunnel to chassis ch2", "with MPLS label 1000", "to function f",
                 "delivered to port server (ofport 2)"):  # fmt: skip
        assert part in out, out


def test_trace_json_names_the_functions_and_the_delivery(nb: str) -> None:
    result = run("trace", "--nb", nb, "--from", "client", "--to", "203.0.113.2", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["functions"] == ["f"]
    assert doc["deliveries"] == [{"on": "ch2", "to_port": "server", "ofport": 2}]
    assert doc["probe"] == {
        "from": "client",
        "on": "ch1",
        "packet": "udp 203.0.113.1:5000 -> 203.0.113.2:7",
    }
    assert doc["path"]["matched"][0]["object"] == {"kind": schema.PORT, "id": "client", "name": ""}


def test_trace_of_unclassified_traffic_goes_straight(nb: str) -> None:
    doc = json.loads(
        run("trace", "--nb", nb, "--from", "client", "--to", "server", "--proto", "tcp", "--json").stdout
    )
    assert doc["functions"] == [] and doc["deliveries"][0]["to_port"] == "server"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "ghost", "--to", "server"), "no port named 'ghost'"),
        (("--from", "client", "--to", "server", "--ipv6"), "has no IPv6 address"),
    ],
)
def test_trace_refuses_a_packet_it_cannot_build(nb: str, args: tuple[str, ...], message: str) -> None:
    result = run("trace", "--nb", nb, *args)
    assert result.exit_code == 1 and message in result.stderr and result.stdout == ""


def test_trace_on_a_chassis_without_a_switch_socket_says_so(nb: str, tmp_path: Path) -> None:
    result = run("trace", "--nb", nb, "--from", "client", "--to", "server", "--chassis", "ch2",
                 "--ovs-rundir", str(tmp_path))  # fmt: skip
    assert result.exit_code == 2 and "ovs-appctl" in result.stderr


OFPROTO_TRACE = """\
Flow: udp,in_port=1,vlan_tci=0x0000,dl_src=02:00:00:00:01:01,dl_dst=02:00:00:00:01:02,nw_src=203.0.113.1

bridge("br-int")
----------------
 0. in_port=1, priority 100, cookie {port:#x}
    set_field:0xa->metadata
    goto_table:10
20. udp,metadata=0xa,reg6=1, priority 100, cookie {classifier:#x}
    goto_table:30
30. priority 0, cookie {infra:#x}
    drop
40. priority 5, cookie {gone:#x}
    drop
"""


def test_detrace_names_every_cookie(nb: str) -> None:
    text = OFPROTO_TRACE.format(
        port=cookie(CookieKind.PORT, "client"), classifier=cookie(CookieKind.CLASSIFIER, "fc"),
        infra=cookie(CookieKind.INFRA), gone=cookie(CookieKind.CHAIN, "deleted-chain"),
    )  # fmt: skip
    result = run("detrace", "--nb", nb, stdin=text)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[4].endswith("  [port client]")
    assert lines[7].endswith("  [classifier fc]")
    assert lines[9].endswith("  [infra: table defaults and misses]")
    assert lines[11].endswith("  [chain of an object not in the NB]")
    assert lines[5] == "    set_field:0xa->metadata"  # lines without a cookie are unchanged


def test_drift_lists_what_each_side_ran_alone_and_forgives_a_balanced_instance() -> None:
    docs = balance().docs
    fabric = Fabric(docs, TUNNEL)
    sent = probe(docs, "client", "server")
    compiled = fabric.walk(sent.packet, sent.chassis).first.trace
    ran = [c for c in compiled.cookies if c]
    as_ofproto = "\n".join(f"{i:2d}. priority 100, cookie {c:#x}" for i, c in enumerate(ran))
    assert drift(compiled, as_ofproto).same
    chosen = {c for c in ran if cookie_kind(c) is CookieKind.INSTANCE}
    others = (cookie(CookieKind.INSTANCE, f"f0-{i}") for i in (1, 3))  # weight 0 never wins: not f0-0
    other_instance = next(c for c in others if c not in chosen)  # the switch's own hash may pick it
    swapped = "\n".join(
        f"cookie {other_instance if cookie_kind(c) is CookieKind.INSTANCE else c:#x}" for c in ran
    )
    assert drift(compiled, swapped).same
    assert instances(swapped) == [other_instance]
    missing = drift(compiled, "\n".join(f"cookie {c:#x}" for c in ran[:2]))
    assert not missing.same and missing.only_compiled() and missing.only_installed() == []
