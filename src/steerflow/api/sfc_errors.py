"""networking-sfc's API errors: upstream's class names (the NeutronError `type`), HTTP codes and messages."""

from __future__ import annotations

from steerflow.api.errors import BadRequest, Conflict, InUse, InvalidInput, NeutronError, NotFound

# The keys a port pair group's n-tuple may have, rendered the way upstream's message shows them.
SUPPORTED_PPG_TUPLE_MAPPING = {
    "source_ip_prefix": None,
    "destination_ip_prefix": None,
    "source_port_range_min": None,
    "source_port_range_max": None,
    "destination_port_range_min": None,
    "destination_port_range_max": None,
}
SUPPORTED_L7_PARAMETERS: dict[str, object] = {}

# --- port chain ---------------------------------------------------------------------------------------


class PortChainNotFound(NotFound):
    template = "Port Chain %(id)s not found."


class PortChainUnavailableChainId(InvalidInput):
    template = "Port Chain %(id)s no available chain id."


class PortChainFlowClassifierInConflict(InvalidInput):
    template = (
        "Flow Classifier %(fc_id)s conflicts with Flow Classifier %(pc_fc_id)s%(name)s in port chain "
        "%(pc_id)s%(overlap)s."
    )


class PortChainUnavailableLabel(Conflict):
    """steerflow's own: the MPLS label space (shared by every chain) is used up."""

    template = (
        "Port Chain %(id)s no available MPLS label: it needs %(needed)d new labels and only %(free)d "
        "of %(first)d-%(last)d are free."
    )


class PortChainChainIdInConflict(InvalidInput):
    template = "Chain id %(chain_id)s conflicts with Chain id in port chain %(pc_id)s."


class PortChainInconsistentCorrelations(InvalidInput):
    template = (
        "Port Chain attempted creation included a Port Pair Group (%(ppg)s) with a different protocol "
        "used as correlation type."
    )


class PortPairGroupNotSpecified(InvalidInput):
    template = "Port Pair Group is not specified in Port Chain."


class InvalidPortPairGroups(InUse):
    template = "Port Pair Group(s) %(port_pair_groups)s in use by Port Chain %(port_chain)s."


# --- port pair ----------------------------------------------------------------------------------------


class PortPairPortNotFound(NotFound):
    template = "Port Pair port %(id)s not found."


class PortPairIngressEgressDifferentHost(InvalidInput):
    template = "Port Pair ingress port %(ingress)s and egress port %(egress)s not in the same host."


class PortPairIngressNoHost(InvalidInput):
    template = "Port Pair ingress port %(ingress)s does not belong to a host."


class PortPairEgressNoHost(InvalidInput):
    template = "Port Pair egress port %(egress)s does not belong to a host."


class PortPairIngressEgressInUse(InvalidInput):
    template = (
        "Port Pair with ingress port %(ingress)s and egress port %(egress)s is already used by another "
        "Port Pair %(id)s."
    )


class PortPairNotFound(NotFound):
    template = "Port Pair %(id)s not found."


class PortPairInUse(InUse):
    template = "Port Pair %(id)s in use."


# --- port pair group ----------------------------------------------------------------------------------


class PortPairGroupNotFound(NotFound):
    template = "Port Pair Group %(id)s not found."


class PortPairGroupInUse(InUse):
    template = "Port Pair Group %(id)s in use."


class InconsistentCorrelations(InvalidInput):
    template = "Port Pair Group attempted creation included Port Pairs with inconsistent correlation types."


class PPGParametersInvalidNTupleMappingParameter(InvalidInput):
    template = (
        "Invalid Port Pair Group N-Tuple Mapping parameters: %(error_message)s. Supported PPG classifier "
        f"N-Tuple Mapping parameters are {SUPPORTED_PPG_TUPLE_MAPPING}."
    )


class MultiplePortPairsInTapPPGNotSupported(InvalidInput):
    template = "Multiple port pairs in Tap port-pair-group is not allowed."


class ConsecutiveTapPPGNotSupported(InvalidInput):
    template = "Consecutive Tap PPG in port-chain is not supported now."


# --- flow classifier ----------------------------------------------------------------------------------

FC_SUPPORTED_PROTOCOLS = ["tcp", "udp", "icmp"]
FC_SUPPORTED_ETHERTYPES = ["IPv4", "IPv6"]


class FlowClassifierNotFound(NotFound):
    template = "Flow Classifier %(id)s not found."


class FlowClassifierPortNotFound(NotFound):
    template = "Flow Classifier Neutron Port %(id)s not found."


class FlowClassifierInvalidPortRange(InvalidInput):
    template = (
        "Invalid IP protocol port range. min_port_range=%(port_range_min)s must be lesser or equal to "
        "max_port_range=%(port_range_max)s."
    )


class FlowClassifierInvalidPortValue(InvalidInput):
    template = "Flow Classifier has invalid port value %(port)s."


class FlowClassiferDuplicateInformation(InvalidInput):  # sic: upstream's spelling
    template = (
        "Flow Classifier has duplicate information: Neutron Port id %(port_id)s and ip prefix %(ip_prefix)s."
    )


class FlowClassifierInUse(InUse):
    template = "Flow Classifier %(id)s in use."


class FlowClassifierInConflict(InvalidInput):
    # upstream's sentence, then which classifier (by name) and what both match: what a user must change
    template = "Flow Classifier conflicts with another Flow Classifier %(id)s%(name)s%(overlap)s."


class FlowClassifierInvalidProtocol(InvalidInput):
    template = (
        "Flow Classifier does not support protocol %(protocol)s. Supported protocol values are %(values)s."
    )


class FlowClassifierInvalidEthertype(InvalidInput):
    template = (
        "Flow Classifier does not support ethertype %(ethertype)s. Supported ethertype values are %(values)s."
    )


class FlowClassifierProtocolRequiredWithPorts(InvalidInput):
    template = "IP protocol must be TCP or UDP, if port range is given."


class FlowClassifierIpPrefixFormatConflictWithEthertype(InvalidInput):
    template = "IP prefix %(ip_prefix)s format conflicts with ethertype %(ethertype)s."


class FlowClassifierInvalidL7Parameter(InvalidInput):
    template = (
        "Invalid Flow Classifier parameters: %(error_message)s. Supported flow classifier parameters are "
        f"{SUPPORTED_L7_PARAMETERS}."
    )


# --- service graph ------------------------------------------------------------------------------------


class InvalidUUID(InvalidInput):
    template = "An invalid UUID was specified: %(error_message)s. Make sure only valid UUIDs are provided."


class ServiceGraphInvalidPortChains(InUse):
    template = "Some of the Port Chain(s): %(port_chains)s, are already in use by a Service Graph."


class ServiceGraphPortChainInUse(InUse):
    template = "Port Chain %(id)s in use."


class ServiceGraphNotFound(NotFound):
    template = "Service Graph %(id)s not found."


class ServiceGraphLoopDetected(InvalidInput):
    template = "Service Graph defined contains at least one port chain loop."


class ServiceGraphInconsistentEncapsulation(InvalidInput):
    template = "Service Graph may only connect port-chains sharing the same correlation."


class ServiceGraphImpossibleBranching(InvalidInput):
    template = (
        "Service Graphs require source (branching) and destination port pair groups (their PPs) to have "
        "correlation enabled."
    )


class ServiceGraphFlowClassifierInConflict(InvalidInput):
    template = (
        "Flow Classifier %(fc1_id)s conflicts with Flow Classifier %(fc2_id)s on one of the branching "
        "points being created."
    )


class ServiceGraphPortChainInConflict(InvalidInput):
    template = "Port Chain %(pc_id)s is duplicated on one of the branching points being created."


# --- driver errors (upstream's OVS driver; steerflow raises only the BadRequest ones) -------------------


class SfcDriverError(NeutronError):
    status = 500
    template = "%(method)s failed."


class SfcException(NeutronError):
    """Base for SFC driver exceptions returned to the user."""


class SfcBadRequest(BadRequest, SfcException):
    template = "%(message)s"


class SfcNoSubnetGateway(SfcDriverError):
    template = "There is no %(type)s of ip prefix %(cidr)s."


class SfcNoSuchSubnet(SfcDriverError):
    template = "There is no %(type)s of %(cidr)s."


class FlowClassifierInvalid(SfcDriverError):
    template = "There is no %(type)s assigned."


class FlowClassifierDriverError(NeutronError):
    status = 500
    template = "%(method)s failed."


class FlowClassifierException(NeutronError):
    """Base for flow classifier driver exceptions returned to the user."""


class FlowClassifierBadRequest(BadRequest, FlowClassifierException):
    template = "%(message)s"


class PortPairUnavailableKey(Conflict):
    template = "No port pair key is free: at most %(limit)d port pairs can exist."


def conflict_detail(name: str, overlap: str) -> dict[str, str]:
    """The parts a conflict message adds to upstream's: the other classifier's name, what both match."""
    return {"name": f" ({name!r})" if name else "", "overlap": f": both match {overlap}"}


# --- classifications and classification groups (neutron-classifier's shape, steerflow's messages) ------


class ClassificationNotFound(NotFound):
    template = "Classification %(id)s not found."


class ClassificationGroupNotFound(NotFound):
    template = "Classification Group %(id)s not found."


class ClassificationInUse(InUse):
    template = "Classification %(id)s in use by Classification Group %(group)s."


class ClassificationGroupInUse(InUse):
    template = "Classification Group %(id)s in use by %(user)s."


class InvalidClassificationDefinition(InvalidInput):
    template = "Invalid %(c_type)s classification definition: %(reason)s."


class InvalidClassificationGroup(InvalidInput):
    template = "Invalid Classification Group: %(reason)s."


class FlowClassifierClassificationGroupConflict(InvalidInput):
    template = (
        "Flow Classifier fields contradict every alternative of Classification Group %(group)s: "
        "it would match no packet."
    )


class FlowClassifierClassificationGroupTooLarge(InvalidInput):
    template = "Flow Classifier with Classification Group %(group)s: %(reason)s."
