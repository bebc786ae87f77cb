"""The health probe's marker: the addresses an agent's probes carry, which br-int hands to the agent.

An agent probes a function instance (docs/health.md) by sending a frame into its ingress port; what comes
back from a service port from or to `PROBE_MAC` (the forwarded probe, or a function's answer to an
ARP/ICMP/TCP check) goes to the agent as a packet-in and never to tenants. The MAC is locally
administered and the forwarded probe's addresses link-local (RFC 3927), so none belongs to a port.
"""

from __future__ import annotations

from typing import Final

PROBE_MAC: Final = "02:5f:68:63:00:01"  # "_hc": the source of every probe, the destination of answers
PROBE_DST_MAC: Final = "02:5f:68:63:00:02"  # a forwarded probe's destination (unicast: forwarded)
PROBE_IPV4: Final = "169.254.95.1"  # a forwarded probe's source
PROBE_DST_IPV4: Final = "169.254.95.2"  # a forwarded probe's destination
PROBE_UDP_PORT: Final = 3784  # a forwarded probe's UDP ports (BFD's single-hop port: a liveness probe)
