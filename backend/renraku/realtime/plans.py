"""Which plans run for an event: one per audience and part, one per viewer for what is their
own, built on first use and handed each batch's rows; and the payloads sent live, remembered
for replays by audience."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from graphql import GraphQLSchema

from renraku.access.fields import answers
from renraku.access.notebook import Scope, scope_of
from renraku.feed.models import FeedEvent
from renraku.loaders import Loaders
from renraku.realtime.batch import Batch
from renraku.realtime.compiled import payload_json
from renraku.realtime.execution import SHARED, VIEWER, WHOLE, EventExecutor, Plan
from renraku.realtime.split import Mismatch, Selection, classify
from renraku.realtime.subscriptions import Audience, LiveSubscription
from renraku.runtime import Runtime

# Subscription selections classified (shared, split or per viewer), by selection key.
REMEMBERED_SELECTIONS = 512
# Audience plans kept for live dispatch.
KEPT_PLANS = 512
# Results sent live, remembered so that a replay (a phone back from a tunnel while its teammates
# were online) sends what live subscribers received instead of executing the document again.
REMEMBERED_PAYLOADS = 20_000

PlanKey = tuple[str, Hashable, str]


class Selections:
    """The subscriptions' selections, classified once per selection key, and plans built for
    their viewers."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self._schema = schema
        self._classified: OrderedDict[str, Selection] = OrderedDict()

    def of(self, sub: LiveSubscription) -> Selection:
        found = self._classified.get(sub.key)
        if found is None:
            found = classify(self._schema, sub.document, sub.operation_name)
            self._classified[sub.key] = found
            if len(self._classified) > REMEMBERED_SELECTIONS:
                self._classified.popitem(last=False)
        return found

    def audience(self, sub: LiveSubscription, held: frozenset[str]) -> Audience:
        """The viewers `sub`'s viewer, holding `held` on an event's patient, shares results
        with."""
        return (sub.key, answers(self.of(sub).asks, held))

    def plan(
        self, sub: LiveSubscription, held: frozenset[str], loaders: Loaders, part: str
    ) -> Plan:
        """`part` of `sub`'s document with its variables and a context of `sub`'s viewer, ready
        to run per event for readers holding `held` on the event's patient (rows read for the
        whole batch in `loaders`; the events were access-checked before)."""
        selection = self.of(sub)
        document = {SHARED: selection.shared, VIEWER: selection.viewer}.get(part) or sub.document
        context = sub.socket.context()
        context.use_loaders(loaders)
        built = EventExecutor.build(
            self._schema,
            document,
            context_value=context,
            raw_variable_values=sub.variables,
            operation_name=sub.operation_name,
        )
        return Plan(built, context, sub.key, held, part)


class Plans:
    """The plans of one batch of events, built on first use: one per audience and part, one per
    subscriber and part for what is a viewer's own. Plans of the same scope share the batch's
    rows (the family filter is the scope's)."""

    def __init__(
        self,
        runtime: Runtime,
        selections: Selections,
        rows: Batch | None,
        kept: OrderedDict[PlanKey, Plan] | None = None,
    ) -> None:
        self._runtime = runtime
        self._selections = selections
        self._rows = rows
        # Live dispatch keeps audience plans across batches (one dispatch runs at a time, so a
        # kept plan is never handed two batches' rows at once); a replay builds its own.
        self._kept = kept
        self._loaders: dict[Scope, Loaders] = {}
        self._shared: dict[PlanKey, Plan] = {}
        self._own: dict[tuple[LiveSubscription, frozenset[str], str], Plan] = {}

    def audience(
        self, sub: LiveSubscription, held: frozenset[str], audience: Audience, part: str
    ) -> Plan:
        """A plan whose results every subscriber of `audience` may be sent (`sub` is one of
        them, holding `held`)."""
        key = (*audience, part)
        plan = self._shared.get(key)
        if plan is not None:
            return plan
        kept = self._kept
        plan = kept.get(key) if kept is not None else None
        if plan is None:
            plan = self._selections.plan(sub, held, self._loaders_for(held), part)
            if kept is not None:
                kept[key] = plan
                if len(kept) > KEPT_PLANS:
                    kept.popitem(last=False)
        else:
            assert kept is not None
            kept.move_to_end(key)
            plan.use(self._loaders_for(held))
        self._shared[key] = plan
        return plan

    def own(self, sub: LiveSubscription, held: frozenset[str], part: str) -> Plan:
        """A plan for `sub`'s viewer alone: built once for the subscription (building one
        costs more than running it) and handed this batch's rows."""
        key = (sub, held, part)
        plan = self._own.get(key)
        if plan is None:
            plan = sub.plans.get((held, part))
            if plan is None:
                plan = sub.plans[(held, part)] = self._selections.plan(
                    sub, held, self._loaders_for(held), part
                )
            else:
                plan.use(self._loaders_for(held))
            self._own[key] = plan
        return plan

    async def merged(
        self,
        sub: LiveSubscription,
        held: frozenset[str],
        event: FeedEvent,
        shared: dict[str, Any] | None,
    ) -> str:
        """A per-viewer selection's result for `sub`: the audience's shared part merged with the
        viewer's own, or the whole selection executed for the viewer if they do not merge."""
        if shared is not None:
            mine = await self.own(sub, held, VIEWER).data(event)
            if mine is not None:
                with contextlib.suppress(Mismatch):
                    selection = self._selections.of(sub)
                    return payload_json({"data": selection.merge(shared, mine)})
        return await self.own(sub, held, WHOLE).run(event)

    def _loaders_for(self, held: frozenset[str]) -> Loaders:
        scope = scope_of(held) or Scope.FAMILY  # no roles: a removal notice, nothing to read
        loaders = self._loaders.get(scope)
        if loaders is None:
            loaders = self._loaders[scope] = (
                self._rows.loaders(self._runtime, scope)
                if self._rows is not None
                else Loaders(self._runtime.db, family=scope is Scope.FAMILY)
            )
        return loaders


class Remembered:
    """Payloads sent live, by audience and event id; oldest forgotten first."""

    def __init__(self, size: int = REMEMBERED_PAYLOADS) -> None:
        self._size = size
        self._sent: OrderedDict[tuple[str, Hashable, int], str] = OrderedDict()

    def add(self, audience: Audience, event_id: int, payload: str) -> None:
        self._sent[(*audience, event_id)] = payload
        if len(self._sent) > self._size:
            self._sent.popitem(last=False)

    def get(self, audience: Audience, event_id: int) -> str | None:
        return self._sent.get((*audience, event_id))
