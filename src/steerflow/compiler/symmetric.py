"""Symmetric chains: the reverse direction as a chain of its own, crossing the same instances backwards.

A symmetric chain (`chain_parameters.symmetric`) is compiled twice: as itself, and as its reverse, a
`Chain` whose classifiers are the forward ones reversed (`reversed_classifier`: the reverse of "from
client to server port 7" is "from server port 7 to client"), whose hops are the forward hops in
reverse order under the chain's reverse labels, and whose instances enter and leave the function the
other way round: the reverse traffic enters a function at its EGRESS port and comes back from its
INGRESS port (networking-sfc's semantics for symmetric chains). The chain modules then need nothing
special, because a reversed instance differs from the forward one in everything that keys a flow:

- its delivery key (reg4, and the Geneve VNI reaching it on its chassis) has `REVERSE_KEY_BIT` set;
- its returns come from the other port of the pair (and an aware function's header carries the
  reverse label), so they never collide with the forward returns.

The reverse path must meet the SAME instance per hop as the forward flow: both directions hash a
symmetric field set (`balance.hash_fields(..., symmetric=True)`), and a reversed hop lists the same
instance ids and weights, so its slot -> instance table is the forward one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from steerflow.compiler.chain_view import Chain, Hop, Instance
from steerflow.compiler.classify import reversed_classifier

LOG = logging.getLogger(__name__)

# Pair keys are allocated lowest first below 2**23; the reverse direction of instance k is k + 2**22,
# which keeps its Geneve VNI (2**23 + key) within 24 bits. A key at or above the bit cannot be reversed.
REVERSE_KEY_BIT = 1 << 22


def with_reverses(chains: Iterable[Chain]) -> tuple[Chain, ...]:
    """The chains, then the reverse of each symmetric one (after all forward chains: where a port's
    returns are ambiguous, the forward direction claims them first)."""
    forward = tuple(chains)
    reverses = (reverse_chain(c) for c in forward)
    return (*forward, *(r for r in reverses if r is not None))


def reverse_chain(chain: Chain) -> Chain | None:
    """The reverse direction of a symmetric chain; None if it has none (not symmetric, no reverse
    labels yet, or an instance whose key cannot be reversed)."""
    if not chain.symmetric or chain.reverse or not chain.reverse_exit_label:
        return None
    if len(chain.reverse_labels) != len(chain.hops):
        return None
    too_big = [i.id for h in chain.hops for i in h.instances if i.key >= REVERSE_KEY_BIT]
    if too_big:
        LOG.error("symmetric chain %s has no reverse path: pair keys of %s too large", chain.id, too_big)
        return None
    backwards = list(zip(chain.hops, chain.reverse_labels, strict=True))[::-1]
    hops = tuple(_reverse_hop(hop, label, pos) for pos, (hop, label) in enumerate(backwards))
    return replace(
        chain,
        classifiers=tuple(reversed_classifier(fc) for fc in chain.classifiers),
        hops=hops,
        exit_label=chain.reverse_exit_label,
        reverse_labels=(),
        reverse_exit_label=0,
        reverse=True,
        branches=(),  # a graph links forward directions only
    )


def _reverse_hop(hop: Hop, label: int, position: int) -> Hop:
    # Same instance order, ids and weights: the balance table (slot -> instance) is the forward one.
    return replace(hop, label=label, position=position, instances=tuple(map(reverse_instance, hop.instances)))


def reverse_instance(inst: Instance) -> Instance:
    """The instance as the reverse direction sees it: entered at its egress, left at its ingress."""
    return replace(inst, key=inst.key | REVERSE_KEY_BIT, ingress=inst.egress, egress=inst.ingress)
