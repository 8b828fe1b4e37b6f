"""Field rules declared on the GraphQL fields themselves, so the schema shows what each needs.

Every field reachable from a patient carries a rule (tests/access/test_field_rules.py walks the
schema to hold that):
- `Requires(obj, act)`: asked of the policy for the patient the object belongs to, before the
  resolver runs; NOT_FOUND for a patient the viewer cannot see, FORBIDDEN for one they can see
  without that right (the field is then null with the error).
- `PerViewer()`: the value is the asking viewer's own (an unread count), beyond their roles.
- `CheckedBy("...")`: the answer depends on how the viewer may read the notebook (all posts or
  only those shared with family), so the named access/ function decides it inside the resolver
  and hands the scope on; named here so the schema still shows where the rule lives.
- `WithObject`, declared on a type: its other fields are readable by whoever may read the object
  (the rule of the field that led to it decided that).

The live feed reads these declarations to decide which part of a subscription's selection may be
executed once for an audience (viewers with the same roles on the event's patient: every
`Requires` answers alike for them) and which must be executed for each viewer
(realtime/split.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from strawberry.extensions.field_extension import FieldExtension

from renraku.access.vocabulary import Act, Obj, check_words

# Where strawberry keeps a GraphQL field's own definition (graphql-core's field.extensions).
_DEFINITION = "strawberry-definition"
_WITH_OBJECT = "__renraku_with_object__"

T = TypeVar("T")


@runtime_checkable
class OfPatient(Protocol):
    """A GraphQL object that belongs to one patient's record."""

    @property
    def patient_pk(self) -> int: ...


class FieldRule(FieldExtension):
    """A declared rule; `per_viewer` if the value depends on who asks, not only their roles."""

    per_viewer = False


class PerViewer(FieldRule):
    """The field's value is the asking viewer's own: never shared between viewers.

    It takes no part in resolving (strawberry leaves an extension without resolve methods out of
    the resolve chain); the resolver itself decides who may read it."""

    per_viewer = True


class Requires(FieldRule):
    """The viewer needs `act` on `obj` for the object's patient (policies/roles.csv)."""

    def __init__(self, obj: Obj, act: Act = Act.READ) -> None:
        check_words(obj=obj, act=act)
        self.obj = obj
        self.act = act

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        if not isinstance(source, OfPatient):
            raise TypeError(f"{type(source).__name__} does not belong to a patient")
        await info.context.gate.require(source.patient_pk, self.obj.value, self.act.value)
        return await next_(source, info, **kwargs)


class CheckedBy(FieldRule):
    """The field's rule is `check`, an access/ function its resolver calls (by name)."""

    def __init__(self, check: str) -> None:
        self.check = check


def with_object(cls: type[T]) -> type[T]:
    """Declare that the type's fields without a rule of their own are readable by whoever may
    read the object (apply above @strawberry.type)."""
    setattr(cls, _WITH_OBJECT, True)
    return cls


def rules_of(graphql_field: Any) -> list[FieldRule]:
    """The rules declared on a graphql-core field."""
    definition = (getattr(graphql_field, "extensions", None) or {}).get(_DEFINITION)
    return [e for e in getattr(definition, "extensions", None) or () if isinstance(e, FieldRule)]


def is_per_viewer(graphql_field: Any) -> bool:
    """Whether a graphql-core field was declared PerViewer."""
    return any(rule.per_viewer for rule in rules_of(graphql_field))


def declared_with_object(origin: type) -> bool:
    return getattr(origin, _WITH_OBJECT, False) is True
