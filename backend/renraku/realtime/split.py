"""A subscription's selection, split into what an audience shares and what is each viewer's own.

The live feed executes a selection once for an audience: the viewers to whom every rule the
selection reaches answers alike on the event's patient (DESIGN.md "Fan-out";
access.fields.answers), such as a patient's coordinator and members when the selection asks
nothing that tells them apart. Fields declared `PerViewer` (access/fields.py) answer differently
for each viewer, so a selection holding
one is split in two documents: the shared one (those fields taken out) runs once per audience,
the viewer's one (only the paths down to those fields) runs per viewer, and the two results are
merged in the original order. Whenever the two parts cannot be told apart with certainty
(fragments, directives, repeated keys) the whole selection runs per viewer; so does an event
whose parts report an error (graphql-core's null propagation then decides the answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
)
from graphql.type import GraphQLInterfaceType, GraphQLObjectType

from renraku.access.fields import FieldRule, Question, is_per_viewer, rules_of

# Keeps a selection set that lost all its fields to the viewer's part valid; not in any answer.
_KEPT = "_renrakuKept"


class Mismatch(Exception):
    """The shared and the viewer's results do not line up (an object null in one only)."""


@dataclass(frozen=True)
class Selection:
    """How the feed executes one subscription document."""

    # Some field's value is the viewer's own: never send one viewer's result to another.
    per_viewer: bool
    # The policy questions its rules ask (None: one may ask anything of the viewer's roles):
    # viewers whose answers are equal form one audience (access.fields.answers).
    asks: frozenset[Question] | None = None
    # Both None when the selection must run whole for each viewer.
    shared: DocumentNode | None = None
    viewer: DocumentNode | None = None
    # The original operation, whose field order the merged result follows.
    operation: OperationDefinitionNode | None = None

    def merge(self, shared: dict[str, Any], viewer: dict[str, Any]) -> dict[str, Any]:
        assert self.operation is not None
        return _merge(shared, viewer, self.operation.selection_set)


def classify(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Selection:
    """The document's selection: shared by an audience, split, or run whole per viewer."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    operation = next(
        (
            o
            for o in operations
            if operation_name is None or (o.name and o.name.value == operation_name)
        ),
        None,
    )
    root = schema.subscription_type
    if operation is None or root is None:
        return Selection(per_viewer=True)  # invalid here: graphql-core reports it per viewer
    rules = list(_rules_reached(schema, operation.selection_set, root, fragments, set()))
    asks = _asks(rules)
    if not any(rule.per_viewer for rule in rules):
        return Selection(per_viewer=False, asks=asks)
    if fragments or not _plain(operation.selection_set) or operation.directives:
        return Selection(per_viewer=True, asks=asks)
    shared = _without_per_viewer(operation.selection_set, root)
    viewer = _only_per_viewer(operation.selection_set, root)
    if shared is None or viewer is None:  # the subscription field itself cannot be split
        return Selection(per_viewer=True, asks=asks)
    return Selection(
        per_viewer=True,
        asks=asks,
        shared=_document(operation, shared),
        viewer=_document(operation, viewer),
        operation=operation,
    )


def _document(operation: OperationDefinitionNode, selection_set: SelectionSetNode) -> DocumentNode:
    return DocumentNode(
        definitions=(
            OperationDefinitionNode(
                operation=operation.operation,
                name=operation.name,
                variable_definitions=operation.variable_definitions,
                directives=(),
                selection_set=selection_set,
            ),
        )
    )


def _field_of(parent: Any, node: FieldNode) -> Any:
    fields = getattr(parent, "fields", None)
    return None if fields is None else fields.get(node.name.value)


def _rules_reached(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode,
    parent: Any,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> Iterator[FieldRule]:
    """The rules of every field the selection may select (conservative: every field counts,
    whatever directives or type conditions would leave out)."""
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            field = _field_of(parent, node)
            if field is None:
                continue  # __typename, or an invalid field that validation refuses
            yield from rules_of(field)
            if node.selection_set is not None:
                for child in _possible_types(schema, get_named_type(field.type)):
                    yield from _rules_reached(schema, node.selection_set, child, fragments, seen)
        elif isinstance(node, InlineFragmentNode):
            for child in _condition(schema, node.type_condition, parent):
                yield from _rules_reached(schema, node.selection_set, child, fragments, seen)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            for child in _condition(schema, fragment.type_condition, parent):
                yield from _rules_reached(
                    schema, fragment.selection_set, child, fragments, seen | {name}
                )


def _asks(rules: list[FieldRule]) -> frozenset[Question] | None:
    """Every policy question the rules ask; None if one of them does not say what it asks."""
    asked: set[Question] = set()
    for rule in rules:
        if rule.asks is None:
            return None
        asked |= rule.asks
    return frozenset(asked)


def _condition(schema: GraphQLSchema, condition: Any, parent: Any) -> list[Any]:
    if condition is None:
        return [parent]
    return _possible_types(schema, schema.get_type(condition.name.value))


def _possible_types(schema: GraphQLSchema, named: Any) -> list[Any]:
    if named is None:
        return []
    if is_abstract_type(named):
        return [*schema.get_possible_types(named), named]
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        return [named]
    return []


def _plain(selection_set: SelectionSetNode) -> bool:
    """Only fields, no directives, no response key twice, at every level."""
    keys: set[str] = set()
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives:
            return False
        key = _key(node)
        if key in keys:
            return False
        keys.add(key)
        if node.selection_set is not None and not _plain(node.selection_set):
            return False
    return True


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _with(node: FieldNode, selection_set: SelectionSetNode) -> FieldNode:
    return FieldNode(
        alias=node.alias,
        name=node.name,
        arguments=node.arguments,
        directives=node.directives,
        selection_set=selection_set,
    )


def _without_per_viewer(selection_set: SelectionSetNode, parent: Any) -> SelectionSetNode | None:
    """The selection less its PerViewer fields (None if nothing is left at the root)."""
    kept: list[FieldNode] = []
    for node in selection_set.selections:
        assert isinstance(node, FieldNode)
        field = _field_of(parent, node)
        if field is not None and is_per_viewer(field):
            continue
        if field is not None and node.selection_set is not None:
            inner = _without_per_viewer(node.selection_set, get_named_type(field.type))
            node = _with(node, inner or _kept_only())
        kept.append(node)
    return SelectionSetNode(selections=tuple(kept)) if kept else None


def _kept_only() -> SelectionSetNode:
    return SelectionSetNode(
        selections=(FieldNode(alias=NameNode(value=_KEPT), name=NameNode(value="__typename")),)
    )


def _only_per_viewer(selection_set: SelectionSetNode, parent: Any) -> SelectionSetNode | None:
    """The paths down to PerViewer fields, and nothing else (None if there are none)."""
    kept: list[FieldNode] = []
    for node in selection_set.selections:
        assert isinstance(node, FieldNode)
        field = _field_of(parent, node)
        if field is None:
            continue
        if is_per_viewer(field):
            kept.append(node)
        elif node.selection_set is not None:
            inner = _only_per_viewer(node.selection_set, get_named_type(field.type))
            if inner is not None:
                kept.append(_with(node, inner))
    return SelectionSetNode(selections=tuple(kept)) if kept else None


def _merge(
    shared: dict[str, Any], viewer: dict[str, Any], selection_set: SelectionSetNode
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for node in selection_set.selections:
        assert isinstance(node, FieldNode)
        key = _key(node)
        if key in viewer and key in shared:
            merged[key] = _merge_value(shared[key], viewer[key], node.selection_set)
        elif key in viewer:
            merged[key] = viewer[key]
        elif key in shared:
            merged[key] = shared[key]
        else:
            raise Mismatch
    return merged


def _merge_value(shared: Any, viewer: Any, selection_set: SelectionSetNode | None) -> Any:
    if shared is None and viewer is None:
        return None
    if selection_set is None:
        raise Mismatch  # a leaf in both parts: never made by the split
    if isinstance(shared, dict) and isinstance(viewer, dict):
        return _merge(shared, viewer, selection_set)
    if isinstance(shared, list) and isinstance(viewer, list) and len(shared) == len(viewer):
        return [_merge_value(s, v, selection_set) for s, v in zip(shared, viewer, strict=True)]
    raise Mismatch
