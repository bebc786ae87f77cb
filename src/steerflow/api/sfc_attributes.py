"""networking-sfc's attribute maps: the five resources' attributes, defaults, converters and validators.

The maps keep upstream's attribute order (Neutron converts in map order, which decides which error a
request with several bad attributes gets). Where upstream crashes (500) on a malformed value, these
converters answer a 400 instead; see docs/api-differences.md.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Final

from steerflow.api import attributes as attr
from steerflow.api import sfc_errors as err
from steerflow.api.attributes import Attribute, AttributeMap, KeySpec
from steerflow.api.errors import HTTPBadRequest
from steerflow.model import schema
from steerflow.model.correlations import installed_correlations, is_installed, one_of
from steerflow.model.sfc import N_TUPLE_KEYS, LbField
from steerflow.nbdb.health import DEFAULT_FAILURES, DEFAULT_INTERVAL_MS

MAX_CHAIN_ID: Final = 65535
# A chain's MPLS labels (`schema.LABEL_ATTRIBUTES`): 0-15 are reserved label values (RFC 3032), 20 bits.
MIN_LABEL: Final = 16
MAX_PAIR_KEY: Final = (1 << 23) - 1
MAX_LABEL: Final = (1 << 20) - 1
DEFAULT_CHAIN_PARAMETERS: Final = {"correlation": "mpls", "symmetric": False}
DEFAULT_SF_PARAMETERS: Final = {"correlation": None, "weight": 1}
DEFAULT_PPG_N_TUPLE: Final[dict[str, dict[str, Any]]] = {"ingress_n_tuple": {}, "egress_n_tuple": {}}
DEFAULT_PPG_PARAMETERS: Final = {"lb_fields": [], "ppg_n_tuple_mapping": DEFAULT_PPG_N_TUPLE}
SUPPORTED_LB_FIELDS: Final = [str(f) for f in LbField]
N_TUPLE_SIDES: Final = ("ingress_n_tuple", "egress_n_tuple")


def _common(name_default: Any = "", name_converter: attr.Converter | None = None) -> list[Attribute]:
    return [
        attr.id_attribute(),
        attr.name_attribute(name_default, name_converter),
        attr.description_attribute(name_default, name_converter),
        *attr.project_attributes(),
    ]


def _uuid_list(name: str, **kw: Any) -> Attribute:
    return Attribute(name, validator=attr.validate_uuid_list, filter_converter=attr.identity, **kw)


def correlation_validator(*, null: bool) -> attr.Validator:
    """A correlation is the name of an installed encapsulation driver (`model.correlations`), not a
    closed list: upstream's {mpls, nsh} plus any third party's (`null`: or None, a port pair's "unaware").
    The reason lists the valid values, upstream's class and code (400 HTTPBadRequest) stay."""

    def validate(data: Any) -> str | None:
        if (null and data is None) or is_installed(data):
            return None
        valid = one_of(installed_correlations(), null=null)
        return f"{data} is not in valid_values: correlation must be one of {valid}"

    return validate


# --- port pair ------------------------------------------------------------------------------------

SF_PARAMETER_SPECS: Final = {
    "correlation": KeySpec(validator=correlation_validator(null=True)),
    "weight": KeySpec(converter=attr.convert_to_int, validator=attr.validate_non_negative),
}


def normalize_sf_parameters(value: Any) -> Any:
    """null/{} -> the full default; a partial dict stays partial (upstream does not complete it)."""
    return value if value else copy.deepcopy(DEFAULT_SF_PARAMETERS)


PORT_PAIR: Final = AttributeMap(
    schema.PORT_PAIR,
    [
        *_common(),
        Attribute("ingress", validator=attr.validate_uuid),
        Attribute("egress", validator=attr.validate_uuid),
        Attribute(
            "service_function_parameters",
            default=None,
            converter=normalize_sf_parameters,
            validator=attr.dict_validator(SF_PARAMETER_SPECS),
            normalize=attr.dict_items_converter(SF_PARAMETER_SPECS),
            filter_converter=attr.identity,
        ),
        # internal: the instance's number on the wire (Geneve delivery VNI), allocated once
        Attribute(schema.PAIR_KEY, allow_post=False, default=None, is_visible=False),
    ],
)

# --- port pair group ------------------------------------------------------------------------------

# steerflow's extension (docs/health.md): how agents check the group's instances, and what a hop with no
# healthy instance does. Neither is filled in when absent, so upstream-shaped bodies stay so.
HEALTH_CHECK_TYPES: Final = ("none", "datapath", "icmp", "arp", "tcp")
FAIL_MODES: Final = ("open", "closed")
HEALTH_CHECK_DEFAULTS: Final = {"interval_ms": DEFAULT_INTERVAL_MS, "failures": DEFAULT_FAILURES}
HEALTH_CHECK_RANGES: Final = {"interval_ms": (50, 60000), "failures": (1, 100), "tcp_port": (1, 65535)}


def convert_health_check(value: Any) -> Any:
    """null -> no check; a dict gets the default interval and failure count, its numbers as ints
    (what cannot convert is left for `validate_health_check` to report)."""
    if value is None:
        return {"type": "none"}
    if not isinstance(value, dict):
        return value
    out = {**HEALTH_CHECK_DEFAULTS, **value}
    for key in HEALTH_CHECK_RANGES:
        if key in out:
            with contextlib.suppress(ValueError, TypeError, OverflowError):
                out[key] = int(out[key])
    return out


def validate_health_check(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"health_check '{value}' is not a dictionary"
    unknown = sorted(str(k) for k in value if k not in ("type", *HEALTH_CHECK_RANGES))
    if unknown:
        return f"health_check: unknown keys {', '.join(unknown)}"
    if value.get("type") not in HEALTH_CHECK_TYPES:
        return f"health_check type {value.get('type')} is not in valid_values {list(HEALTH_CHECK_TYPES)}"
    for key, (low, high) in HEALTH_CHECK_RANGES.items():
        number = value.get(key)
        if key in value and (type(number) is not int or not low <= number <= high):
            return f"health_check {key} '{number}' must be an integer from {low} to {high}"
    if (value["type"] == "tcp") != ("tcp_port" in value):
        return "health_check tcp_port is required with type tcp and only then"
    return None


PPG_PARAMETER_SPECS: Final = {
    "lb_fields": KeySpec(validator=attr.allowed_values_list_validator(SUPPORTED_LB_FIELDS)),
    "ppg_n_tuple_mapping": KeySpec(converter=attr.convert_none_to_empty_dict),
    "health_check": KeySpec(converter=convert_health_check, validator=validate_health_check),
    "fail_mode": KeySpec(validator=attr.values_validator(FAIL_MODES)),
}


def _bad_n_tuple(message: str) -> err.PPGParametersInvalidNTupleMappingParameter:
    return err.PPGParametersInvalidNTupleMappingParameter(error_message=message)


def _check_n_tuple_keys(mapping: Any) -> None:
    if not isinstance(mapping, dict):
        raise _bad_n_tuple(f"'{mapping}' is not a dictionary")
    for side, n_tuple in mapping.items():
        if side not in N_TUPLE_SIDES:
            raise _bad_n_tuple(f"Unknown key {side}")
        if n_tuple is not None and not isinstance(n_tuple, dict):
            raise _bad_n_tuple(f"{side} '{n_tuple}' is not a dictionary")
        for key in n_tuple or {}:
            if key not in N_TUPLE_KEYS:
                raise _bad_n_tuple(f"Unknown key {key}")


def normalize_ppg_parameters(value: Any) -> Any:
    """null/{} -> the full default; missing top-level keys filled (not the inner n-tuples); keys checked."""
    if not value:
        return copy.deepcopy(DEFAULT_PPG_PARAMETERS)
    if not isinstance(value, dict):
        return value  # the dict validator reports it
    value = dict(value)
    value.setdefault("lb_fields", [])
    value.setdefault("ppg_n_tuple_mapping", copy.deepcopy(DEFAULT_PPG_N_TUPLE))
    value["ppg_n_tuple_mapping"] = attr.convert_none_to_empty_dict(value["ppg_n_tuple_mapping"])
    _check_n_tuple_keys(value["ppg_n_tuple_mapping"])
    return value


def _convert_n_tuple(n_tuple: dict[str, Any]) -> dict[str, Any]:
    out = dict(n_tuple)
    for key, val in n_tuple.items():
        if key.endswith("_ip_prefix"):
            reason = attr.validate_subnet_or_none(val)
            if reason:
                raise HTTPBadRequest(f"Invalid input for port_pair_group_parameters. Reason: {reason}.")
        else:
            out[key] = normalize_port_value(val)
    return out


def convert_ppg_parameters(value: dict[str, Any]) -> dict[str, Any]:
    """After validation: n-tuple prefixes checked and port values converted ("80" -> 80)."""
    mapping = {
        side: {} if n_tuple is None else _convert_n_tuple(n_tuple)
        for side, n_tuple in value["ppg_n_tuple_mapping"].items()
    }
    return {**value, "ppg_n_tuple_mapping": mapping}


PORT_PAIR_GROUP: Final = AttributeMap(
    schema.PORT_PAIR_GROUP,
    [
        attr.id_attribute(),
        Attribute("group_id", allow_post=False, allow_put=False, default=None, converter=attr.convert_to_int),
        *_common()[1:],
        _uuid_list("port_pairs", allow_put=True, default=None, converter=attr.convert_none_to_empty_list),
        Attribute(
            "port_pair_group_parameters",
            default=None,
            converter=normalize_ppg_parameters,
            validator=attr.dict_validator(PPG_PARAMETER_SPECS),
            normalize=attr.compose(attr.dict_items_converter(PPG_PARAMETER_SPECS), convert_ppg_parameters),
            filter_converter=attr.identity,
        ),
        Attribute("tap_enabled", default=False, converter=attr.convert_to_boolean),
    ],
)

# --- port chain -----------------------------------------------------------------------------------

NSH_MD_TYPES: Final = (1, 2)
CHAIN_PARAMETER_SPECS: Final = {
    "correlation": KeySpec(validator=correlation_validator(null=False)),
    "symmetric": KeySpec(converter=attr.convert_to_boolean),
    # steerflow's extension: NSH metadata type (never filled in, so upstream-shaped bodies stay so)
    "nsh_md_type": KeySpec(converter=attr.convert_to_int, validator=attr.values_validator(NSH_MD_TYPES)),
}


def normalize_port_pair_groups(value: Any) -> list[Any]:
    groups = attr.convert_to_list(value)
    if not groups:
        raise err.PortPairGroupNotSpecified()
    return groups


def normalize_chain_parameters(value: Any) -> Any:
    """null/{} -> the default; missing keys are filled in."""
    if not value:
        return copy.deepcopy(DEFAULT_CHAIN_PARAMETERS)
    if not isinstance(value, dict):
        return value  # the dict validator reports it
    return {**DEFAULT_CHAIN_PARAMETERS, **value}


PORT_CHAIN: Final = AttributeMap(
    schema.PORT_CHAIN,
    [
        attr.id_attribute(),
        Attribute(
            "chain_id",
            default=0,
            converter=attr.convert_to_int,
            validator=attr.range_validator(0, MAX_CHAIN_ID),
        ),
        *_common()[1:],
        _uuid_list("port_pair_groups", allow_put=True, converter=normalize_port_pair_groups),
        _uuid_list("flow_classifiers", allow_put=True, default=None, converter=attr.convert_to_list),
        Attribute(
            "chain_parameters",
            default=None,
            converter=normalize_chain_parameters,
            validator=attr.dict_validator(CHAIN_PARAMETER_SPECS),
            normalize=attr.dict_items_converter(CHAIN_PARAMETER_SPECS),
            filter_converter=attr.identity,
        ),
        # Dataplane keys allocated by the NB: stored with the chain, never shown, never set by a client.
        Attribute(schema.HOP_LABELS, allow_post=False, default=None, is_visible=False),
        Attribute(schema.EXIT_LABEL, allow_post=False, default=None, is_visible=False),
        Attribute(schema.REVERSE_HOP_LABELS, allow_post=False, default=None, is_visible=False),
        Attribute(schema.REVERSE_EXIT_LABEL, allow_post=False, default=None, is_visible=False),
    ],
)

# --- flow classifier ------------------------------------------------------------------------------


def normalize_protocol(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in err.FC_SUPPORTED_PROTOCOLS:
        return value.lower()
    raise err.FlowClassifierInvalidProtocol(protocol=value, values=err.FC_SUPPORTED_PROTOCOLS)


def normalize_ethertype(value: Any) -> str:
    if value is None:
        return "IPv4"
    if isinstance(value, str):
        for ethertype in err.FC_SUPPORTED_ETHERTYPES:
            if value.lower() == ethertype.lower():
                return ethertype
    raise err.FlowClassifierInvalidEthertype(ethertype=value, values=err.FC_SUPPORTED_ETHERTYPES)


def normalize_port_value(port: Any) -> int | None:
    """An L4 port 0-65535 (strings converted), None kept."""
    if port is None:
        return None
    try:
        value = int(port)
    except (ValueError, TypeError, OverflowError) as exc:
        raise err.FlowClassifierInvalidPortValue(port=port) from exc
    if isinstance(port, bool) or not 0 <= value <= 65535:
        raise err.FlowClassifierInvalidPortValue(port=port)
    return value


def normalize_l7_parameters(value: Any) -> Any:
    """Only an empty dict (or null) is accepted: networking-sfc defines no L7 parameter."""
    value = attr.convert_none_to_empty_dict(value)
    if isinstance(value, dict):
        for key in value:
            if key not in err.SUPPORTED_L7_PARAMETERS:
                raise err.FlowClassifierInvalidL7Parameter(error_message=f"Unknown key {key}.")
    return value


def _fc_port(name: str) -> Attribute:
    return Attribute(name, default=None, converter=normalize_port_value)


FLOW_CLASSIFIER: Final = AttributeMap(
    schema.FLOW_CLASSIFIER,
    [
        *_common(None, attr.convert_none_to_empty_string),
        Attribute("ethertype", default=None, converter=normalize_ethertype),
        Attribute("protocol", default=None, converter=normalize_protocol),
        _fc_port("source_port_range_min"),
        _fc_port("source_port_range_max"),
        _fc_port("destination_port_range_min"),
        _fc_port("destination_port_range_max"),
        Attribute("source_ip_prefix", default=None, validator=attr.validate_subnet_or_none),
        Attribute("destination_ip_prefix", default=None, validator=attr.validate_subnet_or_none),
        Attribute("logical_source_port", default=None, validator=attr.validate_uuid_or_none),
        Attribute("logical_destination_port", default=None, validator=attr.validate_uuid_or_none),
        Attribute(
            "l7_parameters",
            default=None,
            converter=normalize_l7_parameters,
            validator=attr.dict_validator(),
            filter_converter=attr.identity,
        ),
        # steerflow's extension (neutron-classifier's groups): ANDed with the fields above
        Attribute("classification_group_id", default=None, validator=attr.validate_uuid_or_none),
        # internal: the group's terms, copied at creation (the group is immutable while referenced)
        Attribute(schema.MATCH_TERMS, allow_post=False, default=None, is_visible=False),
    ],
)

# --- service graph --------------------------------------------------------------------------------


def _invalid_uuid(message: str) -> err.InvalidUUID:
    return err.InvalidUUID(error_message=message)


def normalize_service_graph(value: Any) -> Any:
    """{src chain uuid: [dst chain uuid, ...]}; any non-uuid key or value is an InvalidUUID."""
    value = attr.convert_none_to_empty_dict(value)
    if not isinstance(value, dict):
        return value  # the dict validator reports it
    for src, dsts in value.items():
        if not attr.is_uuid_like(src):
            raise _invalid_uuid(f"UUID of source Port-Chain is invalid: {src}")
        if not isinstance(dsts, list):
            raise _invalid_uuid(f"destination Port-Chains of {src} must be a list of UUIDs, not {dsts!r}")
        for dst in dsts:
            if not attr.is_uuid_like(dst):
                raise _invalid_uuid(f"UUID of destination Port-Chain is invalid: {dst}")
    return value


SERVICE_GRAPH: Final = AttributeMap(
    schema.SERVICE_GRAPH,
    [
        *_common(),
        Attribute(
            "port_chains",
            converter=normalize_service_graph,
            validator=attr.dict_validator(),
            filter_converter=attr.identity,
        ),
    ],
)
