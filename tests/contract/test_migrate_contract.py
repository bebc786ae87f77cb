"""The NB schema version on every driver: an NB in an older format is migrated step by step (idempotent,
dry run writes nothing), a newer one is refused by `nb migrate`, the API and the agent (exit code 3)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from steerflow.cli.main import app
from steerflow.model import schema
from steerflow.nbdb import NorthboundStore
from steerflow.nbdb.api import Put
from steerflow.nbdb.migrate import CURRENT_VERSION, migrate, stamp_if_fresh, stored_version
from tests.builders.api_server import free_port
from tests.builders.servers import listening_unix_socket
from tests.builders.stores import Driver

PARAMS = "port_pair_group_parameters"
COMPLETE = {"lb_fields": ["ip_src"], "ppg_n_tuple_mapping": {"ingress_n_tuple": {}, "egress_n_tuple": {}}}


def fabricate_version_1(store: NorthboundStore) -> None:
    """An NB as steerflow wrote it before schema versions: no version document, and port pair groups
    whose parameters are null or lack keys."""
    store.commit(
        [
            Put(schema.NETWORK, "n1", {"id": "n1", "name": "net1"}),
            Put(schema.PORT_PAIR_GROUP, "g-null", {"id": "g-null", "port_pairs": [], PARAMS: None}),
            Put(
                schema.PORT_PAIR_GROUP,
                "g-part",
                {"id": "g-part", "port_pairs": [], PARAMS: {"lb_fields": []}},
            ),
            Put(schema.PORT_PAIR_GROUP, "g-full", {"id": "g-full", "port_pairs": [], PARAMS: COMPLETE}),
        ]
    )


def nb(driver: Driver, *args: str) -> tuple[int, str, str]:
    """`steerflow nb ARGS --nb URL` in-process: (exit code, stdout, stderr)."""
    done = CliRunner().invoke(app, ["nb", *args, "--nb", driver.url])
    return done.exit_code, done.stdout, done.stderr


@pytest.fixture
def cross_process(driver: Driver) -> Driver:
    if not driver.cross_process:
        pytest.skip("the CLI opens its own handle: a memory store lives in one process")
    return driver


def test_an_older_nb_is_migrated_once(cross_process: Driver) -> None:
    store = cross_process.open()
    fabricate_version_1(store)
    before = {r.id: r for r in store.list(schema.PORT_PAIR_GROUP)}
    assert stored_version(store) == 1
    pending = "1 step(s) pending: run steerflow nb migrate"
    assert (
        nb(cross_process, "version")[1]
        == f"NB schema version 1 (this steerflow: {CURRENT_VERSION}): {pending}\n"
    )
    code, out, _ = nb(cross_process, "migrate")
    assert code == 0, out
    migrated_at = store.revision()
    assert out.splitlines() == [
        f"NB schema version 1 -> {CURRENT_VERSION}: 1 step(s)",
        f"  step 2/{CURRENT_VERSION}: port pair groups carry their complete parameters: "
        f"rewrote 2 document(s), revision {migrated_at}",
        f"NB schema version {CURRENT_VERSION}: up to date",
    ]
    assert stored_version(store) == CURRENT_VERSION
    after = {r.id: r for r in store.list(schema.PORT_PAIR_GROUP)}
    default: dict[str, dict[str, object]] = {"ingress_n_tuple": {}, "egress_n_tuple": {}}
    assert after["g-null"].value[PARAMS] == {"lb_fields": [], "ppg_n_tuple_mapping": default}
    assert after["g-part"].value[PARAMS] == {"lb_fields": [], "ppg_n_tuple_mapping": default}
    assert after["g-full"] == before["g-full"]  # nothing to do: not rewritten
    network = store.get(schema.NETWORK, "n1")
    assert network is not None and network.mod_revision < migrated_at  # other kinds: untouched

    assert nb(cross_process, "migrate") == (
        0,
        f"NB schema version {CURRENT_VERSION}: up to date, nothing to do\n",
        "",
    )
    assert store.revision() == migrated_at  # idempotent: the second run wrote nothing


def test_a_dry_run_writes_nothing(cross_process: Driver) -> None:
    store = cross_process.open()
    fabricate_version_1(store)
    revision = store.revision()
    code, out, _ = nb(cross_process, "migrate", "--dry-run")
    assert code == 0
    assert "port pair groups carry their complete parameters: would rewrite 2 document(s)\n" in out
    assert out.endswith("dry run: nothing written\n")
    assert (store.revision(), stored_version(store)) == (revision, 1)


def test_a_step_applied_elsewhere_meanwhile_is_not_applied_again(driver: Driver) -> None:
    """Two hosts migrating at once: the step is one transaction re-planned on a race, so it runs once."""
    store, other = driver.open(), driver.open()
    fabricate_version_1(store)
    shown: list[int] = []
    first = migrate(store, progress=lambda r: shown.append(r.documents))
    second = migrate(other, progress=lambda r: shown.append(r.documents))
    assert ([r.documents for r in first], second, shown) == ([2], [], [2])
    assert stored_version(other) == CURRENT_VERSION


def test_a_fresh_nb_is_stamped_current_and_a_used_one_is_not(driver: Driver) -> None:
    fresh = driver.open()
    assert stamp_if_fresh(fresh) and stored_version(fresh) == CURRENT_VERSION
    assert not stamp_if_fresh(fresh)


@pytest.fixture
def listening_socket(tmp_path: Path) -> Iterator[str]:
    """Something listening where the agent expects ovsdb-server: it gets past that check to the store's."""
    with listening_unix_socket(tmp_path / "db.sock") as target:
        yield target


def test_a_newer_nb_is_refused_by_everyone(cross_process: Driver, listening_socket: str) -> None:
    store = cross_process.open()
    newer = CURRENT_VERSION + 1
    store.commit(
        [Put(schema.NB_META, schema.NB_META_ID, {"id": schema.NB_META_ID, schema.SCHEMA_VERSION: newer})]
    )
    revision = store.revision()
    line = (
        f"Error: the NB store is in schema version {newer}, newer than this {{}} reads ({CURRENT_VERSION}): "
        "upgrade this host's steerflow (a store is never migrated down)\n"
    )
    assert nb(cross_process, "migrate") == (3, "", line.format("steerflow"))
    assert nb(cross_process, "version") == (3, "", line.format("steerflow"))
    api = CliRunner().invoke(app, ["api", "--nb", cross_process.url, "--port", str(free_port())])
    assert (api.exit_code, api.stderr) == (3, line.format("API server"))
    server = [sys.executable, "-m", "steerflow.rest", "--nb", cross_process.url, "--port", str(free_port())]
    bare = subprocess.run(server, capture_output=True, text=True, timeout=60)
    refused = "steerflow api: " + line.format("API server").removeprefix("Error: ")
    assert bare.returncode == 3 and bare.stderr.endswith(refused)
    agent = ["agent", "--chassis", "hv1", "--encap-ip", "192.0.2.1", "--ovsdb", listening_socket]
    done = CliRunner().invoke(app, [*agent, "--nb", cross_process.url])
    assert (done.exit_code, done.stderr) == (3, line.format("agent"))
    assert store.revision() == revision
