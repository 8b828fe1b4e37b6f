"""A subscribe message's document: checked against the schema, its one root field and
arguments, and the key that says which subscriptions receive the same results."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    VariableNode,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import Visitor

from renraku.realtime.compiled import payload_json
from renraku.realtime.subscriptions import INCIDENT_UPDATES, MY_EVENTS, PATIENT_EVENTS
from renraku.schema import DEPTH_RULE, MAX_TOKENS, RenrakuSchema


def checked(
    schema: RenrakuSchema, query: str, operation_name: str | None
) -> tuple[DocumentNode, OperationDefinitionNode]:
    """The parsed document, valid against the schema, and the operation to run; else raises
    the first error."""
    document = parse(query, max_tokens=MAX_TOKENS)
    rules = [*specified_rules, DEPTH_RULE]
    errors = validate(schema._schema, document, rules)
    if errors:
        raise errors[0]
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        raise GraphQLError("Name the operation to run.")
    return document, operation


class _RootArgumentVariables(Visitor):
    """Variables used only in the root field's arguments do not change an event's result."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.counts[node.name.value] = self.counts.get(node.name.value, 0) + 1


def selection_key(operation: OperationDefinitionNode, query: str, variables: dict[str, Any]) -> str:
    """The part of a subscription that decides its results: the document and the variables
    used below the root field (not `patientId` or `after`)."""
    everywhere = _RootArgumentVariables()
    visit(operation.selection_set, everywhere)
    root = operation.selection_set.selections[0]
    at_root = _RootArgumentVariables()
    if isinstance(root, FieldNode):
        for argument in root.arguments or ():
            visit(argument, at_root)
    used = {n for n, c in everywhere.counts.items() if c > at_root.counts.get(n, 0)}
    relevant = {k: v for k, v in sorted(variables.items()) if k in used}
    return payload_json({"q": query, "v": relevant})  # the same compact JSON as a payload


def root_field(
    schema: RenrakuSchema,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The one root field of a subscription and its argument values (variables coerced)."""
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        raise GraphQLError("Subscribe to exactly one field.")
    node = selections[0]
    name = node.name.value
    if name not in (PATIENT_EVENTS, MY_EVENTS, INCIDENT_UPDATES):
        raise GraphQLError("Subscribe to patientEvents, myEvents or incidentUpdates.")
    subscription_type = schema._schema.subscription_type
    assert subscription_type is not None
    coerced = get_variable_values(
        schema._schema, operation.variable_definitions or (), variables, max_errors=10
    )
    if isinstance(coerced, list):
        raise coerced[0]
    return name, get_argument_values(subscription_type.fields[name], node, coerced)
