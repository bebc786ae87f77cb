"""The NB data model (pure, no I/O): the schema (kinds, hidden attributes) and typed values read from it."""

from steerflow.model.core import Chassis, ChassisName
from steerflow.model.sfc import (
    DEFAULT_CORRELATION,
    Correlation,
    Ethertype,
    FlowClassifier,
    FlowClassifierId,
    LbField,
    PortId,
    PortPair,
    PortRange,
    ProjectId,
    Protocol,
    ServiceFunctionParameters,
)

__all__ = [
    "DEFAULT_CORRELATION",
    "Chassis",
    "ChassisName",
    "Correlation",
    "Ethertype",
    "FlowClassifier",
    "FlowClassifierId",
    "LbField",
    "PortId",
    "PortPair",
    "PortRange",
    "ProjectId",
    "Protocol",
    "ServiceFunctionParameters",
]
