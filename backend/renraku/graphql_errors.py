"""Every GraphQL error leaves with an `extensions.code`; anything unexpected is masked.

Our own errors (renraku.errors) carry their code; syntax and validation failures are
BAD_USER_INPUT; anything else becomes "Unexpected error." with code INTERNAL, so that no exception
text (which might hold patient data) reaches a client. The original is logged without its message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

from renraku.errors import RenrakuError

log = logging.getLogger("renraku.graphql")


def coded(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, RenrakuError):
        return GraphQLError(
            str(original),
            nodes=error.nodes,
            path=error.path,
            extensions=original.extensions,
        )
    # No path: the request failed before execution (syntax, validation, or a variable that does
    # not coerce to its type, e.g. an unknown enum value or a malformed Date), which graphql-core
    # reports with the scalar's exception attached.
    if original is None or error.path is None:
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={**(error.extensions or {}), "code": "BAD_USER_INPUT"},
        )
    log.error(
        "unexpected error in a resolver",
        extra={"error_type": type(original).__name__, "path": error.path},
    )
    return GraphQLError(
        "Unexpected error.", nodes=error.nodes, path=error.path, extensions={"code": "INTERNAL"}
    )


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [coded(e) for e in result.errors]
