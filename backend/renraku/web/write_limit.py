"""The write-volume limit on GraphQL: each mutation field is a write, counted per account per
minute (throttle.py WriteLimit) before the operation runs.

A phone's outbox that floods the server, or a script gone wrong, is answered RATE_LIMITED (with
when to retry) before anything is written; queries and subscriptions are not counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from renraku.context import Context
from renraku.errors import RateLimited


class WriteVolume(SchemaExtension):
    """Applies the limit to each mutation operation before it runs."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        operation = self._operation()
        if (
            isinstance(context, Context)
            and context.actor is not None
            and operation is not None
            and operation.operation is OperationType.MUTATION
        ):
            writes = sum(
                1
                for node in operation.selection_set.selections
                if not (isinstance(node, FieldNode) and node.name.value == "__typename")
            )
            try:
                await context.runtime.write_limit.take(context.actor.user_id, writes)
            except RateLimited as refused:
                # Set before execution: strawberry then runs nothing.
                error = GraphQLError(str(refused), original_error=refused)
                self.execution_context.result = ExecutionResult(data=None, errors=[error])
        yield

    def _operation(self) -> OperationDefinitionNode | None:
        document = self.execution_context.graphql_document
        if document is None:
            return None
        return get_operation_ast(document, self.execution_context.operation_name)
