"""OVSDB southbound: the integration bridge steerflow owns, and a live typed view of the ports plugged in.

`OvsdbClient(target)` talks to ovsdb-server through ovsdbapp (the `ovs` package's IDL) over a unix socket,
so the agent runs in any network namespace. It (1) creates or repairs the integration bridge idempotently
(`ensure_integration_bridge`), (2) reads the interfaces on that bridge that carry a logical port id
(`external_ids:iface-id`) as `LocalPort` values, and (3) feeds subscribers a `PortsChanged` batch whenever
that set changes (interface added, removed, ofport assigned or changed).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from steerflow.southbound import ovsjson


def _import_without_eventlet() -> None:
    """Import python-ovs' poller with eventlet hidden: it only probes whether eventlet monkey-patched
    `select` (we never do), but importing eventlet (installed for os-ken) warns that it is deprecated and
    hooks os.fork to warn again on every subprocess any thread starts."""
    if "eventlet" in sys.modules:
        return
    sys.modules["eventlet"] = None  # type: ignore[assignment]  # makes `import eventlet` fail fast
    try:
        importlib.import_module("ovs.poller")
    finally:
        del sys.modules["eventlet"]


def _import_ovsdbapp_bare() -> None:
    """Register ovsdbapp's package without running its `__init__`, which only computes `__version__`
    through pbr: that lookup imports importlib.metadata (email, zipfile, csv...), ~15 ms of CPU and
    2.5 MB at every agent start, and none of ovsdbapp's submodules reads the version. The bare package
    still answers `__version__`, looked up when first asked for."""
    if "ovsdbapp" in sys.modules:
        return
    spec = importlib.util.find_spec("ovsdbapp")
    if spec is None:
        return  # not installed: the imports below say so
    package = importlib.util.module_from_spec(spec)  # the package's __path__ and __spec__, nothing run
    package.__getattr__ = _ovsdbapp_version  # type: ignore[method-assign]
    sys.modules["ovsdbapp"] = package


def _ovsdbapp_version(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'ovsdbapp' has no attribute {name!r}")
    from importlib.metadata import version

    return version("ovsdbapp")


_import_without_eventlet()
_import_ovsdbapp_bare()
ovsjson.install()  # before any session: python-ovs' pure Python JSON parser costs ~5 us a character
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # when eventlet was already there
    from ovsdbapp.backend.ovs_idl import command as ovs_command
    from ovsdbapp.backend.ovs_idl import connection as ovs_connection
    from ovsdbapp.backend.ovs_idl import idlutils
    from ovsdbapp.schema.open_vswitch import impl_idl

LOG = logging.getLogger(__name__)

INTEGRATION_BRIDGE: Final = "br-int"
TUNNEL_PORT: Final = "geneve0"
# fixed, so flows can name the tunnel port without asking OVSDB (the lab uses the same number)
TUNNEL_OFPORT: Final = 100
OPENFLOW_VERSIONS: Final = ("OpenFlow13", "OpenFlow15")
OWNER_KEY: Final = "steerflow-managed"  # external_ids mark on what the agent created and may repair
DEFAULT_TIMEOUT: Final = 10.0
_TABLES: Final = ("Open_vSwitch", "Bridge", "Port", "Interface")


class OvsdbError(Exception):
    """ovsdb-server could not be reached, or refused or could not apply what we asked."""


@dataclass(frozen=True)
class LocalPort:
    """An interface on the integration bridge that names a logical port (`external_ids:iface-id`).

    `ofport` is None while ovs-vswitchd has not (or could not) give it an OpenFlow port number
    (empty or -1): such a port is plugged but not ready, and must not be bound.
    """

    name: str
    iface_id: str
    ofport: int | None
    mac: str = ""  # external_ids:attached-mac (the VM's MAC) when set, else the device's mac_in_use
    mac_in_use: str = ""
    type: str = ""
    uuid: str = ""  # the Interface row: a re-created interface is a new one even with the same name

    @property
    def ready(self) -> bool:
        return self.ofport is not None


@dataclass(frozen=True)
class PortsChanged:
    """One change-feed batch: the whole current set of local ports and what changed since the last batch.

    A subscriber's first batch lists every current port as added (possibly none), so a consumer can be
    level-triggered: `ports` alone is always enough.
    """

    ports: tuple[LocalPort, ...]
    added: tuple[LocalPort, ...] = ()
    removed: tuple[LocalPort, ...] = ()
    changed: tuple[LocalPort, ...] = ()  # same interface name, new value (ofport, iface-id, MAC...)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class BridgeSpec:
    """What the integration bridge must look like."""

    name: str = INTEGRATION_BRIDGE
    datapath_type: str = "netdev"
    tunnel_port: str = TUNNEL_PORT
    tunnel_ofport: int = TUNNEL_OFPORT
    local_ip: str | None = None  # the tunnel's source address; None lets OVS pick it from its routes
    protocols: tuple[str, ...] = OPENFLOW_VERSIONS

    def tunnel_options(self) -> dict[str, str]:
        options = {"remote_ip": "flow", "key": "flow"}
        if self.local_ip:
            options["local_ip"] = self.local_ip
        return options


@dataclass(frozen=True)
class BridgeReport:
    """What `ensure_integration_bridge` found wrong and fixed (nothing when the bridge was already right)."""

    bridge: str
    created: bool
    fixes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.fixes)


KERNEL_MODULE: Final = "/sys/module/openvswitch"  # present when the kernel datapath's module is loaded


def choose_datapath(supported: Sequence[str], kernel_module_loaded: bool) -> tuple[str, str]:
    """The bridge datapath_type for a host, and why: `system` (the kernel datapath) when ovs-vswitchd
    supports it and the openvswitch module is loaded, else `netdev` (userspace)."""
    if "system" in supported and kernel_module_loaded:
        return "system", "ovs-vswitchd supports it and the openvswitch kernel module is loaded"
    if "system" in supported:
        return "netdev", "the openvswitch kernel module is not loaded"
    listed = ", ".join(supported) or "none listed yet"
    return "netdev", f"ovs-vswitchd does not list system among its datapath types ({listed})"


def _optional(value: Any) -> Any:
    """The value of an optional (0..1) OVSDB column, which the IDL hands out as a list."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _local_port(iface: Any) -> LocalPort | None:
    ids = dict(iface.external_ids)
    iface_id = ids.get("iface-id", "")
    if not iface_id:
        return None
    ofport = _optional(iface.ofport)
    mac_in_use = _optional(iface.mac_in_use) or ""
    return LocalPort(
        name=str(iface.name),
        iface_id=iface_id,
        ofport=None if ofport is None or int(ofport) <= 0 else int(ofport),
        mac=(ids.get("attached-mac") or mac_in_use).lower(),
        mac_in_use=mac_in_use.lower(),
        type=str(iface.type),
        uuid=str(iface.uuid),
    )


def bridge_ports(idl: Any, bridge: str) -> tuple[LocalPort, ...]:
    """The logical ports plugged into `bridge` in an IDL's current replica, by interface name."""
    br = idlutils.row_by_value(idl, "Bridge", "name", bridge, None)
    if br is None:
        return ()
    found = (_local_port(iface) for port in br.ports for iface in port.interfaces)
    return tuple(sorted((p for p in found if p is not None), key=lambda p: p.name))


def diff_ports(before: Iterable[LocalPort], after: Sequence[LocalPort]) -> PortsChanged:
    """What changed between two views of the local ports (interfaces keyed by name)."""
    old = {p.name: p for p in before}
    new = {p.name: p for p in after}
    return PortsChanged(
        ports=tuple(after),
        added=tuple(p for n, p in new.items() if n not in old),
        removed=tuple(p for n, p in old.items() if n not in new),
        changed=tuple(p for n, p in new.items() if n in old and old[n] != p),
    )


PortsCallback = Callable[[PortsChanged], None]


@dataclass
class _Subscriber:
    callback: PortsCallback
    last: tuple[LocalPort, ...] | None = None  # None: has not had its first (full) batch yet


@dataclass
class _PortFeed:
    """The change feed: one thread that re-reads the ports when the IDL moved and tells each subscriber."""

    read: Callable[[], tuple[LocalPort, ...]]
    subscribers: dict[int, _Subscriber] = field(default_factory=dict)
    wake: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopped: bool = False
    next_key: int = 0
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="ovsdb-port-feed", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped = True
        self.wake.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)

    def subscribe(self, callback: PortsCallback) -> Callable[[], None]:
        with self.lock:
            key = self.next_key
            self.next_key += 1
            self.subscribers[key] = _Subscriber(callback)
        self.wake.set()  # the new subscriber gets its first batch from the feed thread, in order

        def unsubscribe() -> None:
            with self.lock:
                self.subscribers.pop(key, None)

        return unsubscribe

    def _run(self) -> None:
        while True:
            self.wake.wait()
            if self.stopped:
                return
            self.wake.clear()
            try:
                ports = self.read()
            except Exception:
                LOG.exception("reading the local ports from OVSDB failed")
                continue
            with self.lock:
                subscribers = list(self.subscribers.values())
            for sub in subscribers:
                self._deliver(sub, ports)

    @staticmethod
    def _deliver(sub: _Subscriber, ports: tuple[LocalPort, ...]) -> None:
        batch = diff_ports(sub.last or (), ports)
        first = sub.last is None
        sub.last = ports
        if not first and batch.empty:
            return
        try:
            sub.callback(batch)
        except Exception:
            LOG.exception("a local-ports subscriber failed on %s", batch)


def _api_class() -> type[Any]:
    # ovsdbapp keeps the connection in a class attribute: a private subclass per client lets one process
    # talk to several ovsdb-servers (two emulated chassis in one test, say).
    return type("SteerflowVswitchApi", (impl_idl.OvsdbIdl,), {"_ovsdb_connection": None})


class _WatchedIdl(ovs_connection.OvsdbIdl):  # type: ignore[misc]
    """The IDL replica, calling `on_change` after every `run()` that changed it (also on reconnect)."""

    on_change: Callable[[], None] | None = None

    def cooperative_yield(self) -> None:
        """Nothing: ovsdbapp sleeps 0 s after every row of an update (for eventlet's green threads),
        which on a busy host hands the CPU away once per row; our threads share it by the GIL's own
        switching."""

    def run(self) -> Any:
        before = self.change_seqno
        result = super().run()
        if self.change_seqno != before and self.on_change is not None:
            self.on_change()
        return result


class OvsdbClient:
    """One connection to an ovsdb-server (`unix:/path/db.sock`, or any OVSDB remote) and one bridge on it.

    Connects at construction (raises `OvsdbError` if the server does not answer within `timeout`); the
    IDL reconnects by itself afterwards. `close()` (or the context manager) stops its threads.
    """

    def __init__(self, target: str, *, bridge: str = INTEGRATION_BRIDGE, timeout: float = DEFAULT_TIMEOUT):
        self.target = target
        self.bridge = bridge
        self._feed = _PortFeed(read=self.local_ports)
        try:
            helper = idlutils.get_schema_helper(target, "Open_vSwitch")
            for table in _TABLES:
                helper.register_table(table)
            idl = _WatchedIdl(target, helper)
            idl.on_change = self._feed.wake.set
            self._conn = ovs_connection.Connection(idl, timeout=timeout)
            self._api = _api_class()(self._conn)
        except Exception as exc:
            raise OvsdbError(f"cannot reach ovsdb-server at {target}: {exc}") from exc
        self._feed.start()
        LOG.info("connected to ovsdb-server at %s (bridge %s)", target, bridge)

    def close(self) -> None:
        self._feed.stop()
        self._conn.stop(timeout=5)

    def __enter__(self) -> OvsdbClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------------------

    def local_ports(self) -> tuple[LocalPort, ...]:
        """The logical ports plugged into the bridge now (interfaces with `external_ids:iface-id`)."""
        with self._conn.lock:
            return bridge_ports(self._conn.idl, self.bridge)

    def system_external_ids(self) -> dict[str, str]:
        """`Open_vSwitch` external_ids (e.g. `system-id`, `steerflow-encap-ip` as the lab sets them)."""
        with self._conn.lock:
            rows = list(self._conn.idl.tables["Open_vSwitch"].rows.values())
            return dict(rows[0].external_ids) if rows else {}

    def datapath_types(self) -> tuple[str, ...]:
        """The datapath types this host's ovs-vswitchd supports (`Open_vSwitch:datapath_types`, e.g.
        system, netdev); empty until ovs-vswitchd has filled it in."""
        with self._conn.lock:
            rows = list(self._conn.idl.tables["Open_vSwitch"].rows.values())
            return tuple(rows[0].datapath_types) if rows else ()

    # -- the change feed --------------------------------------------------------------------------------

    def subscribe(self, callback: PortsCallback) -> Callable[[], None]:
        """Call `callback(PortsChanged)` from the feed thread: first with every current port, then on each
        change. Returns a function that unsubscribes. Callbacks must be quick (hand work to your thread)."""
        return self._feed.subscribe(callback)

    def subscribe_asyncio(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.Queue[PortsChanged], Callable[[], None]]:
        """The feed as an asyncio queue on `loop` (batches are handed over thread-safely)."""
        queue: asyncio.Queue[PortsChanged] = asyncio.Queue()

        def hand_over(batch: PortsChanged) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, batch)

        unsubscribe = self.subscribe(hand_over)
        return queue, unsubscribe

    # -- the integration bridge -------------------------------------------------------------------------

    def ensure_integration_bridge(
        self,
        *,
        datapath_type: str = "netdev",
        tunnel_port: str = TUNNEL_PORT,
        tunnel_ofport: int = TUNNEL_OFPORT,
        local_ip: str | None = None,
        protocols: Sequence[str] = OPENFLOW_VERSIONS,
    ) -> BridgeReport:
        """Create or repair the bridge: `fail_mode=secure` (no flows = no traffic, never a learning switch),
        the OpenFlow `protocols` enabled (others already enabled stay), in-band control off, marked as
        ours, with the flow-based Geneve port (`remote_ip=flow key=flow`) at `ofport_request=tunnel_ofport`.

        Idempotent: when everything already matches, nothing is written and the report lists no fixes.
        """
        spec = BridgeSpec(self.bridge, datapath_type, tunnel_port, tunnel_ofport, local_ip, tuple(protocols))
        try:
            report: BridgeReport = _EnsureBridge(self._api, spec).execute(check_error=True, log_errors=False)
        except OvsdbError:
            raise
        except Exception as exc:
            raise OvsdbError(f"OVSDB transaction on {self.target} failed: {exc}") from exc
        for fix in report.fixes:
            LOG.info("bridge %s: %s", spec.name, fix)
        return report


class _EnsureBridge(ovs_command.BaseCommand):  # type: ignore[misc]
    """Compare and repair in one transaction, in the IDL's thread: the decision is made on a replica that
    has taken in every update received so far, and is re-made if the server says TRY_AGAIN. Writes
    nothing (no transaction is sent) when nothing differs."""

    def __init__(self, api: Any, spec: BridgeSpec) -> None:
        super().__init__(api)
        self.spec = spec

    def run_idl(self, txn: Any) -> None:
        created, fixes, enabled = _bridge_fixes(self.api.idl, self.spec)
        if fixes:
            for command in _bridge_commands(self.api, self.spec, enabled):
                command.run_idl(txn)
        self.result = BridgeReport(self.spec.name, created=created, fixes=tuple(fixes))


def _bridge_fixes(idl: Any, spec: BridgeSpec) -> tuple[bool, list[str], set[str]]:
    """(bridge missing?, what differs from `spec`, OpenFlow versions already enabled), from the replica."""
    if not idl.tables["Open_vSwitch"].rows:
        raise OvsdbError("the Open_vSwitch table is empty: initialise the database (ovs-vsctl init)")
    br = idlutils.row_by_value(idl, "Bridge", "name", spec.name, None)
    if br is None:
        return True, [f"create bridge ({spec.datapath_type}) with tunnel port {spec.tunnel_port}"], set()
    enabled = set(br.protocols)
    fixes = []
    if br.datapath_type != spec.datapath_type:
        fixes.append(f"datapath_type {br.datapath_type!r} -> {spec.datapath_type!r}")
    if _optional(br.fail_mode) != "secure":
        fixes.append(f"fail_mode {_optional(br.fail_mode)!r} -> 'secure'")
    if missing := set(spec.protocols) - enabled:
        fixes.append(f"enable {', '.join(sorted(missing))}")
    if (
        dict(br.external_ids).get(OWNER_KEY) != "true"
        or dict(br.other_config).get("disable-in-band") != "true"
    ):
        fixes.append("mark as steerflow's, in-band control off")
    return False, fixes + _tunnel_fixes(idl, br, spec), enabled


def _tunnel_fixes(idl: Any, br: Any, spec: BridgeSpec) -> list[str]:
    port = idlutils.row_by_value(idl, "Port", "name", spec.tunnel_port, None)
    if port is None:
        return [f"add tunnel port {spec.tunnel_port}"]
    if port not in br.ports:
        raise OvsdbError(f"port {spec.tunnel_port} exists on another bridge; remove it or pick another name")
    iface = idlutils.row_by_value(idl, "Interface", "name", spec.tunnel_port, None)
    fixes = []
    options = dict(iface.options) if iface is not None else {}
    if iface is None or iface.type != "geneve" or not spec.tunnel_options().items() <= options.items():
        fixes.append(f"tunnel port {spec.tunnel_port}: geneve {spec.tunnel_options()}")
    if iface is None or _optional(iface.ofport_request) != spec.tunnel_ofport:
        fixes.append(f"tunnel port {spec.tunnel_port}: ofport_request={spec.tunnel_ofport}")
    return fixes


def _bridge_commands(api: Any, spec: BridgeSpec, enabled: set[str]) -> list[Any]:
    """Commands that bring the bridge to `spec` whatever its state (maps are merged, not replaced)."""
    owned = {OWNER_KEY: "true"}
    return [
        api.add_br(spec.name, may_exist=True, datapath_type=spec.datapath_type),
        api.db_set(
            "Bridge",
            spec.name,
            ("fail_mode", "secure"),
            ("protocols", sorted(enabled | set(spec.protocols))),
            ("external_ids", owned),
            ("other_config", {"disable-in-band": "true"}),
        ),
        api.add_port(spec.name, spec.tunnel_port, may_exist=True),
        api.db_set(
            "Interface",
            spec.tunnel_port,
            ("type", "geneve"),
            ("options", spec.tunnel_options()),
            ("ofport_request", spec.tunnel_ofport),
            ("external_ids", owned),
        ),
    ]
