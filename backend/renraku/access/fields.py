"""Field rules declared on the GraphQL fields themselves, so the schema shows what each needs.

Every field reachable from a patient carries a rule (tests/access/test_field_rules.py walks the
schema to hold that):
- `Requires(obj, act)`: asked of the policy for the patient the object belongs to, before the
  resolver runs; NOT_FOUND for a patient the viewer cannot see, FORBIDDEN for one they can see
  without that right (the field is then null with the error).
- `PerViewer()`: the value is the asking viewer's own (an unread count), beyond their roles.
- `CheckedBy("...", asks=...)`: the named access/ function decides inside the resolver (how the
  viewer may read the notebook, all posts or only those shared with family, and the policy
  questions listed in `asks`); named here so the schema still shows where the rule lives.
- `WithObject`, declared on a type: its other fields are readable by whoever may read the object
  (the rule of the field that led to it decided that).

The live feed reads these declarations to decide which part of a subscription's selection may be
executed once for an audience and which must be executed for each viewer (realtime/split.py),
and who is in an audience: the viewers to whom every rule the selection reaches answers alike
(`answers`), such as a patient's coordinator and members for a selection no rule tells apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from functools import lru_cache
from typing import Any, Protocol, TypeVar, runtime_checkable

from strawberry.extensions.field_extension import FieldExtension

from renraku.access.enforcer import allowed
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


# A question put to the policy: (object, action), as in policies/roles.csv.
Question = tuple[str, str]


class FieldRule(FieldExtension):
    """A declared rule; `per_viewer` if the value depends on who asks, not only their roles.

    `asks`: the policy questions on which the field's answer depends, besides how the viewer
    reads the notebook (which every rule may depend on); None when the rule does not say, so
    that only viewers holding the same roles share the answer."""

    per_viewer = False
    asks: frozenset[Question] | None = frozenset()


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
        self.asks = frozenset({(obj.value, act.value)})

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        if not isinstance(source, OfPatient):
            raise TypeError(f"{type(source).__name__} does not belong to a patient")
        await info.context.gate.require(source.patient_pk, self.obj.value, self.act.value)
        return await next_(source, info, **kwargs)


class CheckedBy(FieldRule):
    """The field's rule is `check`, an access/ function its resolver calls (by name), which
    decides from the viewer's notebook scope and the policy's answers to `asks` (None: it may
    look at the viewer's roles in any way)."""

    def __init__(self, check: str, *, asks: Iterable[tuple[Obj, Act]] | None) -> None:
        self.check = check
        if asks is None:
            self.asks = None
        else:
            pairs = list(asks)
            for obj, act in pairs:
                check_words(obj=obj, act=act)
            self.asks = frozenset((obj.value, act.value) for obj, act in pairs)


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


# The questions that decide whether a viewer sees the patient and how they read the notebook
# (all posts, or those shared with family): every rule's answer may depend on those.
_NOTEBOOK: frozenset[Question] = frozenset(
    (obj.value, Act.READ.value) for obj in (Obj.PATIENT, Obj.TIMELINE, Obj.TIMELINE_FAMILY)
)


@lru_cache(maxsize=4096)  # few selections' questions and role sets; the policy is fixed
def answers(asks: frozenset[Question] | None, roles: frozenset[str]) -> Hashable:
    """What a selection whose rules ask `asks` (None: anything of the roles) answers a viewer
    holding `roles`: viewers with equal answers get equal results, so the live feed executes
    the selection once for all of them."""
    if asks is None:
        return roles
    return frozenset(q for q in asks | _NOTEBOOK if allowed(roles, *q))


def declared_with_object(origin: type) -> bool:
    return getattr(origin, _WITH_OBJECT, False) is True
