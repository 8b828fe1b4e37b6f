"""The strawberry schema, composed from each domain's Query and Mutation."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ValidationCache,
)
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from renraku.access import glass_graphql
from renraku.accounts import graphql as accounts_graphql
from renraku.accounts import import_graphql
from renraku.accounts import mutations as accounts_mutations
from renraku.audit import graphql as audit_graphql
from renraku.audit.extension import ReadAudit
from renraku.feed import events_graphql
from renraku.feed import graphql as feed_graphql
from renraku.feed import mutations as feed_mutations
from renraku.feed import queries as feed_queries
from renraku.graphql_errors import ErrorCodes
from renraku.notices import graphql as notices_graphql
from renraku.overlay import graphql as overlay_graphql
from renraku.teams import graphql as teams_graphql
from renraku.teams import mutations as teams_mutations
from renraku.teams import offboarding_graphql

Query = merge_types(
    "Query",
    (
        accounts_graphql.Query,
        teams_graphql.Query,
        teams_mutations.Query,
        audit_graphql.Query,
        glass_graphql.Query,
        notices_graphql.Query,
        feed_graphql.Query,
        feed_queries.Query,
        overlay_graphql.Query,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        accounts_graphql.Mutation,
        accounts_mutations.Mutation,
        import_graphql.Mutation,
        teams_mutations.Mutation,
        glass_graphql.Mutation,
        notices_graphql.Mutation,
        feed_graphql.Mutation,
        feed_mutations.Mutation,
        overlay_graphql.Mutation,
        offboarding_graphql.Mutation,
    ),
)

# Limits that keep one hostile query from costing the server much: nesting and size.
MAX_DEPTH = 12
MAX_TOKENS = 4000
DEPTH_RULE = create_validator(MAX_DEPTH, None, None)


class RenrakuSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # renraku.graphql_errors already logged what matters, without exception text.
        return None


def build_schema() -> RenrakuSchema:
    return RenrakuSchema(
        query=Query,
        mutation=Mutation,
        subscription=events_graphql.Subscription,
        extensions=[
            ErrorCodes,
            ReadAudit,
            # One depth rule for the process (a limiter per request would make a new rule class
            # each time, and no validation could ever be found in the cache below).
            lambda: AddValidationRules([DEPTH_RULE]),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            # Clients send the same few documents over and over: validate each once. (No parser
            # cache: a syntax error raised from it would bypass ErrorCodes.)
            lambda: ValidationCache(maxsize=512),
        ],
    )
