"""`steerflow demo` end to end as a subprocess: real chassis, agents and OVS; the echo replies come back
unchanged without the chain and doctored (+1 per byte) through it; afterwards nothing of it is left."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from steerflow.cli.demo import run_demo as run_demo_in_process
from steerflow.client import SteerflowClient, UnreachableError
from steerflow.demo import default_run_dir
from steerflow.demo.scenario import DEFAULT_MESSAGES
from steerflow.lab import leftovers
from steerflow.lab.procs import cmdline, pid_alive
from steerflow.model import schema
from steerflow.rest.ui import dist_files
from tests.builders.lab_fixtures import requires_lab

DEMO_TIMEOUT = 120
HELLO, HELLO_DOCTORED = '"hello steerflow"', '"ifmmp!tuffsgmpx"'


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def steerflow(*args: str, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("STEERFLOW_ENDPOINT", None)
    argv = [*(NOBODY if as_nobody else []), sys.executable, "-m", "steerflow.cli", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=DEMO_TIMEOUT, env=env, check=False, cwd="/"
    )


def new_prefix() -> str:
    return "d" + secrets.token_hex(3)


def pids_in(output: str) -> set[int]:
    """Every process the demo said it started (the API, the agents, the function, the echo server)."""
    return {int(p) for p in re.findall(r"\bpid (\d+)", output)}


def processes_under(run_dir: Path) -> list[int]:
    """Live processes whose command line names the demo's run dir (API, agents, OVS daemons, sfemu)."""
    mine = str(run_dir)
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and mine in cmdline(int(p.name))]


def assert_nothing_left(prefix: str, output: str) -> None:
    run_dir = default_run_dir(prefix)
    assert leftovers(prefix) == ([], []), "namespaces or links left"
    assert not run_dir.exists()
    assert [pid for pid in pids_in(output) if pid_alive(pid)] == []
    assert processes_under(run_dir) == []


def assert_doctored(out: str, steps: int = 10) -> None:
    assert f"[9/{steps}] Send the same datagrams again, through the chain" in out, out
    assert f"[{steps}/{steps}] Trace one reply datagram through the model (steerflow trace)" in out, out
    assert "udp 203.0.113.20:7 -> 203.0.113.10:40000: crosses doctor; delivered to client on ch1" in out, out
    row = next(line for line in out.splitlines() if line.count(HELLO) == 2)  # sent, and replied unchanged
    assert HELLO_DOCTORED in row and "doctored: +1 per byte" in row, out
    assert '"IBM!:111"' in out  # "HAL 9000", one byte up
    assert "doctor forwarded 0" in out and "doctor forwarded 3" in out


def down(prefix: str) -> subprocess.CompletedProcess[str]:
    return steerflow("demo", "--down", "--prefix", prefix)


def test_without_root_the_demo_explains_why_and_exits_2() -> None:
    as_nobody = os.geteuid() == 0  # as root: run it as nobody
    if as_nobody and (shutil.which("setpriv") is None or steerflow("--help", as_nobody=True).returncode != 0):
        pytest.skip("cannot run this interpreter as an unprivileged user here")
    done = steerflow("demo", "--prefix", new_prefix(), as_nobody=as_nobody)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "steerflow demo needs root" in done.stderr and "network namespaces" in done.stderr


def test_an_unknown_encapsulation_is_refused_before_building_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = new_prefix()
    assert run_demo_in_process(encap="bogus", prefix=prefix) == 2
    err = capsys.readouterr().err
    expected = "needs root" if os.geteuid() != 0 else "the bogus encapsulation is not available"
    assert expected in err, err
    assert not default_run_dir(prefix).exists()


@pytest.mark.root
@requires_lab
def test_a_run_dir_that_is_not_a_demo_s_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    done = steerflow("demo", "--prefix", new_prefix(), "--run-dir", str(tmp_path))
    assert done.returncode == 1 and "holds no demo state; refusing to use it" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


@pytest.mark.root
@requires_lab
def test_the_chain_doctors_the_echo_replies_and_the_demo_cleans_up() -> None:
    prefix = new_prefix()
    try:
        done = steerflow("demo", "--prefix", prefix)
        out = done.stdout
        assert done.returncode == 0, out + done.stderr
        assert_doctored(out)
        assert "MPLS chain, SFC-unaware function" in out
        assert "$ steerflow" not in out  # no CLI walkthrough: the objects come from the REST API
        assert "correlation=mpls" in out and "doctor-replies" in out  # the port-chain show table
        # the demo ends with the chain's counters: each reply crossed the classifier, the hop, the function
        counted = {
            what: int(n)
            for what, n in re.findall(r"^\s*(classifier|hop 1|instance)\s+\S+\s+(\d+)", out, re.M)
        }
        assert counted == dict.fromkeys(("classifier", "hop 1", "instance"), len(DEFAULT_MESSAGES)), out
        assert re.search(rf"^\s*exited\s+{len(DEFAULT_MESSAGES)}\s", out, re.M), out
        endpoint = re.search(r"API ready at (http://127\.0\.0\.1:\d+)", out)
        assert endpoint, out
        assert_nothing_left(prefix, out)
        with SteerflowClient(endpoint.group(1), timeout=2) as client, pytest.raises(UnreachableError):
            client.list(schema.PORT_CHAIN)
    finally:
        down(prefix)


@pytest.mark.root
@requires_lab
def test_keep_leaves_an_mpls_aware_world_to_explore_until_down() -> None:
    prefix = new_prefix()
    try:
        done = steerflow("demo", "--encap", "mpls", "--keep", "--prefix", prefix)
        out = done.stdout
        assert done.returncode == 0, out + done.stderr
        assert_doctored(out)
        assert "MPLS chain, MPLS-aware function" in out
        assert f"steerflow demo --down --prefix {prefix}" in out
        endpoint = re.search(r"export STEERFLOW_ENDPOINT=(\S+)", out)
        assert endpoint, out
        assert f"open {endpoint.group(1)}/ui/" in out
        page = httpx.get(f"{endpoint.group(1)}/ui/", timeout=10)
        built = "index.html" in dist_files()  # else the 503 page saying how to build it
        assert (page.status_code, "steerflow" in page.text) == (200 if built else 503, True), page.text[:300]
        with SteerflowClient(endpoint.group(1)) as client:
            chain = client.find(schema.PORT_CHAIN, "doctor-replies")
            pair = client.find(schema.PORT_PAIR, "doctor")
        assert chain["chain_parameters"]["correlation"] == "mpls"
        assert pair["service_function_parameters"]["correlation"] == "mpls"
        # the exploring command it prints works: a new datagram crosses the chain too
        ask = re.search(r"ip netns exec (\S+) (\S+) -m steerflow\.demo\.echo ask --text --dst (\S+)", out)
        assert ask, out
        netns, python, server = ask.groups()
        argv = ["ip", "netns", "exec", netns, python, "-m", "steerflow.demo.echo", "ask", "--text"]
        reply = subprocess.run([*argv, "--dst", server, "abc"], capture_output=True, text=True, timeout=30)
        assert reply.stdout.strip() == "bcd", reply.stdout + reply.stderr
        assert all(pid_alive(pid) for pid in pids_in(out))
    finally:
        stopped = down(prefix)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"demo {prefix} is down" in stopped.stdout and "stopped api" in stopped.stdout
    assert_nothing_left(prefix, out)


@pytest.mark.root
@requires_lab
def test_encap_nsh_runs_the_nsh_variant_or_says_it_is_unavailable() -> None:
    from steerflow.cli.demo import encap_unavailable

    prefix = new_prefix()
    try:
        done = steerflow("demo", "--encap", "nsh", "--prefix", prefix)
    finally:
        down(prefix)
    if encap_unavailable("nsh") is not None:
        assert done.returncode == 2 and "the nsh encapsulation is not available" in done.stderr
        return
    assert done.returncode == 0, done.stdout + done.stderr
    assert_doctored(done.stdout)
    assert "NSH chain, NSH-aware function" in done.stdout and "correlation=nsh" in done.stdout
    assert_nothing_left(prefix, done.stdout)


@pytest.mark.root
@requires_lab
def test_graph_fans_the_requests_out_by_the_port_the_nat_gave_them_and_cleans_up() -> None:
    prefix = new_prefix()
    try:
        done = steerflow("demo", "--graph", "--prefix", prefix)
    finally:
        down(prefix)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert_doctored(out, steps=16)
    assert "[15/16] Ask ports 7 and 8 again" in out, out
    assert "port 7: echoed from 107, unchanged; port 8: echoed from 108, unchanged" in out
    assert "port 7: via-a, doctor-a +1, doctored; port 8: via-b, doctor-b +2, doctored" in out
    rows = [line for line in out.splitlines() if line.count(HELLO) == 2 and "port " in line]
    assert len(rows) == 2 and HELLO_DOCTORED in rows[0] and '"jgnnq\\x22uvggthnqy"' in rows[1], out
    assert "front (" in out and "-> via-a (" in out  # the service-graph show table
    assert_nothing_left(prefix, out)
