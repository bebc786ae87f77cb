"""The demo walkthrough: an API on a fresh embedded store, then a service chain built through the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from steerflow.client import ClientError, SteerflowClient

READY_TIMEOUT = 30.0
SUBNET = "10.0.0.0/24"
CLIENT_IP, SERVER_IP, SF_IN_IP, SF_OUT_IP = "10.0.0.10", "10.0.0.20", "10.0.0.31", "10.0.0.32"
UDP_PORT = "5001"


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ApiProcess:
    """A `steerflow api` server in its own process and session, on an embedded store in `workdir`."""

    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def nb_url(self) -> str:
        return (self.workdir / "nb.db").as_uri()

    @property
    def log_path(self) -> Path:
        return self.workdir / "api.log"

    def start(self) -> None:
        argv = [sys.executable, "-m", "steerflow.cli", "api", "--nb", self.nb_url, "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            # a session of its own: with --keep it outlives the demo and a Ctrl-C of the demo leaves it alone
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        with SteerflowClient(self.endpoint) as client:
            try:
                client.wait_ready(
                    READY_TIMEOUT, alive=lambda: self.proc is not None and self.proc.poll() is None
                )
            except ClientError as exc:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise ClientError(f"the API server did not start ({exc}); its log:\n{tail}") from exc

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass(frozen=True)
class Step:
    """One walkthrough step: what it does, in words, and the steerflow command line that does it."""

    title: str
    argv: tuple[str, ...]


def _port(name: str, device: str, ip: str) -> tuple[str, ...]:
    fixed_ip = f"subnet=demo-subnet,ip-address={ip}"
    return ("port", "create", "--network", "demo-net", "--device", device, "--fixed-ip", fixed_ip, name)


STEPS: tuple[Step, ...] = (
    Step("a network", ("network", "create", "demo-net")),
    Step("a subnet on it", ("subnet", "create", "--network", "demo-net", "--subnet-range", SUBNET,
                            "demo-subnet")),
    Step("the client VM's port", _port("client", "vm-client", CLIENT_IP)),
    Step("the server VM's port", _port("server", "vm-server", SERVER_IP)),
    Step("the service function's ingress port", _port("sf1-in", "vm-sf1", SF_IN_IP)),
    Step("the service function's egress port", _port("sf1-out", "vm-sf1", SF_OUT_IP)),
    Step("a port pair: the service function", ("port-pair", "create", "--ingress", "sf1-in", "--egress",
                                               "sf1-out", "sf1")),
    Step("a port pair group: one hop of the chain", ("port-pair-group", "create", "--port-pair", "sf1",
                                                     "hop1")),
    Step("a flow classifier: UDP from the client to the server",
         ("flow-classifier", "create", "--protocol", "udp", "--destination-port", f"{UDP_PORT}:{UDP_PORT}",
          "--source-ip-prefix", f"{CLIENT_IP}/32", "--destination-ip-prefix", f"{SERVER_IP}/32",
          "--logical-source-port", "client", "udp-to-server")),
    Step("the port chain", ("port-chain", "create", "--port-pair-group", "hop1", "--flow-classifier",
                            "udp-to-server", "--chain-parameters", "correlation=mpls,symmetric=false",
                            "udp-chain")),
)  # fmt: skip

FINAL_TABLES: tuple[tuple[str, ...], ...] = (
    ("port", "list"),
    ("port-pair", "list"),
    ("port-pair-group", "list"),
    ("flow-classifier", "list"),
    ("port-chain", "list"),
    ("port-chain", "show", "udp-chain"),
)


def run_cli(endpoint: str, argv: tuple[str, ...] | list[str]) -> int:
    """Run one steerflow CLI command in this process, exactly as a user would type it."""
    import typer

    from steerflow.cli.main import app

    command = typer.main.get_command(app)
    result = command.main(["--endpoint", endpoint, *argv], prog_name="steerflow", standalone_mode=False)
    return int(result or 0)


def run_step(endpoint: str, argv: tuple[str, ...]) -> tuple[int, dict[str, Any]]:
    """A create step with `-f json`, returning its exit code and the created object."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_cli(endpoint, [*argv, "-f", "json"])
    return code, (json.loads(out.getvalue()) if code == 0 else {})


def shell_line(argv: tuple[str, ...]) -> str:
    import shlex

    return "$ steerflow " + " ".join(shlex.quote(a) for a in argv)


def run_demo(keep: bool = False, port: int = 0) -> int:
    """The whole demo; returns the exit code. Without `keep` it stops the server and removes its files."""
    if not sys.stdout.isatty():
        # piped output (CI, logs): rich would squeeze the tables into 80 columns
        os.environ.setdefault("COLUMNS", "160")
    out = Console(highlight=False)
    workdir = Path(tempfile.mkdtemp(prefix="steerflow-demo-"))
    server = ApiProcess(workdir, port or free_port())
    out.rule("[bold]steerflow demo")
    out.print(f"Starting the API on a fresh embedded store:\n  [dim]$ steerflow api --nb {server.nb_url} "
              f"--port {server.port}[/]")  # fmt: skip
    code = 1
    try:
        server.start()
        out.print(f"[green]API ready at {server.endpoint}[/] (pid {_pid(server)})\n")
        code = walkthrough(out, server.endpoint)
    except ClientError as exc:
        from steerflow.cli.output import print_error

        print_error(str(exc))
    finally:
        if not keep or code != 0:
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    if keep and code == 0:
        print_keep_instructions(out, server)
    return code


def _pid(server: ApiProcess) -> int:
    return server.proc.pid if server.proc is not None else 0


def walkthrough(out: Console, endpoint: str) -> int:
    """Every step through the steerflow CLI, then the resulting tables; stops at the first failure."""
    for number, step in enumerate(STEPS, 1):
        out.print(f"[bold cyan][{number}/{len(STEPS)}][/] Create {step.title}")
        out.print(f"  [dim]{shell_line(step.argv)}[/]", soft_wrap=True)
        code, created = run_step(endpoint, step.argv)
        if code != 0:
            out.print(f"[bold red]step {number} failed[/]")
            return code
        name, id = created.get("name"), created.get("id")
        out.print(f"  [green]created[/] {step.argv[0]} {name!r} id={id}{_extra(created)}")
    out.print()
    out.rule("[bold]What the API now holds")
    for argv in FINAL_TABLES:
        out.print(f"[dim]{shell_line(argv)}[/]")
        code = run_cli(endpoint, argv)
        if code != 0:
            return code
    out.print(
        f"\n[bold]Chain udp-chain:[/] client ({CLIENT_IP}) --UDP:{UDP_PORT}--> "
        f"sf1 (in {SF_IN_IP} / out {SF_OUT_IP}) --> server ({SERVER_IP})"
    )
    out.print("[dim]The API side is complete; the OVS dataplane that steers this traffic is a later step.[/]")
    return 0


def _extra(created: dict[str, Any]) -> str:
    details = []
    for key in ("chain_id", "group_id", "cidr"):
        if key in created:
            details.append(f"{key}={created[key]}")
    details.extend(f"ip={ip['ip_address']}" for ip in created.get("fixed_ips") or [] if "ip_address" in ip)
    return ("  " + " ".join(details)) if details else ""


def print_keep_instructions(out: Console, server: ApiProcess) -> None:
    endpoint = server.endpoint
    out.print()
    out.rule("[bold]The API keeps running")
    out.print(
        f"endpoint  {endpoint}   (pid {_pid(server)}, store {server.nb_url}, log {server.log_path})\n\n"
        f"  export STEERFLOW_ENDPOINT={endpoint}\n"
        f"  steerflow port-chain list\n"
        f"  openstack --os-auth-type none --os-endpoint {endpoint} sfc port chain list\n"
        f"  curl -s {endpoint}/v2.0/sfc/port_chains\n\n"
        f"stop it:  kill {_pid(server)} && rm -rf {server.workdir}",
        soft_wrap=True,
    )
