"""Every field reachable from a patient declares its rule on the field (or its type declares
that its fields are read with the object), so the schema itself shows what each field needs."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLSchema, get_named_type

from renraku.access.fields import (
    CheckedBy,
    PerViewer,
    Requires,
    declared_with_object,
    rules_of,
    with_object,
)
from renraku.access.vocabulary import Obj
from renraku.schema import build_schema

ROOTS = ("Patient", "Post", "FeedEvent", "PriorityEntry")
_DEFINITION = "strawberry-definition"


def undeclared(schema: GraphQLSchema, roots: tuple[str, ...]) -> list[str]:
    """`Type.field` of every field reachable from `roots` with no rule of its own on a type
    that does not declare its fields read with the object."""
    missing: list[str] = []
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        graphql_type = schema.type_map.get(name)
        if name in seen or not isinstance(graphql_type, GraphQLObjectType):
            continue
        seen.add(name)
        definition = (graphql_type.extensions or {}).get(_DEFINITION)
        with_type = definition is not None and declared_with_object(definition.origin)
        for field_name, field in graphql_type.fields.items():
            if not rules_of(field) and not with_type:
                missing.append(f"{name}.{field_name}")
            todo.append(get_named_type(field.type).name)
    return sorted(missing)


def _field(schema: GraphQLSchema, type_name: str, field_name: str) -> Any:
    graphql_type = schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    return graphql_type.fields[field_name]


def test_every_field_reachable_from_a_patient_has_a_declared_rule() -> None:
    assert undeclared(build_schema()._schema, ROOTS) == []


@strawberry.type
class WalkSecret:
    note: str


@with_object
@strawberry.type
class WalkRecord:
    id: str
    secret: WalkSecret


@strawberry.type
class WalkQuery:
    record: WalkRecord | None = None


def test_the_walk_finds_a_field_without_a_rule() -> None:
    schema = strawberry.Schema(query=WalkQuery)._schema
    assert undeclared(schema, ("WalkRecord",)) == ["WalkSecret.note"]


def test_rules_that_protect_patient_data_are_declared_on_their_fields() -> None:
    schema = build_schema()._schema
    expected = {
        ("Patient", "birthDate"): Obj.PATIENT,
        ("Patient", "phone"): Obj.PATIENT_CONTACTS,
        ("Patient", "contacts"): Obj.PATIENT_CONTACTS,
        ("Patient", "risk"): Obj.PATIENT_RISK,
        ("Patient", "consents"): Obj.CONSENT,
        ("Patient", "consentHistory"): Obj.CONSENT,
        ("Patient", "careTeam"): Obj.TEAM,
        ("Patient", "accessHistory"): Obj.PATIENT_AUDIT,
        ("CareTeam", "members"): Obj.TEAM,
        ("Post", "readBy"): Obj.POST_RECEIPTS,
        ("Post", "acknowledgedBy"): Obj.POST_RECEIPTS,
        ("Post", "awaitingAcknowledgement"): Obj.POST_RECEIPTS,
    }
    for (type_name, field_name), obj in expected.items():
        rules = rules_of(_field(schema, type_name, field_name))
        assert [r.obj for r in rules if isinstance(r, Requires)] == [obj], field_name


def test_the_viewers_own_fields_are_declared_per_viewer() -> None:
    schema = build_schema()._schema
    for field_name in ("unreadCount", "urgentUnreadCount"):
        rules = rules_of(_field(schema, "Patient", field_name))
        assert any(isinstance(r, PerViewer) for r in rules)
        assert any(isinstance(r, CheckedBy) for r in rules)
