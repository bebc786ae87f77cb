"""The steerflow CLI's output against a real API server: the openstack CLI's formats, `-c`, names in
tables, unwrapped tables, `--version` and shell completion."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from steerflow.cli.main import app
from tests.builders.steerflow_cli import runner, sf, sf_json, sf_ok

pytestmark = pytest.mark.server


def make_chain(url: str) -> dict[str, Any]:
    """Ports, a port pair, a group, a classifier and a chain c1 over them; their JSON by name."""
    objs: dict[str, Any] = {"net": sf_json(url, "network", "create", "net")}
    sf_ok(url, "subnet", "create", "--network", "net", "--subnet-range", "10.7.0.0/24", "sub")
    for port in ("src", "sf-in", "sf-out"):
        objs[port] = sf_json(url, "port", "create", "--network", "net", "--device", "vm", port)
    objs["pp"] = sf_json(url, "port-pair", "create", "--ingress", "sf-in", "--egress", "sf-out", "pp")
    objs["g1"] = sf_json(url, "port-pair-group", "create", "--port-pair", "pp", "g1")
    objs["fc"] = sf_json(
        url, "flow-classifier", "create", "--protocol", "udp", "--logical-source-port", "src", "fc"
    )
    objs["c1"] = sf_json(
        url, "port-chain", "create", "--port-pair-group", "g1", "--flow-classifier", "fc", "c1"
    )
    return objs


def test_list_formats(api_url: str) -> None:
    assert sf_ok(api_url, "port-chain", "list") == ""  # nothing to list: no table, as openstack
    assert sf_ok(api_url, "port-chain", "list", "-f", "yaml") == "[]\n"
    objs = make_chain(api_url)
    chain = objs["c1"]

    as_yaml = yaml.safe_load(sf_ok(api_url, "port-chain", "list", "-f", "yaml"))
    assert as_yaml == [chain]  # the API's objects, like -f json
    assert json.loads(sf_ok(api_url, "port-chain", "list", "-f", "json")) == [chain]

    value = sf_ok(api_url, "port-chain", "list", "-f", "value", "-c", "id", "-c", "name")
    assert value == f"{chain['id']} c1\n"
    groups = sf_ok(
        api_url, "port-chain", "list", "-f", "value", "-c", "port_pair_groups", "-c", "chain_parameters"
    )
    assert groups == f"{objs['g1']['id']} correlation=mpls,symmetric=false\n"

    rows = list(csv.reader(io.StringIO(sf_ok(api_url, "port-chain", "list", "-f", "csv"))))
    assert rows[0] == ["ID", "Name", "Chain ID", "Port Pair Groups", "Flow Classifiers", "Chain Parameters"]
    assert rows[1][:4] == [chain["id"], "c1", str(chain["chain_id"]), objs["g1"]["id"]]

    # -c takes the field name or the heading, in any case, and picks any field of the objects
    picked = yaml.safe_load(
        sf_ok(api_url, "port-chain", "list", "-f", "yaml", "-c", "Name", "-c", "PROJECT_ID")
    )
    assert picked == [{"name": "c1", "project_id": chain["project_id"]}]
    table = sf_ok(api_url, "network", "list", "-c", "name", "-c", "mtu")
    assert table.splitlines()[1].split("|")[1:3] == [" Name ", " MTU  "]
    assert "| net  | 1442 |" in table


def test_show_formats_and_names(api_url: str) -> None:
    objs = make_chain(api_url)
    chain, group, fc = objs["c1"], objs["g1"], objs["fc"]
    table = sf_ok(api_url, "port-chain", "show", "c1")
    # referenced objects read "name (id)" as in list, one per line
    assert f"| port_pair_groups | g1 ({group['id']})" in table
    assert f"| flow_classifiers | fc ({fc['id']})" in table
    assert f"| id               | {chain['id']}" in table

    assert sf_ok(api_url, "port-chain", "show", "c1", "-f", "value", "-c", "name", "-c", "chain_id") == (
        f"{chain['chain_id']}\nc1\n"  # fields sorted, as the openstack CLI does
    )
    assert yaml.safe_load(sf_ok(api_url, "port-chain", "show", "c1", "-f", "yaml")) == chain
    assert json.loads(sf_ok(api_url, "port-chain", "show", "c1", "-f", "json", "-c", "id")) == {
        "id": chain["id"]
    }
    rows = list(
        csv.reader(io.StringIO(sf_ok(api_url, "port-pair", "show", "pp", "-f", "csv", "-c", "ingress")))
    )
    assert rows == [["ingress"], [objs["sf-in"]["id"]]]
    port = sf_ok(api_url, "port", "show", "src")
    assert f"net ({objs['net']['id']})" in port  # network_id by name too
    ip = objs["src"]["fixed_ips"][0]
    assert f"| fixed_ips             | subnet_id={ip['subnet_id']}, ip_address={ip['ip_address']} |" in port
    assert sf_ok(api_url, "port", "show", "src", "-f", "value", "-c", "fixed_ips") == (
        f"subnet_id={ip['subnet_id']},ip_address={ip['ip_address']}\n"
    )
    # computed columns: one line per item in a table, comma-separated in value
    assert sf_ok(api_url, "flow-classifier", "list", "-f", "value", "-c", "summary", "-c", "name") == (
        "fc IPv4 protocol=udp\n"
    )
    ports = sf_ok(api_url, "port", "list", "-f", "value", "-c", "name", "-c", "ip_addresses").splitlines()
    assert f"src {ip['ip_address']}" in ports


def test_unknown_column_is_a_usage_error(api_url: str) -> None:
    make_chain(api_url)
    result = sf(api_url, "port-chain", "list", "-c", "nope")
    assert result.exit_code == 2
    assert "no column 'nope'" in result.output and "port_pair_groups" in result.output
    assert sf(api_url, "port-chain", "show", "c1", "-c", "nope").exit_code == 2


def test_piped_tables_are_never_wrapped(api_url: str, api_server: Any) -> None:
    """A narrow terminal or a pipe: every row stays one line per value, no id split across lines."""
    objs = make_chain(api_url)
    env = {**os.environ, "COLUMNS": "40", "STEERFLOW_ENDPOINT": api_url, "STEERFLOW_TOKEN": ""}
    done = subprocess.run(
        [sys.executable, "-m", "steerflow.cli", "port-chain", "list"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len({len(line) for line in lines}) == 1  # a rectangle: no line folded
    assert len(lines) == 6  # rules, heading, the chain (2 lines: correlation, symmetric)
    for obj in (objs["c1"], objs["g1"], objs["fc"]):
        assert obj["id"] in done.stdout


def complete(words: str, env: dict[str, str]) -> list[str]:
    """What bash completion offers for the last of `words` (click's protocol: `type,value` lines)."""
    argv = words.split(" ")
    env = {
        **env,
        "_STEERFLOW_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(argv) - 1),
    }
    done = subprocess.run(
        [sys.executable, "-c", "from steerflow.cli.main import main; main()"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [line.partition(",")[2] for line in done.stdout.splitlines()]


def test_version_and_completion(api_url: str) -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("steerflow ")
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="steerflow")
    assert script.exit_code == 0 and "_STEERFLOW_COMPLETE=bash_complete" in script.stdout
    env = {**os.environ}
    assert complete("steerflow port-chain s", env) == ["set", "show", "stats"]
    assert complete("steerflow network list -f ", env) == ["table", "json", "yaml", "value", "csv"]

    make_chain(api_url)  # names or ids complete from the API the root options name
    assert complete(f"steerflow --endpoint {api_url} port show s", env) == ["sf-in", "sf-out", "src"]
