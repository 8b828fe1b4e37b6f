"""Replaying stored events to one subscriber from its cursor, in batches, access checked once
per batch, while live events for it wait in its buffer; then handing it over to live delivery.
Each replayed result is computed for the viewer now (or is what live subscribers of the same
audience were sent)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from renraku.access.notebook import Scope, may_receive, scope_of
from renraku.access.scopes import roles_of_user, roles_on
from renraku.feed import events as feed_events
from renraku.feed.models import FeedEvent
from renraku.kinds import FeedAudience
from renraku.metrics import FEED_DELIVERIES
from renraku.realtime.batch import Batch, kind_of, rows_named, wiped
from renraku.realtime.execution import SHARED, WHOLE
from renraku.realtime.live_audit import LiveAudit
from renraku.realtime.plans import Plans, Remembered, Selections
from renraku.realtime.subscriptions import NO_ROLES, LiveSubscription
from renraku.runtime import Runtime

log = logging.getLogger("renraku.realtime")

REPLAY_BATCH = 500


class Replayer:
    def __init__(
        self,
        runtime: Runtime,
        selections: Selections,
        remembered: Remembered,
        audit: LiveAudit,
        lose: Callable[[LiveSubscription], None],
    ) -> None:
        self._runtime = runtime
        self._selections = selections
        self._remembered = remembered
        self._audit = audit
        self._lose = lose

    async def replay(self, sub: LiveSubscription) -> None:
        try:
            while await self._batch(sub):
                pass
            # Live events that arrived meanwhile, in order; then straight delivery.
            while sub.buffer:
                pending, sub.buffer = sorted(sub.buffer, key=lambda e: e[0].id or 0), []
                plans = Plans(self._runtime, self._selections, None)
                for event, held in pending:
                    if event.id is not None and event.id > sub.last_id:
                        await self._deliver(sub, event, await self.payload(sub, held, event, plans))
            sub.replaying = False
        except Exception:
            log.exception("replay failed")
            sub.socket.close_soon(1011, "replay failed")

    async def payload(
        self, sub: LiveSubscription, held: frozenset[str], event: FeedEvent, plans: Plans
    ) -> str:
        """A replayed event's result for `sub`, computed for the viewer now: what live
        subscribers of the same audience were sent if it is remembered, else executed. Family
        always get the post as it is now: one hidden from them since is not sent again."""
        assert event.id is not None
        if not held:
            return await plans.own(sub, held, WHOLE).run(wiped(event))
        selection = self._selections.of(sub)
        if selection.per_viewer:
            shared = None
            if selection.shared is not None:
                shared = await plans.own(sub, held, SHARED).data(event)
            return await plans.merged(sub, held, event, shared)
        payload = self._remembered_for(sub, event, held)
        if payload is None:
            payload = await plans.own(sub, held, WHOLE).run(event)
            self._remembered.add(self._selections.audience(sub, held), event.id, payload)
        return payload

    async def _deliver(self, sub: LiveSubscription, event: FeedEvent, payload: str) -> None:
        """Waits for room in the socket's queue (only this subscriber's replay waits), so a
        replay longer than the queue reaches a client that keeps reading."""
        await sub.socket.send_next_waiting(sub.sub_id, payload)
        sub.delivered(event)
        FEED_DELIVERIES.inc()

    def _remembered_for(
        self, sub: LiveSubscription, event: FeedEvent, held: frozenset[str]
    ) -> str | None:
        """What live subscribers of `sub`'s audience were sent for `event`, if it may be sent
        again: never to a removed viewer, nor to family (a post hidden from them since is not
        sent again), nor for a selection with fields of the viewer's own."""
        if event.id is None or not held or scope_of(held) is Scope.FAMILY:
            return None
        if self._selections.of(sub).per_viewer:
            return None
        return self._remembered.get(self._selections.audience(sub, held), event.id)

    async def _batch(self, sub: LiveSubscription) -> bool:
        """Send the next batch of stored events after the subscriber's cursor; True if more."""
        mine = sub.patient_id is None
        async with self._runtime.db.session() as session:
            if not mine:
                assert sub.patient_id is not None
                found = await roles_on(session, sub.actor, [sub.patient_id])
            else:
                found = await roles_of_user(session, sub.actor)
            readable = {pid: r for pid, r in found.items() if scope_of(r) is not None}
            if not mine and not readable:
                self._lose(sub)
                return False
            batch = await feed_events.events_after(
                session,
                after=sub.last_id,
                patient_ids=list(readable),
                limit=REPLAY_BATCH,
                removals_of=sub.actor.user_id if mine else None,
            )
            todo = [(e, readable.get(e.patient_id, NO_ROLES)) for e in batch]
            todo = [
                (e, held)
                for e, held in todo
                if may_receive(kind_of(e), FeedAudience(e.audience), held)
                or (not held and mine and e.subject_user_id == sub.actor.user_id)
            ]
            # Only the events not remembered need their rows.
            missed = [e for e, held in todo if self._remembered_for(sub, e, held) is None]
            posts, users = await rows_named(session, missed)
        plans = Plans(self._runtime, self._selections, Batch(roles={}, posts=posts, users=users))
        delivered: set[int] = set()
        count = 0
        for event, held in todo:
            if sub.ended:
                return False
            await self._deliver(sub, event, await self.payload(sub, held, event, plans))
            if held:
                delivered.add(event.patient_id)
            count += 1
        if batch and batch[-1].id is not None and batch[-1].id > sub.last_id:
            sub.last_id = batch[-1].id  # past events not for this reader at the end of the batch
        if delivered:
            await self._audit.record(sub, delivered, events=count, what="replay")
        sub.take_audit()
        return len(batch) == REPLAY_BATCH
