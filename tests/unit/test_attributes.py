"""The attribute layer and the generic stored-resource handler, on a toy resource."""

from __future__ import annotations

from typing import Any

import pytest

from steerflow.api import attributes as A  # noqa: N812
from steerflow.api.base import StoredResource
from steerflow.api.context import Context
from steerflow.api.errors import HTTPBadRequest, InvalidInput, NeutronError, NotFound, OverQuota
from steerflow.model import schema
from steerflow.nbdb.memory import MemoryStore

UUID = "6a3f6a36-3a0f-4b6e-9d6f-1f1f1f1f1f1f"

WIDGET = A.AttributeMap(
    "widget",
    [
        A.id_attribute(),
        A.name_attribute(),
        A.description_attribute(),
        *A.project_attributes(),
        A.Attribute(schema.PORT, validator=A.validate_uuid),
        A.Attribute("size", allow_put=True, default=1, converter=A.convert_to_int),
        A.Attribute("enabled", allow_put=True, default=False, converter=A.convert_to_boolean),
        A.Attribute(
            "tags",
            allow_put=True,
            default=None,
            converter=A.convert_none_to_empty_list,
            validator=A.validate_uuid_list,
            filter_converter=A.identity,
        ),
    ],
)


class WidgetNotFound(NotFound):
    template = "Widget %(id)s not found."


class Widgets(StoredResource):
    resource = "widget"
    collection = "widgets"
    attributes = WIDGET
    not_found = WidgetNotFound
    default_quota = 2


ALICE = Context("alice")
BOB = Context("bob")
ADMIN = Context.admin("admin")


def raises(exc: type[NeutronError], status: int, fn: Any, *args: Any) -> NeutronError:
    with pytest.raises(exc) as info:
        fn(*args)
    assert info.value.status == status
    return info.value


def test_post_fills_defaults_converts_and_sets_both_project_keys() -> None:
    res = WIDGET.prepare_post(ALICE, {schema.PORT: UUID, "size": "5", "enabled": "True"})
    assert res == {
        "name": "",
        "description": "",
        "tenant_id": "alice",
        "project_id": "alice",
        schema.PORT: UUID,
        "size": 5,
        "enabled": True,
        "tags": [],
    }


@pytest.mark.parametrize(
    ("body", "exc", "message"),
    [
        ({schema.PORT: UUID, "colour": 1}, HTTPBadRequest, "Unrecognized attribute(s) 'colour'"),
        ({}, HTTPBadRequest, "Failed to parse request. Required attribute 'port' not specified"),
        ({schema.PORT: "x"}, HTTPBadRequest, "Invalid input for port. Reason: 'x' is not a valid UUID."),
        ({schema.PORT: UUID, "id": UUID}, HTTPBadRequest, "Attribute 'id' not allowed in POST"),
        (
            {schema.PORT: UUID, "size": "x"},
            InvalidInput,
            "Invalid input for operation: 'x' is not an integer.",
        ),
        (
            {schema.PORT: UUID, "enabled": "maybe"},
            InvalidInput,
            "Invalid input for operation: 'maybe' cannot be converted to boolean.",
        ),
        (
            {schema.PORT: UUID, "tags": [UUID, UUID]},
            HTTPBadRequest,
            f"Invalid input for tags. Reason: Duplicate items in the list: '{UUID}'.",
        ),
        (
            {schema.PORT: UUID, "name": "n" * 256},
            HTTPBadRequest,
            f"Invalid input for name. Reason: '{'n' * 256}' exceeds maximum length of 255.",
        ),
        (
            {schema.PORT: UUID, "project_id": "bob"},
            HTTPBadRequest,
            "Specifying 'project_id' other than the authenticated project in request is not allowed "
            "for the current user.",
        ),
        (
            {schema.PORT: UUID, "project_id": "a", "tenant_id": "b"},
            HTTPBadRequest,
            "'project_id' and 'tenant_id' do not match",
        ),
        ("nope", HTTPBadRequest, "Object 'widget' contains invalid data"),
    ],
)
def test_post_errors(body: Any, exc: type[NeutronError], message: str) -> None:
    err = raises(exc, 400, WIDGET.prepare_post, ALICE, body)
    assert err.message == message


def test_admin_may_create_for_another_project_via_either_key() -> None:
    for key in ("project_id", "tenant_id"):
        res = WIDGET.prepare_post(ADMIN, {schema.PORT: UUID, key: "bob"})
        assert (res["project_id"], res["tenant_id"]) == ("bob", "bob")


def test_put_rejects_read_only_and_converts() -> None:
    err = raises(HTTPBadRequest, 400, WIDGET.prepare_put, ALICE, {schema.PORT: UUID})
    assert err.message == (
        "Cannot update read-only attribute port: it is set when the widget is created "
        "(create a new widget to change it)"
    )
    err = raises(HTTPBadRequest, 400, WIDGET.prepare_put, ALICE, {"tenant_id": "alice"})
    assert err.message.startswith("Cannot update read-only attribute tenant_id: it is set when")
    assert WIDGET.prepare_put(ALICE, {"size": "7"}) == {"size": 7}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(True, True), ("true", True), ("True", True), ("1", True), (1, True), ("yes", True)],
        *[(False, False), ("false", False), ("0", False), (0, False), ("off", False)],
    ],
)
def test_convert_to_boolean(raw: Any, expected: bool) -> None:
    assert A.convert_to_boolean(raw) is expected


@pytest.mark.parametrize(
    ("validator", "value", "reason"),
    [
        (A.validate_uuid, UUID.upper(), None),
        (A.validate_uuid, UUID.replace("-", ""), None),
        (A.validate_uuid, 5, "'5' is not a valid UUID"),
        (A.validate_uuid_list, "x", "'x' is not a list"),
        (A.validate_subnet, "10.0.0.1/24", None),
        (A.validate_subnet, "10.0.0.1", "'10.0.0.1' is not a valid IP subnet"),
        (A.validate_subnet, "2001:db8::/64", None),
        (A.range_validator(0, 10), 11, "'11' is too large - must be no larger than '10'"),
        (A.range_validator(0, 10), -1, "'-1' is too small - must be at least '0'"),
        (A.values_validator(["a"]), "b", "b is not in valid_values"),
        (
            A.allowed_values_list_validator(["a"]),
            ["a", "foo"],
            "Illegal values in a list: foo (valid values: a)",
        ),
        (A.dict_validator({"a": A.KeySpec()}), {"b": 1}, "Unexpected keys supplied: b (valid keys: a)"),
        (A.dict_validator(), [], "'[]' is not a dictionary"),
        (A.validate_non_negative, -1, "'-1' should be non-negative"),
        (A.validate_mac_address, "fa:16:3e:00:00:01", None),
        (A.validate_ip_address, "010.0.0.1", "'010.0.0.1' is not a valid IP address"),
    ],
)
def test_validators(validator: A.Validator, value: Any, reason: str | None) -> None:
    assert validator(value) == reason


# --- StoredResource ---------------------------------------------------------------------------------


def test_crud_and_project_isolation() -> None:
    store = MemoryStore()
    widgets = Widgets(store)
    w = widgets.create(ALICE, {schema.PORT: UUID, "name": "w1"})
    assert widgets.get(ALICE, w["id"]) == w
    assert widgets.get(ADMIN, w["id"]) == w
    before = store.revision()
    raises(WidgetNotFound, 404, widgets.get, BOB, w["id"])
    raises(WidgetNotFound, 404, widgets.update, BOB, w["id"], {"name": "x"})
    raises(WidgetNotFound, 404, widgets.delete, BOB, w["id"])
    assert store.revision() == before
    assert widgets.list(BOB, {}) == []
    assert widgets.update(ALICE, w["id"], {"name": "w2"})["name"] == "w2"
    widgets.delete(ALICE, w["id"])
    raises(WidgetNotFound, 404, widgets.get, ALICE, w["id"])


def test_update_without_change_writes_nothing() -> None:
    store = MemoryStore()
    widgets = Widgets(store)
    w = widgets.create(ALICE, {schema.PORT: UUID, "name": "w1"})
    before = store.revision()
    assert widgets.update(ALICE, w["id"], {"name": "w1"}) == w
    assert store.revision() == before


def test_list_filters_convert_or_and_ignore_unknown() -> None:
    widgets = Widgets(MemoryStore(), quota=-1)
    a = widgets.create(ALICE, {schema.PORT: UUID, "name": "a", "size": 1, "tags": [UUID]})
    b = widgets.create(ALICE, {schema.PORT: UUID, "name": "b", "size": 2, "enabled": True})

    def ids(filters: dict[str, list[str]]) -> list[str]:
        return sorted(w["id"] for w in widgets.list(ALICE, filters))

    assert ids({"size": ["2"]}) == [b["id"]]
    assert ids({"enabled": ["true"]}) == [b["id"]]
    assert ids({"name": ["a", "b"]}) == sorted([a["id"], b["id"]])
    assert ids({"bogus": ["1"]}) == sorted([a["id"], b["id"]])
    assert ids({"tags": [UUID]}) == [a["id"]]
    assert ids({"name": ["a"], "size": ["2"]}) == []


def test_quota_is_per_project() -> None:
    store = MemoryStore()
    widgets = Widgets(store)
    for _ in range(2):
        widgets.create(ALICE, {schema.PORT: UUID})
    before = store.revision()
    err = raises(OverQuota, 409, widgets.create, ALICE, {schema.PORT: UUID})
    assert err.message == "Quota exceeded for resources: ['widget']."
    assert store.revision() == before
    widgets.create(BOB, {schema.PORT: UUID})
