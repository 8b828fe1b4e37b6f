"""A subscription document built once and run per event: compiled where it can be, else by
graphql-core (realtime/compiled.py says which)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from graphql import ExecutionResult, GraphQLError, GraphQLObjectType
from graphql.execution import Executor, execute_subscription_event
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList

from renraku.context import Context
from renraku.feed.events_graphql import FeedEvent as FeedEventObject
from renraku.feed.models import FeedEvent
from renraku.graphql_errors import coded
from renraku.loaders import Loaders
from renraku.metrics import FEED_EXECUTIONS
from renraku.realtime.compiled import compile_selection, payload_json

# Which document a plan runs: the subscription's whole selection, the part an audience shares,
# or the viewer's own part (realtime/split.py).
WHOLE, SHARED, VIEWER = "whole", "shared", "viewer"


def payload(result: ExecutionResult) -> str:
    """`result` as the JSON of a `next` message's payload."""
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [dict(coded(e).formatted) for e in result.errors]
    return payload_json(body)


class EventExecutor(Executor[Context]):
    """graphql-core's executor, remembering each selection's collected subfields for all the
    events of a plan. graphql-core keys that memo by the identity of a list built anew for every
    event, so each event collected the same selections again (and the memo, shared by the
    per-event copies, only grew); here the key is the selection's own nodes. The documents the
    feed runs have no @defer and no fragment arguments, so the nodes decide the result."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Shared with the per-event copies (build_per_event_executor copies shallowly).
        self._by_nodes: dict[tuple[GraphQLObjectType, tuple[int, ...]], CollectedFields] = {}

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CollectedFields:
        key = (return_type, tuple(id(details.node) for details in field_details_list))
        found = self._by_nodes.get(key)
        if found is None:
            found = self._by_nodes[key] = super().collect_subfields(return_type, field_details_list)
        return found


class Plan:
    """A subscription document built once (variables coerced, operation found), run per event."""

    def __init__(
        self,
        built: Executor[Context] | list[GraphQLError],
        context: Context,
        key: str,
        held: frozenset[str],
        part: str,
    ) -> None:
        self._built = built
        self._context = context
        self._held = held
        # The audience it runs for: its selection's key and the roles held.
        self.key = (key, held)
        self._executed = FEED_EXECUTIONS.labels(part)
        self._compiled = None if isinstance(built, list) else compile_selection(built)

    def use(self, loaders: Loaders) -> None:
        """Run on another batch's rows."""
        self._context.use_loaders(loaders)

    def _for(self, event: FeedEvent) -> FeedEventObject:
        self._executed.inc()
        # The viewer's roles on the event's patient are those the hub decided on (a plan kept
        # from an earlier batch may hold older ones).
        if self._held and self._context.actor is not None:
            self._context.gate.prime(event.patient_id, self._held, force=True)
        return FeedEventObject(row=event)

    async def run(self, event: FeedEvent) -> str:
        """The result for `event`, as the JSON of a `next` message's payload."""
        if isinstance(self._built, list):  # variables were checked at subscribe time
            return payload(ExecutionResult(data=None, errors=self._built))
        root = self._for(event)
        if self._compiled is not None:
            found = self._compiled.payload(root)
            if found is not None:
                return found
        return payload(await self._execute(self._built, root))

    async def data(self, event: FeedEvent) -> dict[str, Any] | None:
        """The result's data for `event`, or None if it has errors (or no data)."""
        if isinstance(self._built, list):
            return None
        root = self._for(event)
        if self._compiled is not None:
            data = self._compiled.data(root)
            if data is not None:
                return data
        result = await self._execute(self._built, root)
        return None if result.errors else result.data

    @staticmethod
    async def _execute(built: Executor[Context], root: FeedEventObject) -> ExecutionResult:
        result = execute_subscription_event(built.build_per_event_executor(root))
        if isinstance(result, Awaitable):
            result = await result
        return result
