"""Neutron-style attribute maps: how a POST/PUT body becomes a converted, validated resource dict.

An `AttributeMap` lists a resource's `Attribute`s in Neutron's order. `prepare_post` and `prepare_put`
reproduce Neutron's API layer step by step (project ownership, unknown keys, defaults/required, read-only
attributes, converters then validators) with Neutron's messages, so clients see the same 400s.

Converters take a raw JSON value and return the converted one or raise a `NeutronError` (as Neutron's
do). Validators return None when the value is fine, else the human reason that ends up in
"Invalid input for <attr>. Reason: <reason>.".
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from steerflow.api.context import Context
from steerflow.api.errors import HTTPBadRequest, InvalidInput
from steerflow.nbdb.api import JsonDict

Converter = Callable[[Any], Any]
Validator = Callable[[Any], str | None]

NAME_MAX_LEN: Final = 255
DESCRIPTION_MAX_LEN: Final = 255
PROJECT_ID_MAX_LEN: Final = 255


class _Required:
    """Marker default: the attribute must be given on POST."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()


@dataclass(frozen=True)
class Attribute:
    """One attribute of a resource, as in a Neutron RESOURCE_ATTRIBUTE_MAP entry.

    `converter` runs first (Neutron's `convert_to`), then `validator`, then `normalize` (for nested
    dicts whose items are converted only after the whole dict validated). `filter_converter` converts a
    query-string value for list filters; None means "use `converter`", and `identity` suits lists/dicts.
    """

    name: str
    allow_post: bool = True
    allow_put: bool = False
    default: Any = REQUIRED
    converter: Converter | None = None
    validator: Validator | None = None
    normalize: Converter | None = None
    is_visible: bool = True
    filter_converter: Converter | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def convert(self, value: Any) -> Any:
        """Convert and validate one request value; raises the 400 Neutron raises."""
        if self.converter is not None:
            value = self.converter(value)
        if self.validator is not None:
            reason = self.validator(value)
            if reason:
                raise HTTPBadRequest(f"Invalid input for {self.name}. Reason: {reason}.")
        if self.normalize is not None:
            value = self.normalize(value)
        return value

    def convert_filter(self, raw: Any) -> Any:
        """Convert a query-string filter value the way the attribute's values are stored."""
        conv = self.filter_converter if self.filter_converter is not None else self.converter
        return raw if conv is None else conv(raw)


class AttributeMap:
    """A resource's attributes in order; applies POST and PUT bodies with Neutron's semantics."""

    def __init__(self, resource: str, attributes: Sequence[Attribute]) -> None:
        self.resource = resource
        self.attributes: dict[str, Attribute] = {a.name: a for a in attributes}

    def __contains__(self, name: object) -> bool:
        return name in self.attributes

    def __getitem__(self, name: str) -> Attribute:
        return self.attributes[name]

    def prepare_post(self, ctx: Context, body: Any) -> JsonDict:
        """The converted, defaulted, validated attributes of a create request (with both project keys)."""
        res = self._checked_body(body)
        self._populate_project(ctx, res, is_create=True)
        self._reject_unknown(res)
        self._fill_post_defaults(res)
        return self._convert_values(res)

    def prepare_put(self, ctx: Context, body: Any) -> JsonDict:
        """The converted, validated attributes an update request changes."""
        res = self._checked_body(body)
        self._populate_project(ctx, res, is_create=False)
        self._reject_unknown(res)
        for attr in self.attributes.values():
            if attr.name in res and not attr.allow_put:
                raise HTTPBadRequest(self._read_only(attr))
        return self._convert_values(res)

    def _read_only(self, attr: Attribute) -> str:
        """Neutron's message, plus, for what a create sets, that only a new object can change it."""
        message = f"Cannot update read-only attribute {attr.name}"
        if attr.allow_post:
            kind = self.resource.replace("_", " ")
            message += f": it is set when the {kind} is created (create a new {kind} to change it)"
        return message

    def ordered(self, obj: Mapping[str, Any]) -> JsonDict:
        """`obj` with its keys in attribute-map order (then any others), for stable, readable output."""
        known = {k: obj[k] for k in self.attributes if k in obj}
        return {**known, **{k: v for k, v in obj.items() if k not in known}}

    def visible(self, obj: Mapping[str, Any]) -> JsonDict:
        """The API view of a stored object: only visible attributes, in attribute-map order."""
        ordered = self.ordered(obj)
        return {k: v for k, v in ordered.items() if k not in self.attributes or self.attributes[k].is_visible}

    def filter_values(self, key: str, raw: Iterable[Any]) -> list[Any] | None:
        """Converted filter values for `key`, or None when the resource has no such attribute."""
        attr = self.attributes.get(key)
        if attr is None:
            return None
        return [attr.convert_filter(v) for v in raw]

    def _checked_body(self, body: Any) -> JsonDict:
        if not isinstance(body, dict):
            raise HTTPBadRequest(f"Object '{self.resource}' contains invalid data")
        return dict(body)

    def _populate_project(self, ctx: Context, res: JsonDict, is_create: bool) -> None:
        populate_project_info(res)
        if "project_id" in res and res["project_id"] != ctx.project_id and not ctx.is_admin:
            raise HTTPBadRequest(
                "Specifying 'project_id' other than the authenticated project in request is not "
                "allowed for the current user."
            )
        if is_create and "project_id" in self.attributes and "project_id" not in res:
            if not ctx.project_id:
                raise HTTPBadRequest("Running without keystone AuthN requires that project_id is specified")
            res["project_id"] = res["tenant_id"] = ctx.project_id

    def _reject_unknown(self, res: JsonDict) -> None:
        extra = sorted(set(res) - set(self.attributes))
        if extra:
            raise HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(extra)}'")

    def _fill_post_defaults(self, res: JsonDict) -> None:
        for attr in self.attributes.values():
            if not attr.allow_post:
                if attr.name in res:
                    raise HTTPBadRequest(f"Attribute '{attr.name}' not allowed in POST")
                continue
            if attr.name in res:
                continue
            if attr.required:
                raise HTTPBadRequest(
                    f"Failed to parse request. Required attribute '{attr.name}' not specified"
                )
            res[attr.name] = _fresh(attr.default)

    def _convert_values(self, res: JsonDict) -> JsonDict:
        for attr in self.attributes.values():
            if attr.name in res:
                res[attr.name] = attr.convert(res[attr.name])
        return res


def populate_project_info(res: JsonDict) -> JsonDict:
    """Mirror `project_id` and `tenant_id` (either may be given); 400 when both are given and differ."""
    if "tenant_id" in res and "project_id" not in res:
        res["project_id"] = res["tenant_id"]
    elif "project_id" in res and "tenant_id" not in res:
        res["tenant_id"] = res["project_id"]
    if res.get("project_id") != res.get("tenant_id"):
        raise HTTPBadRequest("'project_id' and 'tenant_id' do not match")
    return res


def _fresh(value: Any) -> Any:
    """A private copy of a (possibly mutable) default."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


# --- standard attributes --------------------------------------------------------------------------


def id_attribute() -> Attribute:
    return Attribute("id", allow_post=False, allow_put=False, default=None, validator=validate_uuid)


def name_attribute(default: Any = "", converter: Converter | None = None) -> Attribute:
    return Attribute(
        "name", allow_put=True, default=default, converter=converter, validator=string_validator()
    )


def description_attribute(default: Any = "", converter: Converter | None = None) -> Attribute:
    return Attribute(
        "description",
        allow_put=True,
        default=default,
        converter=converter,
        validator=string_validator(DESCRIPTION_MAX_LEN),
    )


def project_attributes() -> list[Attribute]:
    """`tenant_id` and `project_id`: settable on POST (admin only for another project), never on PUT."""
    validator = string_validator(PROJECT_ID_MAX_LEN)
    return [
        Attribute("tenant_id", allow_post=True, allow_put=False, validator=validator),
        Attribute("project_id", allow_post=True, allow_put=False, validator=validator),
    ]


# --- converters -----------------------------------------------------------------------------------

_TRUE_STRINGS: Final = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE_STRINGS: Final = frozenset({"0", "f", "false", "off", "n", "no"})


def parse_boolean(data: Any) -> bool | None:
    """oslo's strict bool_from_string: a bool, or None when `data` is not a boolean spelling."""
    if isinstance(data, bool):
        return data
    text = str(data).strip().lower()
    if text in _TRUE_STRINGS:
        return True
    if text in _FALSE_STRINGS:
        return False
    return None


def convert_to_boolean(data: Any) -> bool:
    """True/False from a bool, 1/0 or a string such as "true", "True", "1", "yes" (as the CLI sends)."""
    value = parse_boolean(data)
    if value is None:
        raise InvalidInput(error_message=f"'{data}' cannot be converted to boolean")
    return value


def convert_to_int(data: Any) -> int:
    """Python's int() (so "5" -> 5), 400 InvalidInput otherwise."""
    try:
        return int(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(error_message=f"'{data}' is not an integer") from exc


def convert_to_int_if_not_none(data: Any) -> int | None:
    return None if data is None else convert_to_int(data)


def convert_none_to_empty_list(value: Any) -> Any:
    return [] if value is None else value


def convert_none_to_empty_dict(value: Any) -> Any:
    return {} if value is None else value


def convert_none_to_empty_string(value: Any) -> Any:
    return "" if value is None else value


def convert_to_list(data: Any) -> list[Any]:
    """None -> [], a string or scalar -> [it], any other iterable -> list(it)."""
    if data is None:
        return []
    if isinstance(data, str | bytes | dict) or not hasattr(data, "__iter__"):
        return [data]
    return list(data)


def identity(value: Any) -> Any:
    return value


# --- validators -----------------------------------------------------------------------------------


def is_uuid_like(value: Any) -> bool:
    """oslo's is_uuid_like: any spelling uuid.UUID accepts that round-trips (case and dashes free)."""
    if not isinstance(value, str):
        return False
    try:
        parsed = uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    bare = value.lower().replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    return parsed.hex == bare


def validate_uuid(data: Any) -> str | None:
    return None if is_uuid_like(data) else f"'{data}' is not a valid UUID"


def validate_uuid_or_none(data: Any) -> str | None:
    return None if data is None else validate_uuid(data)


def _duplicates(items: Sequence[Any]) -> list[Any]:
    seen: list[Any] = []
    dups: list[Any] = []
    for item in items:
        if item in seen and item not in dups:
            dups.append(item)
        seen.append(item)
    return dups


def list_validator(item_validator: Validator) -> Validator:
    """A list without duplicates whose every item passes `item_validator`."""

    def validate(data: Any) -> str | None:
        if not isinstance(data, list):
            return f"'{data}' is not a list"
        dups = _duplicates(data)
        if dups:
            return f"Duplicate items in the list: '{', '.join(str(d) for d in dups)}'"
        for item in data:
            reason = item_validator(item)
            if reason:
                return reason
        return None

    return validate


validate_uuid_list: Final = list_validator(validate_uuid)


def string_validator(max_len: int | None = NAME_MAX_LEN) -> Validator:
    def validate(data: Any) -> str | None:
        if not isinstance(data, str):
            return f"'{data}' is not a valid string"
        if max_len is not None and len(data) > max_len:
            return f"'{data}' exceeds maximum length of {max_len}"
        return None

    return validate


def string_or_none_validator(max_len: int | None = NAME_MAX_LEN) -> Validator:
    inner = string_validator(max_len)
    return lambda data: None if data is None else inner(data)


def values_validator(allowed: Sequence[Any]) -> Validator:
    """`data` must be one of `allowed` (Neutron's type:values)."""

    def validate(data: Any) -> str | None:
        try:
            ok = data in allowed
        except TypeError:
            ok = False
        return None if ok else f"{data} is not in valid_values"

    return validate


def range_validator(low: int | None, high: int | None) -> Validator:
    """An integer within [low, high] (None = unbounded), Neutron's type:range."""

    def validate(data: Any) -> str | None:
        try:
            value = int(data)
        except (ValueError, TypeError, OverflowError):
            return f"'{data}' is not an integer"
        if low is not None and value < low:
            return f"'{value}' is too small - must be at least '{low}'"
        if high is not None and value > high:
            return f"'{value}' is too large - must be no larger than '{high}'"
        return None

    return validate


def validate_non_negative(data: Any) -> str | None:
    try:
        value = int(data)
    except (ValueError, TypeError, OverflowError):
        return f"'{data}' is not an integer"
    return f"'{data}' should be non-negative" if value < 0 else None


def validate_boolean(data: Any) -> str | None:
    return None if parse_boolean(data) is not None else f"'{data}' is not a valid boolean value"


def allowed_values_list_validator(allowed: Iterable[str]) -> Validator:
    """A list whose values all come from `allowed` (networking-sfc's type:list_of_allowed_values)."""
    allowed_set = frozenset(allowed)

    def validate(data: Any) -> str | None:
        if not isinstance(data, list):
            return f"'{data}' is not a list"
        illegal = [str(v) for v in data if not _hashable_in(v, allowed_set)]
        if illegal:
            valid = ", ".join(sorted(allowed_set))
            return f"Illegal values in a list: {', '.join(sorted(set(illegal)))} (valid values: {valid})"
        return None

    return validate


def _hashable_in(value: Any, allowed: frozenset[str]) -> bool:
    try:
        return value in allowed
    except TypeError:
        return False


def validate_subnet(data: Any) -> str | None:
    """A CIDR string with a prefix length ("10.0.0.1/24" is accepted as given, "10.0.0.1" is not)."""
    reason = f"'{data}' is not a valid IP subnet"
    if not isinstance(data, str) or "/" not in data or re.search(r"\s", data):
        return reason
    try:
        iface = ipaddress.ip_interface(data)
    except ValueError:
        return reason
    if iface.version == 4 and str(iface) != data:
        return reason
    return None


def validate_subnet_or_none(data: Any) -> str | None:
    return None if data is None else validate_subnet(data)


def validate_ip_address(data: Any) -> str | None:
    reason = f"'{data}' is not a valid IP address"
    if not isinstance(data, str) or re.search(r"\s", data):
        return reason
    try:
        addr = ipaddress.ip_address(data)
    except ValueError:
        return reason
    if addr.version == 4 and str(addr) != data:
        return f"'{data}' is not an accepted IP address, '{addr}' is recommended"
    return None


_MAC_RE: Final = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")


def validate_mac_address(data: Any) -> str | None:
    ok = isinstance(data, str) and bool(_MAC_RE.match(data))
    ok = ok and data.replace("-", ":").lower() not in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff")
    return None if ok else f"'{data}' is not a valid MAC address"


@dataclass(frozen=True)
class KeySpec:
    """One key of a dict-valued attribute (Neutron's nested type:dict spec)."""

    converter: Converter | None = None
    validator: Validator | None = None
    required: bool = False


def dict_validator(specs: Mapping[str, KeySpec] | None = None) -> Validator:
    """A dict whose keys all have a spec and whose present values convert and validate."""

    def validate(data: Any) -> str | None:
        if not isinstance(data, dict):
            return f"'{data}' is not a dictionary"
        if not specs:
            return None
        missing = [k for k, s in specs.items() if s.required and k not in data]
        if missing:
            return f"Validation of dictionary's keys failed. Expected keys: {set(missing)}"
        unexpected = [str(k) for k in data if k not in specs]
        if unexpected:
            return f"Unexpected keys supplied: {', '.join(unexpected)} (valid keys: {', '.join(specs)})"
        for key, spec in specs.items():
            if key in data:
                value = spec.converter(data[key]) if spec.converter else data[key]
                reason = spec.validator(value) if spec.validator else None
                if reason:
                    return reason
        return None

    return validate


def dict_items_converter(specs: Mapping[str, KeySpec]) -> Converter:
    """Apply each key's converter to a dict that `dict_validator(specs)` accepted (a new dict)."""

    def convert(data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: _convert_item(specs.get(k), v) for k, v in data.items()}

    return convert


def _convert_item(spec: KeySpec | None, value: Any) -> Any:
    if spec is None or spec.converter is None:
        return value
    return spec.converter(value)


def compose(*converters: Converter) -> Converter:
    """Run converters left to right."""

    def convert(value: Any) -> Any:
        for conv in converters:
            value = conv(value)
        return value

    return convert
