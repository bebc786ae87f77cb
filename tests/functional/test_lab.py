"""The lab on real namespaces and userspace OVS: chassis, VMs, tunnels, and teardown that leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from steerflow.lab import (
    ChassisHandle,
    Lab,
    LabCommandError,
    LabError,
    destroy,
    install_static_l2,
    leftovers,
    sweep_orphans,
)
from steerflow.lab.procs import pid_alive
from steerflow.lab.sh import poll_until
from tests.builders.lab_fixtures import (
    LAB_BASE_DIR,
    LabFactory,
    build_two_chassis,
    lab_fixture,  # noqa: F401  (provides the `lab` fixture)
    new_prefix,
    requires_lab,
)

pytestmark = [pytest.mark.root, requires_lab, pytest.mark.timeout(90)]

REPO = Path(__file__).resolve().parents[2]


def _daemon_pids(the_lab: Lab) -> list[int]:
    pids = [p for c in the_lab.chassis.values() for p in c.pids().values()]
    assert all(p is not None for p in pids), pids
    return [p for p in pids if p is not None]


def _packets(ch: ChassisHandle, match: str) -> int:
    """n_packets of the one br-int flow whose text contains `match`."""
    (flow,) = [f for f in ch.ovs_ofctl("dump-flows", "br-int").splitlines() if match in f]
    return int(flow.split("n_packets=")[1].split(",")[0])


def _assert_gone(prefix: str, run_dir: Path, pids: list[int]) -> None:
    assert leftovers(prefix) == ([], [])
    assert [p for p in pids if pid_alive(p)] == []
    assert not run_dir.exists()


def test_two_chassis_ping_through_geneve_then_teardown_leaves_nothing(lab: LabFactory) -> None:
    the_lab = lab()
    t = build_two_chassis(the_lab)
    install_static_l2(the_lab)

    # A warm underlay means even the very first tunnelled packet (the ARP broadcast) gets through.
    assert t.vm1.ping(t.vm2.ipv4)
    assert t.vm2.ping(t.vm1.ipv4)
    assert t.vm1.ipv6 is not None and t.vm2.ipv6 is not None
    t.vm1.wait_ping(t.vm2.ipv6, timeout=5)
    t.vm2.wait_ping(t.vm1.ipv6, timeout=5)
    # The replies really came out of the Geneve tunnel.
    assert _packets(t.ch1, f"in_port=100,dl_dst={t.vm1.mac}") >= 2

    # What the agent will rely on.
    assert t.ch1.mgmt_socket.is_socket()
    assert t.ch1.db_socket == f"unix:{t.ch1.run_dir / 'db.sock'}"
    assert t.ch1.ovs_vsctl("get", "Interface", t.vm1.port, "external_ids:iface-id") == "vm1"
    assert t.ch1.ofport("geneve0") == 100
    assert t.ch2.ovs_vsctl("get", "Open_vSwitch", ".", "external_ids:system-id") == "ch2"
    assert all(s.healthy for s in the_lab.status())

    pids = _daemon_pids(the_lab)
    the_lab.teardown()
    _assert_gone(the_lab.prefix, the_lab.run_dir, pids)
    the_lab.teardown()  # idempotent
    _assert_gone(the_lab.prefix, the_lab.run_dir, pids)


def test_teardown_after_a_failure_in_the_middle_still_cleans_up(lab: LabFactory) -> None:
    the_lab = lab()
    ch = the_lab.add_chassis("ch1", "198.51.100.11")
    pids = _daemon_pids(the_lab)
    ovsdb = ch.pids()["ovsdb-server"]
    assert ovsdb is not None
    os.kill(ovsdb, signal.SIGKILL)
    poll_until(lambda: not pid_alive(ovsdb), 5, "ovsdb-server to die")

    # add_vm fails after its namespace and veth exist, when it asks OVSDB to plug the port.
    with pytest.raises(LabCommandError, match="ovs-vsctl"):
        the_lab.add_vm(ch, "vm1", "02:00:00:00:00:01", "203.0.113.1/24")
    namespaces, links = leftovers(the_lab.prefix)
    assert f"{the_lab.prefix}-vm1" in namespaces and f"{the_lab.prefix}-u" in links

    # The lab stays usable: the next VM gets fresh link names, not those the failed step left behind.
    ch2 = the_lab.add_chassis("ch2", "198.51.100.12")
    vm2 = the_lab.add_vm(ch2, "vm2", "02:00:00:00:00:02", "203.0.113.2/24")
    assert vm2.port == f"{the_lab.prefix}v2p"
    pids += [p for p in ch2.pids().values() if p is not None]

    the_lab.teardown()
    _assert_gone(the_lab.prefix, the_lab.run_dir, pids)


def test_context_manager_tears_down_when_the_body_raises(private_dir: Path) -> None:
    prefix, run_dir = new_prefix(), private_dir / "lab"
    try:
        with pytest.raises(RuntimeError, match="boom"), Lab(run_dir, prefix) as the_lab:
            the_lab.add_chassis("ch1", "198.51.100.11")
            pids = _daemon_pids(the_lab)
            raise RuntimeError("boom")
        _assert_gone(prefix, run_dir, pids)
    finally:
        destroy(prefix, run_dir)


def test_a_run_dir_the_lab_did_not_make_is_refused_and_left_intact(private_dir: Path) -> None:
    foreign = private_dir / "someone-elses"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    prefix = new_prefix()
    with pytest.raises(LabError, match="not empty"), Lab(foreign, prefix):
        pass
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert leftovers(prefix) == ([], [])


def test_agent_owned_br_int_is_left_to_the_agent(lab: LabFactory) -> None:
    the_lab = lab()
    ch = the_lab.add_chassis("ch1", "198.51.100.11", create_br_int=False)
    assert ch.ovs_vsctl("list-br").split() == ["br-phy"]

    vm = the_lab.add_vm(ch, "vm1", "02:00:00:00:00:01", "203.0.113.1/24", iface_id="port-uuid-1", ofport=7)

    # Plugging a VM makes a bare br-int the way a VIF plugger does; the tunnel port stays the agent's job.
    assert vm.ofport == 7
    assert ch.ovs_vsctl("list-ports", "br-int").split() == [vm.port]
    assert ch.ovs_vsctl("get", "Bridge", "br-int", "fail_mode") == "secure"
    assert ch.ovs_vsctl("get", "Bridge", "br-int", "datapath_type") == "netdev"
    assert ch.ovs_vsctl("get", "Interface", vm.port, "external_ids:iface-id") == "port-uuid-1"


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A short base dir for run dirs that no other test session sweeps (unlike LAB_BASE_DIR, where labs
    whose owner process has exited are removed as orphans)."""
    base = Path(tempfile.mkdtemp(prefix="sflab-", dir="/tmp"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _crash_a_lab(run_dir: Path, prefix: str) -> list[int]:
    """Build a lab in a child process that is then SIGKILLed, as a crashed test run would be."""
    script = f"""
        import os, signal
        from pathlib import Path
        from steerflow.lab import Lab
        lab = Lab(Path({str(run_dir)!r}), {prefix!r})
        ch = lab.add_chassis("ch1", "198.51.100.11")
        lab.add_vm(ch, "vm1", "02:00:00:00:00:01", "203.0.113.1/24")
        print(" ".join(str(p) for p in ch.pids().values()), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2 and all(pid_alive(p) for p in pids)
    assert leftovers(prefix) != ([], [])
    return pids


def test_a_new_lab_removes_the_leftovers_of_a_crashed_run_with_its_prefix(private_dir: Path) -> None:
    prefix, run_dir = new_prefix(), private_dir / "lab"
    try:
        old_pids = _crash_a_lab(run_dir, prefix)
        with Lab(run_dir, prefix) as the_lab:
            assert [p for p in old_pids if pid_alive(p)] == []
            assert leftovers(prefix) == ([], [f"{prefix}-u"])  # only the new lab's own underlay bridge
            assert the_lab.chassis == {}
            assert [p.name for p in run_dir.iterdir()] == ["lab.json"]
    finally:
        destroy(prefix, run_dir)


def test_sweep_removes_labs_whose_owner_died(private_dir: Path) -> None:
    prefix, run_dir = new_prefix(), private_dir / "lab"
    try:
        old_pids = _crash_a_lab(run_dir, prefix)
        assert sweep_orphans(private_dir) == [prefix]
        _assert_gone(prefix, run_dir, old_pids)
    finally:
        destroy(prefix, run_dir)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "steerflow.cli.lab_cmd", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_cli_up_status_and_down_in_separate_processes(private_dir: Path) -> None:
    prefix, run_dir = new_prefix(), private_dir / "lab"
    where = ["--prefix", prefix, "--run-dir", str(run_dir)]
    try:
        up = _cli("up", "--chassis", "2", "--vms", "2", *where)
        assert up.returncode == 0, up.stderr
        assert "creating namespace" in up.stderr  # progress is logged step by step

        status = _cli("status", "--json", *where)
        assert status.returncode == 0, status.stderr
        rows = json.loads(status.stdout)
        # not the NB schema: the `lab status` JSON
        assert [(r["chassis"], r["vms"], r["healthy"]) for r in rows] == [
            ("ch1", ["vm1", "vm2"], True),
            ("ch2", ["vm3", "vm4"], True),
        ]
        pids = [p for r in rows for p in r["pids"].values()]

        down = _cli("down", *where)
        assert down.returncode == 0, down.stderr
        _assert_gone(prefix, run_dir, pids)
        assert _cli("down", *where).returncode == 0  # nothing left to do is fine
        assert _cli("status", *where).returncode == 1
    finally:
        destroy(prefix, run_dir)


FIXTURE_USER = """
from pathlib import Path
from tests.builders.lab_fixtures import lab_fixture

def _build(lab, name):
    the_lab = lab()
    the_lab.add_chassis("ch1", "198.51.100.11")
    Path(name).write_text(the_lab.prefix)

def test_fails(lab):
    _build(lab, "failed.prefix")
    assert False

def test_interrupted(lab):
    _build(lab, "interrupted.prefix")
    raise KeyboardInterrupt
"""


def test_fixture_tears_down_after_a_failure_and_after_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(FIXTURE_USER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"]
    proc = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr  # 2: interrupted
    assert "1 failed" in proc.stdout and "KeyboardInterrupt" in proc.stdout, proc.stdout
    for name in ("failed.prefix", "interrupted.prefix"):
        prefix = (tmp_path / name).read_text()
        try:
            assert leftovers(prefix) == ([], [])
            assert not (LAB_BASE_DIR / prefix).exists()
        finally:
            destroy(prefix, LAB_BASE_DIR / prefix)
