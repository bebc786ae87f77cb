"""The OpenAPI document of the API, derived from each handler's Neutron attribute map."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from steerflow.api import attributes as attrs
from steerflow.api.resource import ResourceHandler
from steerflow.nbdb.api import JsonDict

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


def _camel(resource: str) -> str:
    return "".join(part.capitalize() for part in resource.split("_"))


def _ref(name: str) -> JsonDict:
    return {"$ref": f"#/components/schemas/{name}"}


def attribute_schema(handler: ResourceHandler, attr: attrs.Attribute) -> JsonDict:
    """JSON schema of one attribute: the handler's explicit one, else inferred from validator/default."""
    explicit: Mapping[str, JsonDict] = getattr(handler, "attribute_schemas", {})
    if attr.name in explicit:
        return dict(explicit[attr.name])
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
    return {
        name: {"type": "object", "properties": props},
        f"{name}Create": _object(create, required),
        f"{name}Update": _object(update, []),
        f"{name}Envelope": _object({r: _ref(name)}, [r]),
        f"{name}ListEnvelope": _object({c: {"type": "array", "items": _ref(name)}}, [c]),
        f"{name}CreateRequest": _object({r: _ref(f"{name}Create")}, [r]),
        f"{name}BulkCreateRequest": _object({c: {"type": "array", "items": _ref(f"{name}Create")}}, [c]),
        f"{name}UpdateRequest": _object({r: _ref(f"{name}Update")}, [r]),
    }


def _object(props: JsonDict, required: Sequence[str]) -> JsonDict:
    out: JsonDict = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def _json(schema: JsonDict, description: str) -> JsonDict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> JsonDict:
    meanings = {400: "Invalid input", 401: "Missing or unknown token", 404: "Not found", 409: "Conflict"}
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


def _filter_params(handler: ResourceHandler) -> list[JsonDict]:
    amap: attrs.AttributeMap | None = getattr(handler, "attributes", None)
    names = [a.name for a in amap.attributes.values() if a.is_visible] if amap is not None else []
    return [
        {
            "name": n,
            "in": "query",
            "required": False,
            "description": f"Only objects whose {n} equals one of these values (repeatable).",
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form",
            "explode": True,
        }
        for n in names
    ]


def resource_paths(handler: ResourceHandler) -> dict[str, JsonDict]:
    """The collection and member path items of one resource."""
    base = f"/v2.0{handler.path_prefix}/{handler.collection}"
    return {base: _collection_item(handler), base + "/{id}": _member_item(handler)}


def _collection_item(handler: ResourceHandler) -> JsonDict:
    name, r, tag = _camel(handler.resource), handler.resource.replace("_", " "), [handler.collection]
    create_body = {"oneOf": [_ref(f"{name}CreateRequest"), _ref(f"{name}BulkCreateRequest")]}
    created = {"oneOf": [_ref(f"{name}Envelope"), _ref(f"{name}ListEnvelope")]}
    return {
        "get": {
            "tags": tag,
            "summary": f"List {r}s",
            "parameters": [FIELDS_PARAM, *_filter_params(handler)],
            "responses": {"200": _json(_ref(f"{name}ListEnvelope"), "OK"), **_errors(400, 401)},
        },
        "post": {
            "tags": tag,
            "summary": f"Create a {r} (or several: bulk, all or nothing)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": create_body}}},
            "responses": {"201": _json(created, "Created"), **_errors(400, 401, 404, 409)},
        },
    }


def _member_item(handler: ResourceHandler) -> JsonDict:
    name, r, tag = _camel(handler.resource), handler.resource.replace("_", " "), [handler.collection]
    return {
        "parameters": [ID_PARAM],
        "get": {
            "tags": tag,
            "summary": f"Show a {r}",
            "parameters": [FIELDS_PARAM],
            "responses": {"200": _json(_ref(f"{name}Envelope"), "OK"), **_errors(401, 404)},
        },
        "put": {
            "tags": tag,
            "summary": f"Update a {r}",
            "requestBody": _json(_ref(f"{name}UpdateRequest"), "The attributes to change"),
            "responses": {"200": _json(_ref(f"{name}Envelope"), "OK"), **_errors(400, 401, 404, 409)},
        },
        "delete": {
            "tags": tag,
            "summary": f"Delete a {r}",
            "responses": {"204": {"description": "Deleted"}, **_errors(401, 404, 409)},
        },
    }


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


def build_openapi(app: FastAPI, handlers: Sequence[ResourceHandler]) -> JsonDict:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["NeutronError"] = NEUTRON_ERROR_SCHEMA
    components["securitySchemes"] = {
        "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
    }
    doc["security"] = [{"token": []}]
    paths = doc.setdefault("paths", {})
    for handler in handlers:
        schemas.update(resource_schemas(handler))
        paths.update(resource_paths(handler))
    return doc


def install_openapi(app: FastAPI, handlers: Sequence[ResourceHandler]) -> None:
    """Serve the generated document at the app's openapi_url (built once, on first request)."""

    def openapi() -> JsonDict:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, handlers)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
