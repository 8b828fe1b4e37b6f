"""The live feed inside one process: events in commit order, access re-checked, results shared.

One hub per worker listens to the broker's feed channel and keeps a dispatch cursor: it hands out
events strictly in id order, fetching from the database whatever the broker skipped or lost (a
message published out of order by another worker, a Redis restart, a failed publish), and it also
polls the database now and then, so a lost signal delays an event but never drops it.

Events are read in batches (realtime/batch.py); for each event the hub drops subscribers who lost
access (a patientEvents subscription then ends with NOT_FOUND), groups the rest by audience (the
same selection, the same answers to the rules it reaches), executes the document once per
audience with the event as root value (realtime/plans.py), serialises once, and queues the same
bytes on every socket of the audience (DESIGN.md "Fan-out"). Replays are realtime/replay.py's;
auditing what was sent is realtime/live_audit.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from typing import Any

from graphql import GraphQLSchema

from renraku import revocations
from renraku.access.notebook import may_receive, scope_of
from renraku.feed import events as feed_events
from renraku.feed.models import FeedEvent
from renraku.kinds import FeedAudience
from renraku.metrics import FEED_COMMIT_TO_SEND, FEED_DELIVERIES, FEED_SUBSCRIPTIONS
from renraku.realtime.access_checks import close_lapsed_sessions, on_access_message
from renraku.realtime.background import every, listen, spawn
from renraku.realtime.batch import Batch, kind_of, removed_subject, wiped
from renraku.realtime.execution import SHARED, WHOLE, Plan
from renraku.realtime.live_audit import LiveAudit
from renraku.realtime.plans import PlanKey, Plans, Remembered, Selections
from renraku.realtime.replay import REPLAY_BATCH, Replayer
from renraku.realtime.subscriptions import (
    MY_EVENTS,
    NO_ROLES,
    PATIENT_EVENTS,
    SLOW_CONSUMER,
    TOO_FAR_BEHIND,
    Audience,
    LiveSubscription,
    Socket,
    not_found_errors,
)
from renraku.runtime import Runtime

__all__ = [
    "MY_EVENTS",
    "PATIENT_EVENTS",
    "SLOW_CONSUMER",
    "TOO_FAR_BEHIND",
    "FeedHub",
    "LiveSubscription",
    "Socket",
]

log = logging.getLogger("renraku.realtime")

# How often the database is asked for events the broker did not bring.
POLL_SECONDS = 2.0
# How often subscriptions due an audit record are looked for (realtime/live_audit.py).
AUDIT_TICK_SECONDS = 1.0


class FeedHub:
    def __init__(self, runtime: Runtime, schema: GraphQLSchema) -> None:
        self._runtime = runtime
        self._by_patient: dict[int, set[LiveSubscription]] = defaultdict(set)
        self._mine_by_user: dict[int, set[LiveSubscription]] = defaultdict(set)
        self._sockets: set[Socket] = set()
        self._last: int | None = None
        self._dispatching = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = asyncio.Lock()
        self._selections = Selections(schema)
        self._remembered = Remembered()
        self._audit = LiveAudit(runtime)
        self._replayer = Replayer(
            runtime, self._selections, self._remembered, self._audit, self._lose
        )
        # Live dispatch's audience plans, kept from batch to batch (building one costs more than
        # running it, and a steady feed commits one event per batch); most recently used last.
        self._kept: OrderedDict[PlanKey, Plan] = OrderedDict()
        # A commit of this process found a catch-up under way (which then reads once more), and
        # those commits (last event id, committed at) not yet sent.
        self._behind = False
        self._own_commits: list[tuple[int, float]] = []

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._started:
            if self._tasks:
                return
            async with self._runtime.db.session() as session:
                self._last = await feed_events.latest_id(session)
            feed_events.listen_here(self._runtime.broker, self)
            broker = self._runtime.broker
            session_check = float(self._runtime.settings.ws_session_check_seconds)
            self._tasks = [
                # Whatever was published while the hub was not listening is in the database.
                spawn(listen(broker, feed_events.CHANNEL, self._on_feed, self._catch_up), "feed"),
                spawn(listen(broker, revocations.CHANNEL, self._on_access), "access"),
                spawn(every(POLL_SECONDS, self._catch_up), "poll"),
                spawn(every(AUDIT_TICK_SECONDS, self._audit.tick), "audit"),
                spawn(every(session_check, self._check_sessions), "sessions"),
            ]

    async def close(self) -> None:
        feed_events.listen_here(self._runtime.broker, None)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._audit.everyone()

    # -- sockets and subscriptions ------------------------------------------------------------

    def add_socket(self, socket: Socket) -> None:
        self._sockets.add(socket)

    def remove_socket(self, socket: Socket, subscriptions: Iterable[LiveSubscription]) -> None:
        self._sockets.discard(socket)
        for sub in subscriptions:
            self.remove(sub)

    async def add(self, sub: LiveSubscription, *, after: int | None) -> None:
        """Start delivering to `sub`: live only, or replay from `after` first, then live."""
        await self.start()
        if sub.ended:
            return  # its socket went while the hub started
        assert self._last is not None
        if after is None:
            sub.last_id = self._last
        else:
            sub.last_id = after
            sub.replaying = True
        sub.live = True
        FEED_SUBSCRIPTIONS.inc()
        self._audit.watch(sub)
        if sub.field_name == PATIENT_EVENTS:
            assert sub.patient_id is not None
            self._by_patient[sub.patient_id].add(sub)
        else:
            self._mine_by_user[sub.actor.user_id].add(sub)
        if after is not None:
            sub.replay_task = spawn(self._replayer.replay(sub), "replay")

    def remove(self, sub: LiveSubscription) -> None:
        if sub.live:
            sub.live = False
            FEED_SUBSCRIPTIONS.dec()
        sub.ended = True
        task = sub.replay_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        if sub.patient_id is not None:
            subs = self._by_patient.get(sub.patient_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_patient[sub.patient_id]
        else:
            mine = self._mine_by_user.get(sub.actor.user_id)
            if mine is not None:
                mine.discard(sub)
                if not mine:
                    del self._mine_by_user[sub.actor.user_id]
        self._audit.forget(sub)

    def _lose(self, sub: LiveSubscription) -> None:
        """The subscriber may no longer see the patient: end that subscription with NOT_FOUND."""
        if sub.ended:
            return
        self.remove(sub)
        sub.socket.send_error(sub.sub_id, not_found_errors())
        sub.socket.end_subscription(sub.sub_id)

    # -- the dispatch cursor ------------------------------------------------------------------

    async def _on_feed(self, message: dict[str, Any]) -> None:
        event = feed_events.from_message(message)
        if event is None or event.id is None:
            return
        assert self._last is not None
        if event.id > self._last:
            # The message is a hint; the events themselves are read from the database, in order
            # (another worker's publish may overtake this one, a message may be lost, and
            # anything else on the channel is not to be trusted with what it says). Whatever is
            # committed is read, so a burst of publishes costs one catch-up, not one each.
            await self._catch_up()

    async def committed(self, rows: list[FeedEvent], prepared: object, at: float) -> None:
        """Events committed in this process (at `at`, epoch seconds), delivered straight away if
        they are the next ones. If a catch-up is under way, it reads once more before it lets
        go, so they need no hint; if another's events came between, the broker's hint that
        follows brings them all from the database in order."""
        if self._last is None or not rows:
            return
        last = rows[-1].id
        assert last is not None
        if self._dispatching.locked():
            self._behind = True
            self._own_commits.append((last, at))
            return
        async with self._dispatching:  # free: taken without waiting
            if rows[0].id != self._last + 1:
                return
            await self._dispatch(rows, prepared if isinstance(prepared, Batch) else None)
        FEED_COMMIT_TO_SEND.observe(time.time() - at)
        # Let the sockets' writers send before the committing request goes on with its reply.
        await asyncio.sleep(0)

    async def _catch_up(self) -> None:
        async with self._dispatching:
            while True:
                assert self._last is not None
                # Set by a commit of this process that found this catch-up under way.
                self._behind = False
                async with self._runtime.db.session() as session:
                    batch = await feed_events.events_after(
                        session, after=self._last, patient_ids=None, limit=REPLAY_BATCH
                    )
                    prepared = await self.prepare(session, batch)
                await self._dispatch(batch, prepared)
                self._sent_own_commits()
                if len(batch) < REPLAY_BATCH and not self._behind:
                    return

    def _sent_own_commits(self) -> None:
        """This process's commits that waited for a catch-up and are now sent: timed."""
        assert self._last is not None
        now = time.time()
        waiting = []
        for last, at in self._own_commits:
            if last <= self._last:
                FEED_COMMIT_TO_SEND.observe(now - at)
            else:
                waiting.append((last, at))
        self._own_commits = waiting

    async def prepare(self, session: Any, batch: list[FeedEvent]) -> Batch | None:
        """Who may see each event's patient, and the rows the events name: a few queries for the
        whole batch (access re-checked for every event, batched). Also called by the transaction
        that stores events in this process, before its commit: what holds at that commit."""
        patients = {e.patient_id for e in batch if self._listened(e.patient_id)}
        if not patients:
            return None
        return await Batch.read(session, patients, batch, self._own_fields_heard)

    def _own_fields_heard(self, patient_id: int) -> set[int]:
        """The users who may hear of `patient_id` through a subscription whose selection holds
        fields of their own: what those read (unread counts, the patient's row) is read with
        the batch, so their own part runs without waiting on the database."""

        def own_fields(sub: LiveSubscription) -> bool:
            return not sub.ended and self._selections.of(sub).per_viewer

        users = {s.actor.user_id for s in self._by_patient.get(patient_id, ()) if own_fields(s)}
        for user_id, subs in self._mine_by_user.items():
            if any(own_fields(s) for s in subs):
                users.add(user_id)
        return users

    def _plans(self, prepared: Batch | None) -> Plans:
        return Plans(self._runtime, self._selections, prepared, kept=self._kept)

    async def _dispatch(self, batch: list[FeedEvent], prepared: Batch | None) -> None:
        """Deliver each event to every local subscriber allowed to see it; advance the cursor."""
        # One execution plan per audience (and per viewer, for their own fields) for the batch.
        plans = self._plans(prepared)
        for event in batch:
            assert event.id is not None
            if self._listened(event.patient_id):
                if prepared is None or event.patient_id not in prepared.patients:
                    # A subscriber came after the batch was read: read for it now.
                    prepared = await self._cover(prepared, event)
                    plans = self._plans(prepared)
                await self._dispatch_one(event, prepared, plans)
            # Only now: if anything above failed, the next catch-up retries this event
            # (subscribers that already have it skip it by their own cursor).
            self._last = event.id

    def _listened(self, patient_id: int) -> bool:
        return bool(self._mine_by_user) or patient_id in self._by_patient

    async def _cover(self, prepared: Batch | None, event: FeedEvent) -> Batch:
        async with self._runtime.db.session() as session:
            more = await Batch.read(session, {event.patient_id}, [event], self._own_fields_heard)
        return more if prepared is None else prepared.merged(more)

    async def _dispatch_one(self, event: FeedEvent, prepared: Batch, plans: Plans) -> None:
        # The row's attributes read once: each read of a mapped attribute goes through the ORM.
        event_id, patient_id = event.id, event.patient_id
        assert event_id is not None
        listening = list(self._by_patient.get(patient_id, ()))
        roles = prepared.roles.get(patient_id, {})
        removed = removed_subject(event, roles)
        if self._mine_by_user:
            for user_id in roles:
                listening.extend(self._mine_by_user.get(user_id, ()))
            if removed is not None:
                listening.extend(self._mine_by_user.get(removed, ()))
        kind, audience = kind_of(event), FeedAudience(event.audience)
        groups: dict[Audience, list[LiveSubscription]] = defaultdict(list)
        # Each audience's roles: those of the first of its subscribers (all answer alike).
        roles_of: dict[Audience, frozenset[str]] = {}
        for sub in listening:
            if event_id <= sub.last_id or sub.ended:
                continue
            user_id = sub.actor.user_id
            held = roles.get(user_id, NO_ROLES)
            if scope_of(held) is None:
                if sub.field_name == PATIENT_EVENTS:
                    self._lose(sub)
                    continue
                if removed != user_id:
                    continue
            elif not may_receive(kind, audience, held):
                continue
            if sub.replaying:
                sub.buffer.append((event, held))
                if len(sub.buffer) > self._runtime.settings.ws_queue_limit:
                    sub.socket.close_soon(SLOW_CONSUMER, TOO_FAR_BEHIND)
                continue
            key = self._selections.audience(sub, held)
            groups[key].append(sub)
            roles_of.setdefault(key, held)
        # One after the other: what viewers' own fields read was read with the batch
        # (Batch.read), so none of this waits on the database or lets other work in between.
        for key, group in groups.items():
            await self._send_to_audience(event, key, roles_of[key], group, plans)

    async def _send_to_audience(
        self,
        event: FeedEvent,
        audience: Audience,
        held: frozenset[str],
        group: list[LiveSubscription],
        plans: Plans,
    ) -> None:
        """One event to the subscribers of one audience (same selection, same answers):
        executed once for all of them when the selection has nothing of a viewer's own, else
        each gets the shared part merged with their own."""
        assert event.id is not None
        selection = self._selections.of(group[0])
        if not held:
            for sub in group:  # removed: only that it happened, and to which patient
                self._deliver(sub, event, await plans.own(sub, held, WHOLE).run(wiped(event)))
            return
        if not selection.per_viewer:
            payload = await plans.audience(group[0], held, audience, WHOLE).run(event)
            event_id, patient_id = event.id, event.patient_id
            self._remembered.add(audience, event_id, payload)
            for sub in group:
                sub.socket.send_next(sub.sub_id, payload)
                sub.delivered_id(event_id, patient_id)
            FEED_DELIVERIES.inc(len(group))  # once per audience: the counter takes a lock
            return
        shared = None
        if selection.shared is not None:
            shared = await plans.audience(group[0], held, audience, SHARED).data(event)
        for sub in group:
            self._deliver(sub, event, await plans.merged(sub, held, event, shared))

    @staticmethod
    def _deliver(sub: LiveSubscription, event: FeedEvent, payload: str) -> None:
        sub.socket.send_next(sub.sub_id, payload)
        sub.delivered(event)
        FEED_DELIVERIES.inc()

    # -- access and sessions (realtime/access_checks.py) ---------------------------------------

    async def _on_access(self, message: dict[str, Any]) -> None:
        await on_access_message(self._runtime, message, self._sockets, self._by_patient, self._lose)

    async def _check_sessions(self) -> None:
        await close_lapsed_sessions(self._runtime, self._sockets)
