"""The NB data model (pure, no I/O): the schema (kinds, hidden attributes) and typed values read from it."""

from steerflow.model.core import Chassis, ChassisName
from steerflow.model.sfc import (
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
