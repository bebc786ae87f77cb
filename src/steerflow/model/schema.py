"""The NB schema: every kind and every hidden attribute of the northbound store, spelled here only.

The API writes these names, the agent and the compiler read them, the tests' builders (`tests/builders`)
build documents with them; `tests/unit/test_nb_schema.py` fails on a string literal equal to one of them
anywhere else. A kind is also the API's member name of its resource (`{"port_pair": {...}}`): the REST
collections and paths are its plural.
"""

from __future__ import annotations

from typing import Final

# --- kinds the API writes (desired state) ------------------------------------------------------------
NETWORK: Final = "network"
SUBNET: Final = "subnet"
PORT: Final = "port"
PORT_PAIR: Final = "port_pair"
PORT_PAIR_GROUP: Final = "port_pair_group"
PORT_CHAIN: Final = "port_chain"
FLOW_CLASSIFIER: Final = "flow_classifier"
SERVICE_GRAPH: Final = "service_graph"
# neutron-classifier's Common Classification Framework: reusable matches a flow classifier may reference
CLASSIFICATION: Final = "classification"
CLASSIFICATION_GROUP: Final = "classification_group"

# --- kinds the agents write ---------------------------------------------------------------------------
# A hypervisor running an agent. A `port_binding` or `chassis_status` document names its chassis under
# this same name.
CHASSIS: Final = "chassis"
PORT_BINDING: Final = "port_binding"  # where a port is bound (its id is the port's id)
CHASSIS_STATUS: Final = "chassis_status"  # an agent's report: what its switch holds (`nbdb.status`)
# an agent's per-hop packet counters (`nbdb.counters`): a side map of the store (no object, no revision);
# older agents wrote them as documents of this kind, still read
CHASSIS_COUNTERS: Final = "chassis_counters"
BEATS: Final = "beats"  # the side map of heartbeats: chassis -> its agent's last beat (`store.beat`)
# An agent's health report on one function instance on its chassis (its id is the port pair's id):
# {"chassis": name, "healthy": bool}; the compiler leaves unhealthy instances out of their group's balance
FUNCTION_HEALTH: Final = "function_health"

# --- what the API writes with every write --------------------------------------------------------------
# One document (id `CONCERNS_ID`) rewritten in the same commit as each API write: the chassis whose flows
# the write can change, {CHASSIS: [names]}, or {ALL_CHASSIS: true} when the API cannot tell
# (`nbdb.concerns`); the history keeps each revision's value. Not desired state: no agent compiles for it.
CONCERNS: Final = "concerns"
CONCERNS_ID: Final = "last"
ALL_CHASSIS: Final = "all_chassis"

# --- the store's own metadata -------------------------------------------------------------------------
# One document (id `NB_META_ID`) saying which format the documents are in: {SCHEMA_VERSION: n}
# (`nbdb.migrate`); a store without it is in version 1, the format before versions were recorded.
NB_META: Final = "nb_meta"
NB_META_ID: Final = "schema"
SCHEMA_VERSION: Final = "schema_version"

CORE_KINDS: Final = (NETWORK, SUBNET, PORT, CHASSIS)
SFC_KINDS: Final = (PORT_PAIR, PORT_PAIR_GROUP, PORT_CHAIN, FLOW_CLASSIFIER, SERVICE_GRAPH)
CLASSIFIER_KINDS: Final = (CLASSIFICATION, CLASSIFICATION_GROUP)
AGENT_KINDS: Final = (CHASSIS, PORT_BINDING, CHASSIS_STATUS, CHASSIS_COUNTERS, FUNCTION_HEALTH)
KINDS: Final = frozenset({*CORE_KINDS, *SFC_KINDS, *CLASSIFIER_KINDS, *AGENT_KINDS, NB_META, CONCERNS})

# --- attributes the API allocates for the dataplane ---------------------------------------------------
# A network's Geneve VNI (shown read-only, as Neutron's provider extension does).
SEGMENTATION_ID: Final = "provider:segmentation_id"
TUNNEL_KEY: Final = "tunnel_key"  # hidden: a port's number inside its network (pipeline registers)
PAIR_KEY: Final = "pair_key"  # hidden: a port pair's number on the wire (Geneve VNI 2**23 + key)
# A chain's MPLS labels, hidden: one per port pair group ({group id: label}) and one meaning "done";
# symmetric chains have the same for the reverse direction.
HOP_LABELS: Final = "hop_labels"
EXIT_LABEL: Final = "exit_label"
REVERSE_HOP_LABELS: Final = "reverse_hop_labels"
REVERSE_EXIT_LABEL: Final = "reverse_exit_label"

# hidden: the disjunction of match terms (`model.classification`) of a classification group, and a copy
# of it on each flow classifier that references the group (what the compiler and conflicts read)
MATCH_TERMS: Final = "match_terms"

LABEL_ATTRIBUTES: Final = frozenset({HOP_LABELS, EXIT_LABEL, REVERSE_HOP_LABELS, REVERSE_EXIT_LABEL})
HIDDEN_ATTRIBUTES: Final = frozenset({TUNNEL_KEY, PAIR_KEY, MATCH_TERMS, *LABEL_ATTRIBUTES})
ALLOCATED_ATTRIBUTES: Final = frozenset({SEGMENTATION_ID, *HIDDEN_ATTRIBUTES})

# what nothing else may spell
NAMES: Final = frozenset({*KINDS, *ALLOCATED_ATTRIBUTES, SCHEMA_VERSION, ALL_CHASSIS})
