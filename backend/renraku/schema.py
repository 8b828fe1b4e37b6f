"""The strawberry schema, composed from each domain's Query and Mutation."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, QueryDepthLimiter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from renraku.accounts import graphql as accounts_graphql
from renraku.accounts import import_graphql
from renraku.accounts import mutations as accounts_mutations
from renraku.graphql_errors import ErrorCodes
from renraku.teams import graphql as teams_graphql
from renraku.teams import mutations as teams_mutations

Query = merge_types("Query", (accounts_graphql.Query, teams_graphql.Query, teams_mutations.Query))
Mutation = merge_types(
    "Mutation",
    (
        accounts_graphql.Mutation,
        accounts_mutations.Mutation,
        import_graphql.Mutation,
        teams_mutations.Mutation,
    ),
)

# Limits that keep one hostile query from costing the server much: nesting and size.
MAX_DEPTH = 12
MAX_TOKENS = 4000


class RenrakuSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # renraku.graphql_errors already logged what matters, without exception text.
        return None


def build_schema() -> strawberry.Schema:
    return RenrakuSchema(
        query=Query,
        mutation=Mutation,
        extensions=[
            ErrorCodes,
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        ],
    )
