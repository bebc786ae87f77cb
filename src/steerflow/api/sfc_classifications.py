"""Classifications and classification groups (neutron-classifier's shape): reusable matches, AND and OR.

A classification's definition and a group's members are fixed at creation (only names and
descriptions change), so a group's expansion (`model.classification`, stored hidden with the group)
and the copy each flow classifier keeps of it never go stale; deleting what something uses is a 409.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from steerflow.api import attributes as attr
from steerflow.api import sfc_errors as err
from steerflow.api.attributes import Attribute, AttributeMap
from steerflow.api.base import StoredResource, can_see
from steerflow.api.context import Context
from steerflow.api.errors import NeutronError
from steerflow.model import classification as cls_terms
from steerflow.model import schema
from steerflow.nbdb.api import JsonDict, Operation
from steerflow.nbdb.txn import Snapshot

CLASSIFIER_PREFIX: Final = ""  # neutron-classifier's collections sit at /v2.0/ itself
CLASSIFIER_EXTENSION_ALIAS: Final = "neutron_classifier"


def _common() -> list[Attribute]:
    return [
        attr.id_attribute(),
        attr.name_attribute(),
        attr.description_attribute(),
        *attr.project_attributes(),
        Attribute("shared", default=False, converter=attr.convert_to_boolean),
    ]


def _not_negated(value: Any) -> str | None:
    return "negated classifications cannot be compiled to OpenFlow matches" if value else None


CLASSIFICATION: Final = AttributeMap(
    schema.CLASSIFICATION,
    [
        *_common(),
        Attribute("type", validator=attr.values_validator(cls_terms.CLASSIFICATION_TYPES)),
        Attribute("definition", validator=attr.dict_validator(), filter_converter=attr.identity),
        Attribute("negated", default=False, converter=attr.convert_to_boolean, validator=_not_negated),
    ],
)

CLASSIFICATION_GROUP: Final = AttributeMap(
    schema.CLASSIFICATION_GROUP,
    [
        *_common(),
        Attribute("operator", default="AND", validator=attr.values_validator(cls_terms.OPERATORS)),
        Attribute(
            "classifications",
            default=None,
            converter=attr.convert_none_to_empty_list,
            validator=attr.validate_uuid_list,
            filter_converter=attr.identity,
        ),
        Attribute(
            "classification_groups",
            default=None,
            converter=attr.convert_none_to_empty_list,
            validator=attr.validate_uuid_list,
            filter_converter=attr.identity,
        ),
        Attribute(schema.MATCH_TERMS, allow_post=False, default=None, is_visible=False),
    ],
)


def visible_or_shared(ctx: Context, obj: Mapping[str, Any]) -> bool:
    return bool(obj.get("shared")) or can_see(ctx, obj)


def referenced(ctx: Context, snap: Snapshot, kind: str, id: Any, not_found: type[NeutronError]) -> JsonDict:
    """The object `id` the caller may use (its own or a shared one), else the 404."""
    obj = snap.find(kind, id) if isinstance(id, str) else None
    if obj is None or not visible_or_shared(ctx, obj):
        raise not_found(id=id)
    return obj


def classification_term(obj: Mapping[str, Any]) -> cls_terms.Term:
    try:
        return cls_terms.definition_term(obj["type"], obj["definition"])
    except cls_terms.DefinitionError as exc:
        raise err.InvalidClassificationDefinition(c_type=obj["type"], reason=str(exc)) from exc


class _Shareable(StoredResource):
    path_prefix = CLASSIFIER_PREFIX
    extension_alias = CLASSIFIER_EXTENSION_ALIAS
    default_quota = 100

    def can_see(self, ctx: Context, obj: Mapping[str, Any]) -> bool:
        return visible_or_shared(ctx, obj)

    def _check_owner(self, ctx: Context, current: JsonDict) -> None:
        """A shared object is visible to all, but only its project (or an admin) changes it."""
        if not can_see(ctx, current):
            raise self.not_found(id=current["id"])

    def plan_update(
        self, ctx: Context, snap: Snapshot, current: JsonDict, changes: JsonDict
    ) -> tuple[JsonDict, list[Operation]]:
        """Only name and description change (the attribute maps refuse the rest), by the owner."""
        self._check_owner(ctx, current)
        return {**current, **changes}, []


class Classifications(_Shareable):
    """`/classifications`: one layer's match (ethernet, ipv4, ipv6, tcp, udp), by its definition."""

    resource = schema.CLASSIFICATION
    collection = "classifications"
    attributes = CLASSIFICATION
    not_found = err.ClassificationNotFound

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        classification_term(obj)
        return obj, []

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        self._check_owner(ctx, current)
        for group_id, group in sorted(snap.of(schema.CLASSIFICATION_GROUP).items()):
            if current["id"] in group.get("classifications", ()):
                raise err.ClassificationInUse(id=current["id"], group=group_id)
        return []


class ClassificationGroups(_Shareable):
    """`/classification_groups`: classifications and nested groups joined by AND or OR."""

    resource = schema.CLASSIFICATION_GROUP
    collection = "classification_groups"
    attributes = CLASSIFICATION_GROUP
    not_found = err.ClassificationGroupNotFound

    def plan_create(self, ctx: Context, snap: Snapshot, obj: JsonDict) -> tuple[JsonDict, list[Operation]]:
        members = _members(ctx, snap, obj["classifications"], obj["classification_groups"])
        if not members:
            raise err.InvalidClassificationGroup(
                reason="it needs at least one classification or classification group"
            )
        obj[schema.MATCH_TERMS] = cls_terms.to_json(_expand(obj["operator"], members))
        return obj, []

    def plan_delete(self, ctx: Context, snap: Snapshot, current: JsonDict) -> list[Operation]:
        self._check_owner(ctx, current)
        user = group_user(snap, current["id"])
        if user is not None:
            raise err.ClassificationGroupInUse(id=current["id"], user=user)
        return []


def group_user(snap: Snapshot, group_id: str) -> str | None:
    """What uses the group: a group nesting it or a flow classifier referencing it, as text."""
    for other_id, other in sorted(snap.of(schema.CLASSIFICATION_GROUP).items()):
        if group_id in other.get("classification_groups", ()):
            return f"Classification Group {other_id}"
    for fc_id, fc in sorted(snap.of(schema.FLOW_CLASSIFIER).items()):
        if fc.get("classification_group_id") == group_id:
            return f"Flow Classifier {fc_id}"
    return None


Member = tuple[str, cls_terms.Disjunction]  # (how the error names it, its terms)


def _members(
    ctx: Context, snap: Snapshot, classifications: Sequence[str], groups: Sequence[str]
) -> list[Member]:
    found: list[Member] = []
    for c_id in classifications:
        obj = referenced(ctx, snap, schema.CLASSIFICATION, c_id, err.ClassificationNotFound)
        found.append((f"classification {c_id}", (classification_term(obj),)))
    for g_id in groups:
        obj = referenced(ctx, snap, schema.CLASSIFICATION_GROUP, g_id, err.ClassificationGroupNotFound)
        found.append((f"classification group {g_id}", cls_terms.from_json(obj.get(schema.MATCH_TERMS) or ())))
    return found


def _expand(operator: str, members: Sequence[Member]) -> cls_terms.Disjunction:
    parts = [terms for _, terms in members]
    try:
        terms = cls_terms.conjunction(parts) if operator == "AND" else cls_terms.disjunction(parts)
    except cls_terms.DefinitionError as exc:
        raise err.InvalidClassificationGroup(reason=str(exc)) from exc
    if not terms:
        raise err.InvalidClassificationGroup(reason=_contradiction(members))
    return terms


def _contradiction(members: Sequence[Member]) -> str:
    """Which two members of an AND no packet matches together (the first such pair)."""
    for i, (first, mine) in enumerate(members):
        for second, theirs in members[i + 1 :]:
            if not cls_terms.overlaps(mine, theirs):
                field = (
                    cls_terms.contradicting_field(mine[0], theirs[0])
                    if len(mine) == len(theirs) == 1
                    else None
                )
                why = f"they set {field} differently" if field else "AND of contradicting fields"
                return f"no packet matches both {first} and {second} ({why})"
    return "no packet matches all of its members together (AND of contradicting fields)"
