"""The table numbers compiler modules write flows into, resolved once from the pipeline declaration."""

from __future__ import annotations

from typing import Final

from steerflow.pipeline.tables import table_id

INGRESS_PORT: Final = table_id("INGRESS_PORT")
PORT_SECURITY: Final = table_id("PORT_SECURITY")
CLASSIFY: Final = table_id("CLASSIFY")
SFC_DISPATCH: Final = table_id("SFC_DISPATCH")
SFC_BALANCE: Final = table_id("SFC_BALANCE")
SFC_ENCAP: Final = table_id("SFC_ENCAP")
SFC_DELIVER: Final = table_id("SFC_DELIVER")
SFC_RETURN: Final = table_id("SFC_RETURN")
SFC_RETURN_CT: Final = table_id("SFC_RETURN_CT")
SFC_METADATA: Final = table_id("SFC_METADATA")
SFC_BRANCH: Final = table_id("SFC_BRANCH")
ARP_RESPONDER: Final = table_id("ARP_RESPONDER")
ND_REPLY: Final = table_id("ND_REPLY")
L2_LOOKUP: Final = table_id("L2_LOOKUP")
EGRESS: Final = table_id("EGRESS")
