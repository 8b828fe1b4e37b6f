"""A faster way through the live feed's usual selections, checked against graphql-core.

Every event is executed once per (selection, audience); graphql-core spends most of that time on
its general machinery (resolve infos, paths, awaitable checks) rather than on the fields. The
selections clients subscribe with are plain: fields without arguments or directives, no
fragments, objects and scalars, every resolver one that schema.py hands to graphql-core directly.
Such a selection is compiled here into a list of (response key, resolver, serializer) per level
and run without graphql-core. Anything else (another selection, a value not ready yet, a null
where the schema promises a value, an error) falls back to graphql-core, which produces the
answer and its errors as before; tests compare both paths' payloads event by event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

from graphql import (
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    SelectionSetNode,
    get_nullable_type,
    is_leaf_type,
)
from graphql.execution import Executor
from graphql.pyutils import Undefined

from renraku.schema import is_plain_resolver


class _Fallback(Exception):
    """This event needs graphql-core."""


@dataclass(frozen=True, slots=True)
class _Field:
    key: str
    resolve: Callable[[Any, Any], Any] | None  # None: __typename
    typename: str
    serialize: Callable[[Any], Any] | None  # a leaf's serializer
    fields: tuple[_Field, ...] | None  # an object's fields
    non_null: bool
    # A list of leaves (e.g. [String!]!): each item serialised; None where items may be null.
    list_of: bool | None = None


@dataclass(frozen=True, slots=True)
class _Info:
    """The part of graphql-core's resolve info that plain resolvers read."""

    context: Any


class CompiledSelection:
    def __init__(self, root_key: str, fields: tuple[_Field, ...], context: Any) -> None:
        self._root_key = root_key
        self._fields = fields
        self._info = _Info(context)

    def payload(self, root: Any) -> str | None:
        """The `next` payload for an event whose root object is `root`, as graphql-core would
        give it; None if this event must go through graphql-core."""
        data = self.data(root)
        return None if data is None else payload_json({"data": data})

    def data(self, root: Any) -> dict[str, Any] | None:
        """The result's data, as graphql-core would give it without errors; None if this event
        must go through graphql-core."""
        try:
            return {self._root_key: _complete(self._fields, root, self._info)}
        except Exception:  # _Fallback, or a resolver's error: graphql-core reports it
            return None


# json.dumps with these options builds an encoder per call; one, made once, gives the same text.
_PAYLOAD_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def payload_json(body: dict[str, Any]) -> str:
    """A `next` message's payload as sent, by both paths alike."""
    return _PAYLOAD_ENCODER.encode(body)


def compile_selection(executor: Executor[Any]) -> CompiledSelection | None:
    """The executor's subscription selection compiled, or None if it is not a plain one."""
    operation = executor.operation
    if executor.fragments or operation.directives:
        return None
    selections = operation.selection_set.selections
    root_type = executor.schema.subscription_type
    if len(selections) != 1 or root_type is None:
        return None
    root = selections[0]
    if not isinstance(root, FieldNode) or root.directives or root.selection_set is None:
        return None
    field = root_type.fields.get(root.name.value)
    if field is None:
        return None
    event_type = get_nullable_type(field.type)
    if not isinstance(event_type, GraphQLObjectType):
        return None
    fields = _compile(root.selection_set, event_type)
    if fields is None:
        return None
    key = root.alias.value if root.alias else root.name.value
    return CompiledSelection(key, fields, executor.context_value)


def _compile(
    selection_set: SelectionSetNode, parent: GraphQLObjectType
) -> tuple[_Field, ...] | None:
    compiled: list[_Field] = []
    keys: set[str] = set()
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            return None
        key = node.alias.value if node.alias else node.name.value
        if key in keys:  # graphql-core merges repeated keys; leave that to it
            return None
        keys.add(key)
        if node.name.value == "__typename":
            compiled.append(_Field(key, None, parent.name, None, None, True))
            continue
        definition = parent.fields.get(node.name.value)
        if definition is None or not is_plain_resolver(definition.resolve):
            return None
        named = get_nullable_type(definition.type)
        non_null = isinstance(definition.type, GraphQLNonNull)
        if is_leaf_type(named) and node.selection_set is None:
            compiled.append(_Field(key, definition.resolve, "", named.serialize, None, non_null))
        elif isinstance(named, GraphQLList) and node.selection_set is None:
            item = get_nullable_type(named.of_type)
            if not is_leaf_type(item):
                return None
            item_non_null = isinstance(named.of_type, GraphQLNonNull)
            compiled.append(
                _Field(key, definition.resolve, "", item.serialize, None, non_null, item_non_null)
            )
        elif isinstance(named, GraphQLObjectType) and node.selection_set is not None:
            inner = _compile(node.selection_set, named)
            if inner is None:
                return None
            compiled.append(_Field(key, definition.resolve, "", None, inner, non_null))
        else:  # lists, interfaces, unions
            return None
    return tuple(compiled)


def _leaf(serialize: Callable[[Any], Any], value: Any, non_null: bool) -> Any:
    if value is None:
        if non_null:
            raise _Fallback
        return None
    serialized = serialize(value)
    if serialized is None or serialized is Undefined:
        raise _Fallback
    return serialized


def _complete(fields: tuple[_Field, ...], source: Any, info: _Info) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in fields:
        if field.resolve is None:
            out[field.key] = field.typename
            continue
        value = field.resolve(source, info)
        if isinstance(value, CoroutineType):  # not loaded yet: graphql-core will await it
            value.close()
            raise _Fallback
        if value is None:
            if field.non_null:
                raise _Fallback
            out[field.key] = None
        elif field.fields is not None:
            out[field.key] = _complete(field.fields, value, info)
        elif field.list_of is not None:
            assert field.serialize is not None
            out[field.key] = [_leaf(field.serialize, item, field.list_of) for item in value]
        else:
            assert field.serialize is not None
            serialized = field.serialize(value)
            if serialized is None or serialized is Undefined:
                raise _Fallback
            out[field.key] = serialized
    return out
