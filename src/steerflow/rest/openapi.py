"""The OpenAPI document of the API, derived from each handler's Neutron attribute map."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from steerflow.api import attributes as attrs
from steerflow.api.resource import ResourceHandler
from steerflow.api.sfc_attributes import (
    FAIL_MODES,
    HEALTH_CHECK_RANGES,
    HEALTH_CHECK_TYPES,
    MAX_CHAIN_ID,
    NSH_MD_TYPES,
    SUPPORTED_LB_FIELDS,
)
from steerflow.api.sfc_errors import FC_SUPPORTED_ETHERTYPES, FC_SUPPORTED_PROTOCOLS
from steerflow.model import classification as cls_terms
from steerflow.model import schema
from steerflow.model.correlations import installed_correlations
from steerflow.nbdb.api import JsonDict
from steerflow.rest.routes import DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS, statistics_path

UUID: JsonDict = {"type": "string", "format": "uuid"}
ERROR_REF: JsonDict = {"$ref": "#/components/schemas/NeutronError"}

# Schemas of attributes whose validator says more than their default does.
_BY_VALIDATOR: list[tuple[Callable[..., Any], JsonDict]] = [
    (attrs.validate_uuid, UUID),
    (attrs.validate_uuid_or_none, {"type": ["string", "null"], "format": "uuid"}),
    (attrs.validate_uuid_list, {"type": "array", "items": UUID}),
    (attrs.validate_subnet, {"type": "string", "description": "CIDR"}),
    (attrs.validate_subnet_or_none, {"type": ["string", "null"], "description": "CIDR"}),
    (attrs.validate_ip_address, {"type": "string", "description": "IP address"}),
    (attrs.validate_mac_address, {"type": "string", "description": "MAC address"}),
    (attrs.validate_boolean, {"type": "boolean"}),
]

_BY_DEFAULT_TYPE: list[tuple[type, JsonDict]] = [
    (bool, {"type": "boolean"}),
    (int, {"type": "integer"}),
    (str, {"type": "string"}),
    (list, {"type": "array"}),
    (dict, {"type": "object"}),
]


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# What convert_to_boolean takes (oslo's strict bool_from_string): a boolean, 0 or 1, or a spelling.
BOOLEAN_INPUT: JsonDict = {
    "anyOf": [
        {"type": "boolean"},
        {"enum": [0, 1]},
        {
            "type": "string",
            "pattern": "^\\s*("
            + "|".join(_any_case(w) for w in sorted(attrs._TRUE_STRINGS | attrs._FALSE_STRINGS))
            + ")\\s*$",
        },
    ]
}


DIGITS: JsonDict = {"type": "string", "pattern": "^\\s*[+-]?[0-9]+\\s*$", "description": "digits"}


def lenient_int(lo: int | None = None, hi: int | None = None, values: Sequence[int] = ()) -> JsonDict:
    """An integer as Neutron's convert_to_int takes it, int() of anything: a number (truncated), a digit
    string, a boolean; then the validator's range [lo, hi] or its `values` (positive ones)."""
    if values:
        numbers: list[JsonDict] = [
            {"type": "number", "minimum": v, "exclusiveMaximum": v + 1} for v in values
        ]
        fits = [n in values for n in (0, 1)]
    else:
        number: JsonDict = {"type": "number"}
        if lo is not None:
            number["exclusiveMinimum"] = lo - 1
        if hi is not None:
            number["exclusiveMaximum"] = hi + 1
        numbers = [number]
        fits = [(lo is None or lo <= n) and (hi is None or n <= hi) for n in (0, 1)]
    booleans = [b for b, fit in zip((False, True), fits, strict=True) if fit]
    options = [*numbers, DIGITS, *([{"enum": booleans}] if booleans else [])]
    return {"anyOf": options}


# Integer attributes: the range or values their validator allows.
_INT_RANGES: dict[tuple[str, str], JsonDict] = {
    (schema.NETWORK, "mtu"): lenient_int(68, 65535),
    (schema.SUBNET, "ip_version"): lenient_int(values=(4, 6)),
    (schema.PORT_CHAIN, "chain_id"): lenient_int(0, MAX_CHAIN_ID),
}


NAME_MAX = 255
_TEXT: JsonDict = {"type": "string", "maxLength": NAME_MAX}
_UUID_LIST: JsonDict = {"type": "array", "items": UUID, "uniqueItems": True}
# An L4 port as networking-sfc's normalize_port_value takes it: int() of a number or a digit string
# (so 80.7 is 80 and " 80" is 80), then 0-65535; null for none.
_PORT: JsonDict = {
    "anyOf": [
        {"type": "null"},
        {"type": "number", "exclusiveMinimum": -1, "exclusiveMaximum": 65536},
        {**DIGITS, "description": "digits, 0-65535"},
    ]
}
# steerflow's function health extension (docs/health.md); the tcp check alone has, and needs, a port
_HEALTH_CHECK_COMMON: JsonDict = {
    "interval_ms": lenient_int(*HEALTH_CHECK_RANGES["interval_ms"]),
    "failures": lenient_int(*HEALTH_CHECK_RANGES["failures"]),
}
_HEALTH_CHECK: JsonDict = {
    "description": "null = {type: none}; interval_ms (default 200) and failures (default 3) per group",
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "properties": {
                "type": {"enum": ["tcp"]},
                "tcp_port": lenient_int(*HEALTH_CHECK_RANGES["tcp_port"]),
                **_HEALTH_CHECK_COMMON,
            },
            "required": ["type", "tcp_port"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "type": {"enum": [t for t in HEALTH_CHECK_TYPES if t != "tcp"]},
                **_HEALTH_CHECK_COMMON,
            },
            "required": ["type"],
            "additionalProperties": False,
        },
    ],
}
_N_TUPLE: JsonDict = {
    "type": ["object", "null"],
    "properties": {
        "source_ip_prefix": {"type": ["string", "null"], "description": "CIDR"},
        "destination_ip_prefix": {"type": ["string", "null"], "description": "CIDR"},
        "source_port_range_min": _PORT,
        "source_port_range_max": _PORT,
        "destination_port_range_min": _PORT,
        "destination_port_range_max": _PORT,
    },
    "additionalProperties": False,
}


def _or_default(schema: JsonDict) -> JsonDict:
    """A parameters dict that any empty JSON value (null, false, 0, "", [], {}) resets to its default,
    as networking-sfc's converters read `not value`."""
    described = {k: v for k, v in schema.items() if k == "description"}
    shape = {k: v for k, v in schema.items() if k != "description"}
    return {"anyOf": [{**shape, "type": "object"}, {"enum": [None, False, 0, "", []]}], **described}


# Attributes named alike in every resource (Neutron's common attribute definitions).
_BY_NAME: dict[str, JsonDict] = {
    "id": {"type": "string"},
    "name": _TEXT,
    "description": _TEXT,
    "tenant_id": _TEXT,
    "project_id": _TEXT,
}

# What the networking-sfc attribute maps accept, key by key (their converters are not introspectable).
_BY_RESOURCE: dict[tuple[str, str], JsonDict] = {
    (schema.PORT_PAIR, "service_function_parameters"): _or_default(
        {
            "type": ["object", "null"],
            "description": "null or {} = the default {correlation: null, weight: 1}",
            "properties": {
                "correlation": {"enum": [None, *installed_correlations()]},  # the installed drivers
                "weight": lenient_int(0),
            },
            "additionalProperties": False,
        }
    ),
    (schema.PORT_PAIR_GROUP, "group_id"): {"type": "integer"},
    (schema.PORT_PAIR_GROUP, "port_pairs"): {**_UUID_LIST, "type": ["array", "null"]},
    (schema.PORT_PAIR_GROUP, "port_pair_group_parameters"): _or_default(
        {
            "type": ["object", "null"],
            "description": "null or {} = {lb_fields: [], ppg_n_tuple_mapping: {ingress_n_tuple: {}, "
            "egress_n_tuple: {}}}",
            "properties": {
                "lb_fields": {"type": "array", "items": {"enum": list(SUPPORTED_LB_FIELDS)}},
                "ppg_n_tuple_mapping": {
                    "type": ["object", "null"],
                    "properties": {"ingress_n_tuple": _N_TUPLE, "egress_n_tuple": _N_TUPLE},
                    "additionalProperties": False,
                },
                "health_check": _HEALTH_CHECK,
                "fail_mode": {"enum": list(FAIL_MODES)},
            },
            "additionalProperties": False,
        }
    ),
    (schema.PORT_CHAIN, "port_pair_groups"): {**_UUID_LIST, "minItems": 1},
    (schema.PORT_CHAIN, "flow_classifiers"): {**_UUID_LIST, "type": ["array", "null"]},
    (schema.PORT_CHAIN, "chain_parameters"): _or_default(
        {
            "type": ["object", "null"],
            "description": "missing keys take their defaults: correlation mpls, symmetric false; "
            "nsh_md_type (steerflow's, NSH chains only) is never filled in",
            "properties": {
                "correlation": {"enum": list(installed_correlations())},
                "symmetric": BOOLEAN_INPUT,
                "nsh_md_type": lenient_int(values=NSH_MD_TYPES),
            },
            "additionalProperties": False,
        }
    ),
    (schema.FLOW_CLASSIFIER, "name"): {**_TEXT, "type": ["string", "null"]},
    (schema.FLOW_CLASSIFIER, "description"): {**_TEXT, "type": ["string", "null"]},
    (schema.FLOW_CLASSIFIER, "ethertype"): {"enum": [*FC_SUPPORTED_ETHERTYPES, None]},
    (schema.FLOW_CLASSIFIER, "protocol"): {"enum": [*FC_SUPPORTED_PROTOCOLS, None]},
    (schema.FLOW_CLASSIFIER, "source_port_range_min"): _PORT,
    (schema.FLOW_CLASSIFIER, "source_port_range_max"): _PORT,
    (schema.FLOW_CLASSIFIER, "destination_port_range_min"): _PORT,
    (schema.FLOW_CLASSIFIER, "destination_port_range_max"): _PORT,
    (schema.FLOW_CLASSIFIER, "l7_parameters"): {"type": ["object", "null"], "maxProperties": 0},
    (schema.SERVICE_GRAPH, "port_chains"): {
        "type": ["object", "null"],
        "description": "{source chain id: [destination chain ids]} (null: {})",
        "propertyNames": UUID,
        "additionalProperties": {"type": "array", "items": UUID},
    },
}


# A classification's definition: the keys of every type (which ones a type takes: its description).
_DEFINITION_INTS: dict[str, tuple[int, int]] = {
    "ethertype": (0x0600, 0xFFFF),
    "vlan_id": (0, 4095),
    "protocol": (0, 255),
    "next_header": (0, 255),
    "dscp": (0, 63),
    "dscp_mask": (0, 63),
    "ecn": (0, 3),
    "traffic_class": (0, 255),
    "traffic_class_mask": (0, 255),
    "flags": (0, cls_terms.TCP_FLAGS_MASK),
    "flags_mask": (0, cls_terms.TCP_FLAGS_MASK),
    **{f"{side}_port_{end}": (0, 65535) for side in ("src", "dst") for end in ("min", "max")},
}


def _definition_key(key: str) -> JsonDict:
    if key in _DEFINITION_INTS:
        lo, hi = _DEFINITION_INTS[key]
        return {"type": ["integer", "null"], "minimum": lo, "maximum": hi}
    return {"type": ["string", "null"], "description": "MAC address (ethernet), address or CIDR (ipv4, ipv6)"}


_DEFINITION: JsonDict = {
    "type": "object",
    "description": "by type: "
    + "; ".join(f"{t}: {', '.join(cls_terms.supported_keys(t))}" for t in cls_terms.CLASSIFICATION_TYPES)
    + " (null: not matched); other keys are refused",
    "properties": {
        key: _definition_key(key)
        for t in cls_terms.CLASSIFICATION_TYPES
        for key in cls_terms.supported_keys(t)
    },
    "additionalProperties": False,
}
_BY_RESOURCE |= {
    (schema.CLASSIFICATION, "type"): {"enum": list(cls_terms.CLASSIFICATION_TYPES)},
    (schema.CLASSIFICATION, "definition"): _DEFINITION,
    (schema.CLASSIFICATION_GROUP, "operator"): {"enum": list(cls_terms.OPERATORS)},
    (schema.CLASSIFICATION_GROUP, "classifications"): {**_UUID_LIST, "type": ["array", "null"]},
    (schema.CLASSIFICATION_GROUP, "classification_groups"): {**_UUID_LIST, "type": ["array", "null"]},
}


def _camel(resource: str) -> str:
    return "".join(part.capitalize() for part in resource.split("_"))


def _ref(name: str) -> JsonDict:
    return {"$ref": f"#/components/schemas/{name}"}


def attribute_schema(handler: ResourceHandler, attr: attrs.Attribute) -> JsonDict:
    """JSON schema of one attribute: the handler's explicit one, else inferred from validator/default."""
    explicit: Mapping[str, JsonDict] = getattr(handler, "attribute_schemas", {})
    if _boolean_converter(attr.converter):  # what it takes, not only what it answers
        described = explicit.get(attr.name, {}).get("description")
        return {**BOOLEAN_INPUT, "description": described} if described else dict(BOOLEAN_INPUT)
    if (attr.allow_post or attr.allow_put) and (handler.resource, attr.name) in _INT_RANGES:
        return dict(_INT_RANGES[(handler.resource, attr.name)])
    if attr.name in explicit:
        return dict(explicit[attr.name])
    known = _BY_RESOURCE.get((handler.resource, attr.name), _BY_NAME.get(attr.name))
    if known is not None:
        return dict(known)
    found = next((dict(s) for v, s in _BY_VALIDATOR if attr.validator is v), None)
    if found is None:
        default = attr.default
        found = next((dict(s) for t, s in _BY_DEFAULT_TYPE if isinstance(default, t)), {})
    return found


def _is_json(value: Any) -> bool:
    """A default the document can show (computed defaults are markers, not JSON values)."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


# Required in the attribute map, but filled in from the caller's token when absent.
PROJECT_KEYS = frozenset({"project_id", "tenant_id"})


def _required(attr: attrs.Attribute) -> bool:
    return attr.allow_post and attr.required and attr.name not in PROJECT_KEYS


def _describe(attr: attrs.Attribute, schema: JsonDict) -> JsonDict:
    notes = []
    if attr.name in PROJECT_KEYS:
        notes.append("default: the caller's project; another one needs admin")
    elif _required(attr):
        notes.append("required on create")
    elif attr.allow_post and _is_json(attr.default):
        schema["default"] = attr.default
    if attr.allow_put:
        notes.append("updatable")
    if not attr.allow_post and not attr.allow_put:
        notes.append("read-only")
    if notes:
        text = "; ".join(notes)
        schema["description"] = f"{schema['description']} ({text})" if "description" in schema else text
    return schema


def resource_schemas(handler: ResourceHandler) -> dict[str, JsonDict]:
    """The component schemas of one resource: object, create/update bodies and their envelopes."""
    name = _camel(handler.resource)
    amap: attrs.AttributeMap | None = getattr(handler, "attributes", None)
    all_attrs = list(amap.attributes.values()) if amap is not None else []
    props = {a.name: _describe(a, attribute_schema(handler, a)) for a in all_attrs if a.is_visible}
    create = {a.name: props.get(a.name, {}) for a in all_attrs if a.allow_post}
    update = {a.name: props.get(a.name, {}) for a in all_attrs if a.allow_put}
    required = [a.name for a in all_attrs if _required(a)]
    r, c = handler.resource, handler.collection
    obj: JsonDict = {"type": "object", "properties": props}
    if any(not a.is_visible for a in all_attrs):  # named nowhere: nobody should guess at them
        obj["description"] = (
            "Stored with internal dataplane attributes the server allocates: they are in no response, "
            'not filterable (ignored like unknown filters) and refused in a body (POST: 400 "Attribute '
            '\'X\' not allowed in POST", PUT: 400 "Cannot update read-only attribute X").'
        )
    schemas: dict[str, JsonDict] = {
        name: obj,
        f"{name}Envelope": _object({r: _ref(name)}, [r]),
        f"{name}ListEnvelope": _object(
            {c: {"type": "array", "items": _ref(name)}, f"{c}_links": PAGE_LINKS}, [c]
        ),
    }
    if getattr(handler, "read_only", False):
        return schemas
    bulk = {"type": "array", "items": _ref(f"{name}Create"), "minItems": 1}
    return {
        **schemas,
        f"{name}Create": _object(create, required),
        f"{name}Update": _object(update, []),
        f"{name}CreatedListEnvelope": _object({c: {"type": "array", "items": _ref(name)}}, [c]),
        f"{name}CreateRequest": _envelope({r: _ref(f"{name}Create")}, r),
        f"{name}BulkCreateRequest": _envelope({c: bulk}, c),
        f"{name}UpdateRequest": _envelope({r: _ref(f"{name}Update")}, r),
    }


PAGE_LINKS: JsonDict = {
    "type": "array",
    "description": "With limit: the neighbour pages (Neutron's pagination links).",
    "items": {
        "type": "object",
        "properties": {"rel": {"enum": ["next", "previous"]}, "href": {"type": "string"}},
        "required": ["rel", "href"],
    },
}


def _envelope(props: JsonDict, key: str) -> JsonDict:
    """A request envelope: Neutron reads its one key and ignores any other top-level key."""
    return {"type": "object", "properties": props, "required": [key]}


def _object(props: JsonDict, required: Sequence[str]) -> JsonDict:
    out: JsonDict = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def _json(schema: JsonDict, description: str) -> JsonDict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> JsonDict:
    meanings = {
        400: "Invalid input",
        401: "Missing or unknown token",
        403: "Not allowed to this project (token mode)",
        404: "Not found (a list: its marker)",
        409: "Conflict",
        413: "Body over the size limit",
        503: "The NB store is unavailable",
    }
    return {str(c): _json(ERROR_REF, meanings[c]) for c in codes}


FIELDS_PARAM: JsonDict = {
    "name": "fields",
    "in": "query",
    "required": False,
    "description": "Return only these attributes (repeatable).",
    "schema": {"type": "array", "items": {"type": "string"}},
    "style": "form",
    "explode": True,
}
ID_PARAM: JsonDict = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _converts(conv: Callable[[Any], Any], raw: Any) -> bool:
    try:
        conv(raw)
    except Exception:
        return False
    return True


def _boolean_converter(conv: Callable[[Any], Any] | None) -> bool:
    """Whether `conv` is Neutron's boolean conversion (possibly wrapped): found by what it does."""
    return (
        conv is not None and _converts(conv, "yes") and conv("yes") is True and not _converts(conv, "maybe")
    )


def _filter_schema(handler: ResourceHandler, attr: attrs.Attribute) -> JsonDict:
    """What one filter value may be, found by asking the attribute's converter (others: 400)."""
    conv = attr.filter_converter if attr.filter_converter is not None else attr.converter
    if conv is None or _converts(conv, "some text"):
        return {"type": "string"}
    if _boolean_converter(conv):  # true/false, or any spelling the converter takes
        return {"anyOf": [{"type": "boolean"}, BOOLEAN_INPUT["anyOf"][2]]}
    if _converts(conv, "7") and conv("7") == 7:
        schema: JsonDict = {"type": "integer"}
        if not _converts(conv, "-1"):
            schema["minimum"] = 0
        if not _converts(conv, "65536"):
            schema["maximum"] = 65535
        return schema
    known = attribute_schema(handler, attr).get("enum", [])
    return {"enum": [v for v in known if isinstance(v, str) and _converts(conv, v)]}


def _filter_params(handler: ResourceHandler) -> list[JsonDict]:
    amap: attrs.AttributeMap | None = getattr(handler, "attributes", None)
    visible = [a for a in amap.attributes.values() if a.is_visible] if amap is not None else []
    return [
        {
            "name": a.name,
            "in": "query",
            "required": False,
            "description": f"Only objects whose {a.name} equals one of these values (repeatable).",
            "schema": {"type": "array", "items": _filter_schema(handler, a)},
            "style": "form",
            "explode": True,
        }
        for a in visible
    ]


def _paging_params(handler: ResourceHandler) -> list[JsonDict]:
    """Neutron's paging and sorting parameters (`api/paging.py`)."""
    params: list[JsonDict] = [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "Page size (0: no paging); the answer then carries <collection>_links "
            "(rel next / previous hrefs). The server may cap it (--pagination-max-limit).",
            "schema": {"type": "integer", "minimum": 0},
        },
        {
            "name": "marker",
            "in": "query",
            "required": False,
            "description": "Id of the last object of the previous page (with limit).",
            "schema": {"type": "string"},
        },
        {
            "name": "page_reverse",
            "in": "query",
            "required": False,
            "description": "With limit, `true` (any case): the page before the marker (the end of "
            "the list without one); any other value: forward, as Neutron reads it.",
            "schema": {"type": "string"},
        },
    ]
    keys = sorted(getattr(handler, "sort_keys", frozenset()))
    if keys:  # networking-sfc's resources have no sort key: upstream refuses any sort_key (400)
        params += [
            {
                "name": "sort_key",
                "in": "query",
                "required": False,
                "description": "Sort by this attribute (repeatable); each needs its sort_dir, in order. "
                "Empty values are skipped.",
                "schema": {"type": "array", "items": {"enum": [*keys, ""]}},
                "style": "form",
                "explode": True,
            },
            {
                "name": "sort_dir",
                "in": "query",
                "required": False,
                "description": "asc or desc, one per sort_key, in the same order (else 400). Empty "
                "values are skipped.",
                "schema": {"type": "array", "items": {"enum": ["asc", "desc", ""]}},
                "style": "form",
                "explode": True,
            },
        ]
    return params


WAIT_PARAM: JsonDict = {
    "name": "wait",
    "in": "query",
    "required": False,
    "description": "Hold the answer until every chassis has applied this change: `wait` or `wait=true` "
    f"({DEFAULT_WAIT_SECONDS:g} s at most), `wait=SECONDS` (0 < SECONDS <= {MAX_WAIT_SECONDS:g}), "
    "`wait=false`. The change is committed either way; the X-Steerflow-* headers tell.",
    "schema": {
        "anyOf": [
            {  # case and surrounding blanks do not matter (wait_seconds strips and lowers)
                "type": "string",
                "pattern": "^\\s*("
                + "|".join(_any_case(w) for w in ("", "true", "false", "1", "0", "yes", "no"))
                + ")\\s*$",
            },
            {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WAIT_SECONDS},
        ]
    },
}

WAIT_HEADERS: JsonDict = {
    "X-Steerflow-Revision": {
        "description": "With ?wait: the NB revision that holds the change.",
        "schema": {"type": "integer"},
    },
    "X-Steerflow-Applied": {
        "description": "With ?wait: true when every chassis had applied the change, false on timeout.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
    "X-Steerflow-Lagging": {
        "description": "With ?wait, on timeout: the chassis that had not applied it, comma-separated.",
        "schema": {"type": "string"},
    },
    "X-Steerflow-Skipped": {
        "description": "With ?wait: the chassis not waited for because they are down (not heard from "
        "within the down-after time), comma-separated.",
        "schema": {"type": "string"},
    },
}


def resource_paths(handler: ResourceHandler) -> dict[str, JsonDict]:
    """The collection and member path items of one resource."""
    base = f"/v2.0{handler.path_prefix}/{handler.collection}"
    return {base: _collection_item(handler), base + "/{id}": _member_item(handler)}


def _read_only(handler: ResourceHandler) -> bool:
    return bool(getattr(handler, "read_only", False))


def _written(schema: JsonDict, description: str) -> JsonDict:
    return {**_json(schema, description), "headers": WAIT_HEADERS}


def _collection_item(handler: ResourceHandler) -> JsonDict:
    name, r, tag = _camel(handler.resource), handler.resource.replace("_", " "), [handler.collection]
    item: JsonDict = {
        "get": {
            "tags": tag,
            "summary": f"List {r}s",
            "parameters": [FIELDS_PARAM, *_paging_params(handler), *_filter_params(handler)],
            "responses": {"200": _json(_ref(f"{name}ListEnvelope"), "OK"), **_errors(400, 404, 503)},
        },
    }
    if _read_only(handler):
        return item
    create_body = {"anyOf": [_ref(f"{name}CreateRequest"), _ref(f"{name}BulkCreateRequest")]}
    created = {"anyOf": [_ref(f"{name}Envelope"), _ref(f"{name}CreatedListEnvelope")]}
    item["post"] = {
        "tags": tag,
        "summary": f"Create a {r} (or several: bulk, all or nothing)",
        "parameters": [WAIT_PARAM],
        "requestBody": {"required": True, "content": {"application/json": {"schema": create_body}}},
        "responses": {"201": _written(created, "Created"), **_errors(400, 404, 409, 413, 503)},
    }
    return item


def _member_item(handler: ResourceHandler) -> JsonDict:
    name, r, tag = _camel(handler.resource), handler.resource.replace("_", " "), [handler.collection]
    item: JsonDict = {
        "parameters": [ID_PARAM],
        "get": {
            "tags": tag,
            "summary": f"Show a {r}",
            "parameters": [FIELDS_PARAM],
            "responses": {"200": _json(_ref(f"{name}Envelope"), "OK"), **_errors(404, 503)},
        },
    }
    if not _read_only(handler):
        item["put"] = {
            "tags": tag,
            "summary": f"Update a {r}",
            "parameters": [WAIT_PARAM],
            "requestBody": {
                **_json(_ref(f"{name}UpdateRequest"), "The attributes to change"),
                "required": True,
            },
            "responses": {"200": _written(_ref(f"{name}Envelope"), "OK"), **_errors(400, 404, 409, 413, 503)},
        }
    elif not getattr(handler, "deletable", False):
        return item
    item["delete"] = {
        "tags": tag,
        "summary": f"Delete a {r}",
        "parameters": [WAIT_PARAM],
        "responses": {
            "204": {"description": "Deleted", "headers": WAIT_HEADERS},
            **_errors(400, 404, 409, 503),
        },
    }
    return item


NEUTRON_ERROR_SCHEMA: JsonDict = {
    "type": "object",
    "properties": {
        "NeutronError": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "description": "Error class, e.g. PortPairNotFound"},
                "message": {"type": "string"},
                "detail": {"type": "string"},
            },
            "required": ["type", "message", "detail"],
        }
    },
    "required": ["NeutronError"],
}


def build_openapi(app: FastAPI, handlers: Sequence[ResourceHandler], tokens: bool = True) -> JsonDict:
    """The document; `tokens`: the server wants X-Auth-Token under /v2.0 (not in no-auth mode)."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["NeutronError"] = NEUTRON_ERROR_SCHEMA
    if tokens:
        components["securitySchemes"] = {
            "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
        }
    paths = doc.setdefault("paths", {})
    for handler in handlers:
        schemas.update(resource_schemas(handler))
        paths.update(resource_paths(handler))
    stats = statistics_path(handlers)
    if stats is not None:
        schemas.update(STATISTICS_SCHEMAS)
        paths[stats] = _statistics_item()
    _describe_discovery(paths, tokens)
    if tokens:
        for path, item in paths.items():
            for method, operation in item.items():
                if method != "parameters" and path.startswith("/v2.0"):
                    operation["security"] = [{"token": []}]
                    operation["responses"].setdefault("401", _errors(401)["401"])
                    if method in ("post", "put", "delete"):
                        operation["responses"].setdefault("403", _errors(403)["403"])
    return doc


def _counter(extra: JsonDict | None = None, description: str = "") -> JsonDict:
    props: JsonDict = {
        **(extra or {}),
        "packets": {"type": "integer", "minimum": 0},
        "bytes": {"type": "integer", "minimum": 0},
    }
    return {**_object(props, list(props)), "description": description}


STATISTICS_SCHEMAS: dict[str, JsonDict] = {
    "PortChainStatistics": _object(
        {
            "port_chain_id": {"type": "string"},
            schema.CHASSIS: {
                "type": "array",
                "items": {"type": "string"},
                "description": "The live chassis whose agents' reports are summed",
            },
            "flow_classifiers": {
                "type": "array",
                "items": _counter({"id": {"type": "string"}}, "Packets the classifier took into the chain"),
            },
            "port_pair_groups": {
                "type": "array",
                "items": _object(
                    {
                        "id": {"type": "string"},
                        "position": {"type": "integer", "minimum": 1},
                        "packets": {"type": "integer", "minimum": 0},
                        "bytes": {"type": "integer", "minimum": 0},
                        "dropped": _counter(description="Packets the hop dropped failing closed"),
                        "port_pairs": {
                            "type": "array",
                            "items": _counter(
                                {"id": {"type": "string"}}, "Packets delivered to the instance"
                            ),
                        },
                    },
                    ["id", "position", "packets", "bytes", "dropped", "port_pairs"],
                ),
                "description": "Each hop in chain order: packets dispatched to it",
            },
            "exited": _counter(description="Packets that left the chain after its last hop"),
        },
        ["port_chain_id", schema.CHASSIS, "flow_classifiers", "port_pair_groups", "exited"],
    ),
}


def _statistics_item() -> JsonDict:
    envelope = _object({"port_chain_statistics": _ref("PortChainStatistics")}, ["port_chain_statistics"])
    return {
        "parameters": [ID_PARAM],
        "get": {
            "tags": ["port_chains"],
            "summary": "A port chain's packet and byte counters, summed over the chassis",
            "responses": {"200": _json(envelope, "OK"), **_errors(404, 503)},
        },
    }


def _describe_discovery(paths: JsonDict, tokens: bool) -> None:
    """The discovery routes' answers (FastAPI knows only their 200)."""
    alias = paths.get("/v2.0/extensions/{alias}", {}).get("get")
    if alias is not None:
        alias["responses"].pop("422", None)
        alias["responses"].update(_errors(404))
    for item in paths.values():
        for method, operation in item.items():
            if method != "parameters":
                operation["responses"].pop("422", None)


def install_openapi(app: FastAPI, handlers: Sequence[ResourceHandler], tokens: bool = True) -> None:
    """Serve the generated document at the app's openapi_url (built once, on first request)."""

    def openapi() -> JsonDict:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, handlers, tokens)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
