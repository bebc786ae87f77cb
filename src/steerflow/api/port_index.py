"""A snapshot index of what ports hold (MACs and port keys per network, addresses per subnet)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from steerflow.model import schema
from steerflow.nbdb.txn import Change, Derived, Snapshot, register

# value -> how many ports hold it (more than one only in a store written around the API's checks)
Held = dict[Any, int]


@dataclass(frozen=True)
class PortUsage:
    """Per network, the MACs and port keys its ports hold; per subnet, the addresses (as integers).

    Kept change by change, so a bulk create of N ports costs N small updates instead of N scans of
    every port (which made a 200-port POST take ~0.65 s, and grew with the square of N)."""

    macs: dict[str, Held]
    keys: dict[str, Held]
    addresses: dict[str, Held]

    def macs_of(self, network_id: str) -> Mapping[str, int]:
        return self.macs.get(network_id, {})

    def keys_of(self, network_id: str) -> Mapping[int, int]:
        return self.keys.get(network_id, {})

    def used(self, subnet_ids: Iterable[str], skip: Mapping[str, Any] | None = None) -> dict[str, set[int]]:
        """The addresses taken in `subnet_ids`, as fresh sets the caller may add to; `skip`'s own
        addresses (a port being updated) count as free."""
        own = _addresses(skip) if skip is not None else []
        used = {sid: set(self.addresses.get(sid, {})) for sid in subnet_ids}
        for sid, address in own:
            if sid in used and self.addresses.get(sid, {}).get(address, 0) <= 1:
                used[sid].discard(address)
        return used


def _addresses(port: Mapping[str, Any]) -> list[tuple[str, int]]:
    return [
        (fip["subnet_id"], int(ipaddress.ip_address(fip["ip_address"]))) for fip in port.get("fixed_ips", [])
    ]


def _marks(port: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(table, key, value) of everything `port` holds."""
    net = str(port.get("network_id"))
    out: list[tuple[str, str, Any]] = [("macs", net, port.get("mac_address"))]
    if port.get(schema.TUNNEL_KEY):
        out.append(("keys", net, int(port[schema.TUNNEL_KEY])))
    out += [("addresses", sid, address) for sid, address in _addresses(port)]
    return out


def _build(snap: Snapshot) -> PortUsage:
    tables: dict[str, dict[str, Held]] = {"macs": {}, "keys": {}, "addresses": {}}
    for port in snap.of(schema.PORT).values():
        for table, key, value in _marks(port):
            held = tables[table].setdefault(key, {})
            held[value] = held.get(value, 0) + 1
    return PortUsage(**tables)


def _update(usage: PortUsage, before: Snapshot, after: Snapshot, changed: set[Change]) -> PortUsage:
    # copy on write: the tables and the inner dicts touched are copied once; `usage` stays as it was
    tables = {"macs": dict(usage.macs), "keys": dict(usage.keys), "addresses": dict(usage.addresses)}
    copied: set[tuple[str, str]] = set()

    def held(table: str, key: str) -> Held:
        if (table, key) not in copied:
            copied.add((table, key))
            tables[table][key] = dict(tables[table].get(key, {}))
        return tables[table][key]

    for kind, id in changed:
        if kind != schema.PORT:
            continue
        old, new = before.find(kind, id), after.find(kind, id)
        for table, key, value in _marks(old) if old is not None else ():
            counts = held(table, key)
            if counts.get(value, 0) <= 1:
                counts.pop(value, None)
            else:
                counts[value] -= 1
        for table, key, value in _marks(new) if new is not None else ():
            counts = held(table, key)
            counts[value] = counts.get(value, 0) + 1
    return PortUsage(**tables)


PORT_USAGE = register(Derived("port_usage", frozenset({schema.PORT}), _build, _update))
