"""What the simulator raises: compiler bugs OVS would reject or mishandle, and loops."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from steerflow.flows.types import Flow
    from steerflow.ofsim.trace import Trace


class OfsimError(Exception):
    """Base class of every simulator error."""


class UnknownField(OfsimError, KeyError):
    """A field name neither os-ken nor ovs-ofctl knows."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown field"


class InvalidFlow(OfsimError):
    """A flow or group OVS would refuse at install time (the OpenFlow error is named in the message)."""


class PipelineError(OfsimError):
    """The packet reached an action OVS would execute wrongly or refuse (e.g. pop_mpls to the wrong type).

    `trace` is the trace up to the failing action, for debugging."""

    def __init__(self, message: str, trace: Trace | None = None) -> None:
        super().__init__(message)
        self.trace = trace


class AmbiguousMatch(PipelineError):
    """Two flows of the same priority in one table both match a packet: OVS picks either. A compiler bug."""

    def __init__(self, table: int, flows: tuple[Flow, ...]) -> None:
        self.table = table
        self.flows = flows
        listing = "\n  ".join(str(f) for f in flows)
        super().__init__(f"table {table}: {len(flows)} flows of equal priority match:\n  {listing}")


class PipelineLoop(PipelineError):
    """Resubmits nested deeper than OVS allows (64) or more than 4096 table lookups for one packet."""
