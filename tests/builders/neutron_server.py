"""A real neutron-server with networking-sfc and steerflow's drivers (noauth, sqlite, fake RPC).

It runs from the Neutron virtualenv `./run.sh install` builds (`$STEERFLOW_NEUTRON_VENV`, default
`.venv-neutron`: neutron, networking-sfc, and steerflow + steerflow-neutron installed editable), with
`mechanism_drivers = steerflow`, `[sfc] drivers = steerflow`, `[flowclassifier] drivers = steerflow`
and `[steerflow] nb_url` pointing at the test's NB store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
from steerflow_neutron.resync import NEUTRON_COLLECTIONS

from steerflow.model import schema
from tests.builders.servers import Server, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "neutron"
VENV = Path(os.environ.get("STEERFLOW_NEUTRON_VENV", REPO / ".venv-neutron"))
START_TIMEOUT = 90.0


def missing_venv() -> str | None:
    """Why the real-Neutron tests cannot run here, or None."""
    python = VENV / "bin" / "python"
    if not python.exists():
        return f"no Neutron virtualenv at {VENV} (./run.sh install builds it; or set STEERFLOW_NEUTRON_VENV)"
    probe = subprocess.run(
        [str(python), "-c", "import neutron, networking_sfc, steerflow_neutron"], capture_output=True
    )
    if probe.returncode != 0:
        return f"{VENV} lacks neutron, networking-sfc or steerflow-neutron: {probe.stderr.decode()[-300:]}"
    return None


def empty_database(cache_dir: Path) -> Path:
    """Neutron's schema in a sqlite file, created once per cache dir (a copy is each server's)."""
    db = cache_dir / "neutron-schema.db"
    if not db.exists():
        tmp = cache_dir / "neutron-schema.db.tmp"
        subprocess.run(
            [str(VENV / "bin" / "python"), str(HERE / "mkdb.py"), str(tmp)], check=True, capture_output=True
        )
        tmp.rename(db)
    return db


class NeutronServer(Server):
    """One neutron-server process in `workdir`, writing steerflow's NB at `nb_url`."""

    name = "neutron-server"
    start_timeout = START_TIMEOUT

    def __init__(self, workdir: Path, nb_url: str, schema_db: Path) -> None:
        super().__init__(workdir)
        self.nb_url = nb_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        shutil.copy(schema_db, workdir / "neutron.db")
        self._configure()

    def _configure(self) -> None:
        ml2 = self.workdir / "plugins" / "ml2"
        ml2.mkdir(parents=True, exist_ok=True)
        (self.workdir / "lock").mkdir(exist_ok=True)
        shutil.copy(VENV / "etc" / "neutron" / "api-paste.ini", self.workdir / "api-paste.ini")
        (self.workdir / "neutron.conf").write_text(
            f"""[DEFAULT]
api_paste_config = {self.workdir}/api-paste.ini
core_plugin = ml2
service_plugins = flow_classifier,sfc
auth_strategy = noauth
transport_url = fake://
# lists come in pages of 3 (with `next` links), so that resync is seen reading every page
pagination_max_limit = 3
[database]
connection = sqlite:///{self.workdir}/neutron.db
[sfc]
drivers = steerflow
[flowclassifier]
drivers = steerflow
[steerflow]
nb_url = {self.nb_url}
[oslo_concurrency]
lock_path = {self.workdir}/lock
"""
        )
        (ml2 / "ml2_conf.ini").write_text(
            """[ml2]
type_drivers = geneve,vxlan,local
tenant_network_types = geneve
mechanism_drivers = steerflow
extension_drivers = port_security
[ml2_type_geneve]
vni_ranges = 1:1000
"""
        )

    def command(self) -> list[str]:
        return [str(VENV / "bin" / "python"), str(HERE / "serve.py")]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "OS_NEUTRON_CONFIG_DIR": str(self.workdir), "PORT": str(self.port)}
        env.pop("PYTHONPATH", None)  # the venv has steerflow installed (editable): its own imports only
        return env

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/v2.0/extensions", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


class Neutron:
    """Neutron's REST API as a test uses it: POST/PUT/DELETE bodies, answers checked."""

    def __init__(self, url: str, project_id: str = "demo") -> None:
        self.http = httpx.Client(base_url=f"{url}/v2.0", timeout=60, headers={"X-Project-Id": project_id})
        self.project_id = project_id

    def __enter__(self) -> Neutron:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self, kind: str, **body: Any) -> dict[str, Any]:
        """POST a `kind` (an NB kind is also Neutron's member name) in the client's project."""
        resp = self.http.post(NEUTRON_COLLECTIONS[kind], json={kind: {"project_id": self.project_id, **body}})
        assert resp.status_code == 201, resp.text
        obj: dict[str, Any] = resp.json()[kind]
        return obj

    def update(self, kind: str, id: str, **body: Any) -> dict[str, Any]:
        resp = self.http.put(f"{NEUTRON_COLLECTIONS[kind]}/{id}", json={kind: body})
        assert resp.status_code == 200, resp.text
        obj: dict[str, Any] = resp.json()[kind]
        return obj

    def delete(self, kind: str, id: str) -> None:
        resp = self.http.delete(f"{NEUTRON_COLLECTIONS[kind]}/{id}")
        assert resp.status_code == 204, resp.text

    def wait_status(self, port_id: str, status: str, timeout: float = 10.0) -> None:
        """Until Neutron shows the port with `status` (the drivers report the agents' status back)."""
        url = f"{NEUTRON_COLLECTIONS[schema.PORT]}/{port_id}"
        shown = lambda: self.http.get(url).json()[schema.PORT]["status"] == status  # noqa: E731
        wait_until(shown, timeout, f"port {port_id} {status} in Neutron")

    def refused(self, kind: str, **body: Any) -> httpx.Response:
        """The answer to a POST expected to fail (the caller checks it)."""
        return self.http.post(NEUTRON_COLLECTIONS[kind], json={kind: {"project_id": self.project_id, **body}})

    def close(self) -> None:
        self.http.close()


def _device(role: str) -> str:
    """The VM a port belongs to: both ports of the function on one VM (networking-sfc requires it)."""
    return "vm-sf" if role.startswith("sf-") else f"vm-{role}"


def neutron_chain(neutron: Neutron, correlation: str | None = None) -> dict[str, Any]:
    """A network, a subnet, four ports (client, sf-in, sf-out, server) and a one-function UDP chain from
    the client (the function SFC-unaware, or aware of `correlation`), created through Neutron's API;
    every object by role (`world["chain"]["id"]`...)."""
    world: dict[str, Any] = {}
    net = world["net"] = neutron.create(schema.NETWORK, name="net1")
    world["sub"] = neutron.create(
        schema.SUBNET, network_id=net["id"], cidr="10.0.0.0/24", ip_version=4, name="sub1"
    )
    for role in ("client", "sf-in", "sf-out", "server"):
        world[role] = neutron.create(schema.PORT, network_id=net["id"], name=role, device_id=_device(role))
    world["pair"] = neutron.create(
        schema.PORT_PAIR,
        ingress=world["sf-in"]["id"],
        egress=world["sf-out"]["id"],
        name="sf1",
        service_function_parameters={"correlation": correlation},
    )
    world["group"] = neutron.create(schema.PORT_PAIR_GROUP, port_pairs=[world["pair"]["id"]], name="hop1")
    world["classifier"] = neutron.create(
        schema.FLOW_CLASSIFIER,
        protocol="udp",
        ethertype="IPv4",
        logical_source_port=world["client"]["id"],
        name="udp-from-client",
    )
    world["chain"] = neutron.create(
        schema.PORT_CHAIN,
        port_pair_groups=[world["group"]["id"]],
        flow_classifiers=[world["classifier"]["id"]],
        name="chain1",
    )
    return world
