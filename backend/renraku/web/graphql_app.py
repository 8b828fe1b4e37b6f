"""The /graphql endpoint: strawberry over Starlette, with Renraku's context."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from renraku.accounts.http import client_address, resolve_actor, runtime_of
from renraku.context import Context
from renraku.errors import Forbidden
from renraku.schema import RenrakuSchema


class RenrakuGraphQL(GraphQL[Context, None]):
    def decode_json(self, data: str | bytes) -> object:
        try:
            return super().decode_json(data)
        except RecursionError:
            # A hostile, deeply nested body: answer it as the malformed JSON it is.
            raise json.JSONDecodeError("nested too deeply", "", 0) from None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        runtime = runtime_of(request)
        try:
            actor = await resolve_actor(request)
        except Forbidden:
            # A cross-origin request riding the cookie is treated as signed out.
            actor = None
        return Context(
            runtime=runtime,
            request=request,
            response=response,
            actor=actor,
            client_address=client_address(request),
        )


def build_graphql(schema: RenrakuSchema, *, graphiql: bool) -> RenrakuGraphQL:
    return RenrakuGraphQL(
        schema,
        graphql_ide="graphiql" if graphiql else None,
        # Queries only by POST: a GET riding a cookie would dodge the Origin check.
        allow_queries_via_get=False,
        # WebSockets are served by realtime/ws.py; this app answers HTTP only.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        multipart_uploads_enabled=False,
    )
