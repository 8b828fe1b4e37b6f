"""The strawberry schema, composed from each domain's Query and Mutation."""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLError, GraphQLObjectType
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.base import StrawberryObjectDefinition

from renraku.accounts import graphql as accounts_graphql
from renraku.accounts import import_graphql, security_graphql
from renraku.audit import graphql as audit_graphql
from renraku.audit.extension import ReadAudit
from renraku.feed import events_graphql, lists_graphql, posts_graphql, vitals_graphql
from renraku.glass import graphql as glass_graphql
from renraku.graphql_errors import ErrorCodes
from renraku.notices import graphql as notices_graphql
from renraku.overlay import graphql as overlay_graphql
from renraku.overlay import live_graphql, priority_graphql, safety_graphql
from renraku.teams import graphql as teams_graphql
from renraku.teams import membership_graphql, offboarding_graphql, patients_graphql
from renraku.web.write_limit import WriteVolume

Query = merge_types(
    "Query",
    (
        accounts_graphql.Query,
        teams_graphql.Query,
        membership_graphql.Query,
        audit_graphql.Query,
        glass_graphql.Query,
        notices_graphql.Query,
        lists_graphql.Query,
        vitals_graphql.Query,
        overlay_graphql.Query,
        priority_graphql.Query,
        safety_graphql.Query,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        accounts_graphql.Mutation,
        security_graphql.Mutation,
        import_graphql.Mutation,
        patients_graphql.Mutation,
        membership_graphql.Mutation,
        glass_graphql.Mutation,
        notices_graphql.Mutation,
        posts_graphql.Mutation,
        overlay_graphql.Mutation,
        safety_graphql.Mutation,
        offboarding_graphql.Mutation,
    ),
)
Subscription = merge_types("Subscription", (events_graphql.Subscription, live_graphql.Subscription))

# Limits that keep one hostile query from costing the server much: nesting and size.
MAX_DEPTH = 12
MAX_TOKENS = 4000
DEPTH_RULE = create_validator(MAX_DEPTH, None, None)


# Parsed documents kept, by query text and parse options (the token limit); as many as validations.
PARSED_DOCUMENTS = 512
ParseKey = tuple[str, tuple[tuple[str, Any], ...]]


class ParsedDocuments(SchemaExtension):
    """Reuse the document parsed from the same query text. Only documents that parsed are kept,
    and a miss is parsed by strawberry as usual, so a syntax error or a query over the token limit
    is reported (through ErrorCodes) exactly as without the cache. Reusing the document object
    also lets the validation cache find it by identity rather than by comparing two trees."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema
        if (
            context.query is None
            or context.graphql_document is not None
            or not isinstance(schema, RenrakuSchema)
        ):
            yield
            return
        parsed = schema.parsed
        key = (context.query, tuple(sorted(context.parse_options.items())))
        document = parsed.get(key)
        if document is not None:
            parsed.move_to_end(key)
            context.graphql_document = document
        yield
        if document is None and context.graphql_document is not None:
            parsed[key] = context.graphql_document
            if len(parsed) > PARSED_DOCUMENTS:
                parsed.popitem(last=False)


class RenrakuSchema(strawberry.Schema):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The documents ParsedDocuments keeps, most recently used last: one cache per schema.
        self.parsed: OrderedDict[ParseKey, DocumentNode] = OrderedDict()

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # renraku.graphql_errors already logged what matters, without exception text.
        return None


def build_schema() -> RenrakuSchema:
    schema = _build()
    _call_plain_resolvers_directly(schema)
    return schema


def _call_plain_resolvers_directly(schema: RenrakuSchema) -> None:
    """Hand graphql-core each plain resolver itself (a method of the type taking nothing but
    `self`, e.g. `Post.body`, or `self` and `info`, e.g. `Post.author`), without strawberry's
    per-call wrapping: the live feed executes every event's selection, and that wrapping cost as
    much as the fields' own work. Such a resolver gets graphql-core's info, whose `context` is
    the only part of it Renraku's resolvers read. Resolvers with arguments, field extensions or
    permissions keep strawberry's path."""
    for name, graphql_type in schema._schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType) or name.startswith("__"):
            continue
        definition = schema.get_type_by_name(name)
        if not isinstance(definition, StrawberryObjectDefinition):
            continue
        for field in definition.fields:
            resolver = field.base_resolver
            if (
                resolver is None
                # Declarations alone (access/fields.py) take no part in resolving.
                or any(e.has_resolver for e in field.extensions)
                or field.permission_classes
                or resolver.arguments
                or resolver.root_parameter is not None
                or resolver.parent_parameter is not None
                or resolver.self_parameter is None
                or resolver.self_parameter.name != "self"
                or not inspect.isfunction(resolver.wrapped_func)
            ):
                continue
            graphql_name = schema.config.name_converter.get_graphql_name(field)
            graphql_field = graphql_type.fields.get(graphql_name)
            if graphql_field is not None:
                with_info = resolver.info_parameter is not None
                graphql_field.resolve = _direct(resolver.wrapped_func, with_info=with_info)


# Marks the resolvers graphql-core calls directly; the live feed's compiled selections
# (realtime/compiled.py) call them the same way.
PLAIN = "renraku_plain_resolver"


def is_plain_resolver(resolve: Callable[..., Any] | None) -> bool:
    """Whether graphql-core calls this field resolver as `resolve(source, info)` with no
    wrapping, no arguments, and an info of which only `context` is read."""
    return resolve is not None and getattr(resolve, PLAIN, False) is True


def _direct(method: Callable[..., Any], *, with_info: bool) -> Callable[..., Any]:
    if with_info:
        setattr(method, PLAIN, True)
        return method

    def resolve(source: Any, _info: Any) -> Any:
        return method(source)

    setattr(resolve, PLAIN, True)
    return resolve


def _build() -> RenrakuSchema:
    return RenrakuSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            ErrorCodes,
            ReadAudit,
            WriteVolume,
            # One depth rule for the process (a limiter per request would make a new rule class
            # each time, and no validation could ever be found in the cache below).
            lambda: AddValidationRules([DEPTH_RULE]),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            # Clients send the same few documents over and over: parse and validate each once.
            ParsedDocuments,
            lambda: ValidationCache(maxsize=512),
        ],
    )
