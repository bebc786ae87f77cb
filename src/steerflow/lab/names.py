"""The lab's naming scheme and address plan: every name a lab instance creates derives from its prefix."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Documentation ranges only (RFC 5737 / RFC 3849): the lab must never look like, or route to, a real network.
UNDERLAY_NET = ipaddress.ip_network("198.51.100.0/24")
TENANT_NET4 = ipaddress.ip_network("203.0.113.0/24")
TENANT_NET6 = ipaddress.ip_network("2001:db8::/32")

# Short enough that the longest interface name (prefix + "v" + 4 digits + 1 char) fits in Linux's 15.
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,7}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
MAX_INDEX = 9999


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix):
        raise ValueError(
            f"lab prefix {prefix!r} must match {_PREFIX_RE.pattern} (it prefixes interface names)"
        )
    return prefix


def check_name(kind: str, name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"{kind} name {name!r} must match {_NAME_RE.pattern}")
    return name


def check_mac(mac: str) -> str:
    low = mac.lower()
    if not _MAC_RE.match(low) or int(low[:2], 16) & 1:
        raise ValueError(f"{mac!r} is not a unicast MAC address")
    return low


def check_underlay_ip(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    if addr not in UNDERLAY_NET or addr in (UNDERLAY_NET.network_address, UNDERLAY_NET.broadcast_address):
        raise ValueError(f"underlay address {ip} must be a host of {UNDERLAY_NET}")
    return str(addr)


def check_tenant_cidr(cidr: str, version: int) -> str:
    """A host address with its prefix length, e.g. 203.0.113.5/24, inside the tenant documentation range."""
    iface = ipaddress.ip_interface(cidr)
    allowed = TENANT_NET4 if version == 4 else TENANT_NET6
    if iface.version != version or not iface.network.subnet_of(allowed):  # type: ignore[arg-type]
        raise ValueError(f"tenant address {cidr} must be an IPv{version} address inside {allowed}")
    return str(iface)


@dataclass(frozen=True)
class LabNames:
    """Names of one lab instance: namespaces are `<prefix>-<name>`, links `<prefix>` + a kind + an index."""

    prefix: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    @property
    def underlay_bridge(self) -> str:
        return f"{self.prefix}-u"

    def netns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def chassis_uplink(self, index: int) -> tuple[str, str]:
        """(root-namespace end on the underlay bridge, end inside the chassis owned by br-phy)."""
        _check_index(index)
        return f"{self.prefix}c{index}u", f"{self.prefix}c{index}p"

    def vm_link(self, index: int) -> tuple[str, str]:
        """(end inside the VM, end inside the chassis plugged into br-int)."""
        _check_index(index)
        return f"{self.prefix}v{index}e", f"{self.prefix}v{index}p"

    def owns_netns(self, netns: str) -> bool:
        return netns.startswith(f"{self.prefix}-")

    def owns_link(self, link: str) -> bool:
        # Exact shapes, not a bare startswith: prefix "sf1" must never claim prefix "sf1c"'s links.
        return re.fullmatch(rf"{re.escape(self.prefix)}(-u|c\d+[up]|v\d+[ep])", link) is not None


def _check_index(index: int) -> None:
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"index {index} out of range 0..{MAX_INDEX}")
