"""ofsim: an OpenFlow evaluator for the subset steerflow compiles to, with OVS 3.1's semantics.

`Switch(flows, groups).run(Packet.of(in_port=3, ...))` returns a `Trace`: the tables visited, the flows
(with cookies) and actions applied, the group choices and the packets that left. Unit and scenario tests
use it to say "enters port 3, leaves port 9 with label X" without a switch; `steerflow trace` prints it.
"""

from steerflow.ofsim.errors import (
    AmbiguousMatch,
    InvalidFlow,
    OfsimError,
    PipelineError,
    PipelineLoop,
    UnknownField,
)
from steerflow.ofsim.groups import selection_key
from steerflow.ofsim.match import overlapping
from steerflow.ofsim.packet import MplsLse, Nsh, Packet
from steerflow.ofsim.switch import MAX_DEPTH, MAX_LOOKUPS, Switch
from steerflow.ofsim.trace import Delivery, GroupChoice, Hop, Trace
from steerflow.ofsim.validate import OFPP_CONTROLLER, OFPP_IN_PORT, OFPP_LOCAL

__all__ = [
    "MAX_DEPTH",
    "MAX_LOOKUPS",
    "OFPP_CONTROLLER",
    "OFPP_IN_PORT",
    "OFPP_LOCAL",
    "AmbiguousMatch",
    "Delivery",
    "GroupChoice",
    "Hop",
    "InvalidFlow",
    "MplsLse",
    "Nsh",
    "OfsimError",
    "Packet",
    "PipelineError",
    "PipelineLoop",
    "Switch",
    "Trace",
    "UnknownField",
    "overlapping",
    "selection_key",
]
