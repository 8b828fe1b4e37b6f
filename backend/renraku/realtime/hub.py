"""The live feed inside one process: events in commit order, access re-checked, results shared.

One hub per worker listens to the broker's feed channel and keeps a dispatch cursor: it hands out
events strictly in id order, fetching from the database whatever the broker skipped or lost (a
message published out of order by another worker, a Redis restart, a failed publish), and it also
polls the database now and then, so a lost signal delays an event but never drops it.

Events are read in batches; for each batch it asks the database once who may see the patients
(two indexed queries) and reads the posts and people the events name. For each event it drops
subscribers who lost access (a patientEvents subscription then ends with NOT_FOUND), groups the rest
by (subscription selection, scope), executes the document once per group with the event as root
value (the document is built once per group and batch), serialises once, and queues the same bytes
on every socket of the group (DESIGN.md "Fan-out"). Replays read the database in batches too,
access checked once per batch, while live events for that subscriber wait in a buffer; duplicates
are dropped by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from graphql import DocumentNode, ExecutionResult, GraphQLError, GraphQLObjectType, GraphQLSchema
from graphql.execution import Executor, execute_subscription_event
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList
from sqlmodel import col, select

from renraku import revocations
from renraku.access.actor import Actor
from renraku.access.fields import answers
from renraku.access.notebook import Scope, may_receive, scope_of
from renraku.access.scopes import roles_by_patient, roles_by_user, roles_of_user, roles_on
from renraku.accounts.models import User
from renraku.accounts.service import live_session_ids, users_by_id
from renraku.audit.reads import ReadRecord
from renraku.broker import SubscriptionEnded
from renraku.context import Context
from renraku.errors import NotFound
from renraku.feed import events as feed_events
from renraku.feed.events_graphql import FeedEvent as FeedEventObject
from renraku.feed.models import FeedEvent, Post
from renraku.feed.receipts import Unread, unread_by_key
from renraku.graphql_errors import coded
from renraku.kinds import FeedAudience, FeedEventKind
from renraku.loaders import Loaders
from renraku.metrics import FEED_DELIVERIES, FEED_EXECUTIONS, FEED_SUBSCRIPTIONS
from renraku.realtime.compiled import compile_selection, payload_json
from renraku.realtime.split import Mismatch, Selection, classify
from renraku.runtime import Runtime
from renraku.teams.models import Patient as PatientRow
from renraku.teams.service import live_patients

log = logging.getLogger("renraku.realtime")

PATIENT_EVENTS = "patientEvents"
MY_EVENTS = "myEvents"
REPLAY_BATCH = 500
# How often the database is asked for events the broker did not bring.
POLL_SECONDS = 2.0
# Live deliveries are audited per subscription at most this often (one record each), each
# subscription on its own schedule, looked at every AUDIT_TICK_SECONDS: a thousand subscriptions
# then write a few records a second instead of a thousand at once (which stalled the feed).
AUDIT_SECONDS = 60.0
AUDIT_TICK_SECONDS = 1.0
RESUBSCRIBE_SECONDS = 1.0
# Results sent live, remembered so that a replay (a phone back from a tunnel while its teammates
# were online) sends what live subscribers received instead of executing the document again.
REMEMBERED_PAYLOADS = 20_000
# Subscription selections classified (shared, split or per viewer), by selection key.
REMEMBERED_SELECTIONS = 512
# Audience plans kept for live dispatch.
KEPT_PLANS = 512
NO_ROLES: frozenset[str] = frozenset()
# Viewers of one audience: the same selection, and the same answers to every rule it reaches on
# the event's patient (access.fields.answers).
Audience = tuple[str, Hashable]


class Socket(Protocol):
    """What the hub needs of a connection (realtime/ws.py)."""

    actor: Actor

    def context(self) -> Context: ...
    def send_next(self, sub_id: str, payload: str) -> None: ...
    async def send_next_waiting(self, sub_id: str, payload: str) -> None: ...
    def send_error(self, sub_id: str, errors: list[dict[str, Any]]) -> None: ...
    def end_subscription(self, sub_id: str) -> None: ...
    def close_soon(self, code: int, reason: str) -> None: ...


_subscriptions_made = itertools.count()
_GOLDEN = 0.6180339887


# WebSocket close code "try again later": the subscriber fell too far behind and resubscribes
# from its own cursor.
SLOW_CONSUMER = 1013
TOO_FAR_BEHIND = "too far behind; resubscribe from your cursor"


def _first_audit_due() -> float:
    """A point in the next audit period, successive subscriptions' points spread evenly over it
    (the golden ratio's multiples, modulo 1): a thousand subscribing together are not audited
    together."""
    spread = (next(_subscriptions_made) * _GOLDEN) % 1.0
    return asyncio.get_running_loop().time() + AUDIT_SECONDS * spread


@dataclass(eq=False)
class LiveSubscription:
    socket: Socket
    sub_id: str
    field_name: str
    patient_id: int | None
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any]
    # Subscribers with the same key and scope receive the same bytes.
    key: str
    last_id: int = 0
    replaying: bool = False
    buffer: list[tuple[FeedEvent, frozenset[str]]] = field(default_factory=list)
    # Delivered since the last audit record: patient ids and how many events.
    audit_patients: set[int] = field(default_factory=set)
    audit_events: int = 0
    # When its deliveries are next audited (event loop time); first ones spread over the period.
    audit_due: float = field(default_factory=_first_audit_due)
    ended: bool = False
    # Registered with the hub (and counted in the subscriptions gauge).
    live: bool = False
    replay_task: asyncio.Task[None] | None = None
    # Its own plans (roles held, part), kept from batch to batch: each batch hands them its rows.
    plans: dict[tuple[frozenset[str], str], _Plan] = field(default_factory=dict)

    @property
    def actor(self) -> Actor:
        return self.socket.actor


def _payload(result: ExecutionResult) -> str:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [dict(coded(e).formatted) for e in result.errors]
    return payload_json(body)


def not_found_errors() -> list[dict[str, Any]]:
    return [dict(GraphQLError(str(NotFound()), extensions=NotFound().extensions).formatted)]


class FeedHub:
    def __init__(self, runtime: Runtime, schema: GraphQLSchema) -> None:
        self._runtime = runtime
        self._schema = schema
        self._by_patient: dict[int, set[LiveSubscription]] = defaultdict(set)
        self._mine_by_user: dict[int, set[LiveSubscription]] = defaultdict(set)
        self._sockets: set[Socket] = set()
        self._last: int | None = None
        self._dispatching = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = asyncio.Lock()
        # (selection key, roles, event id) -> the payload sent to that audience; oldest first.
        self._sent: OrderedDict[tuple[str, Hashable, int], str] = OrderedDict()
        self._selections: OrderedDict[str, Selection] = OrderedDict()
        # Live dispatch's audience plans, kept from batch to batch (building one costs more than
        # running it, and a steady feed commits one event per batch); most recently used last.
        self._kept: OrderedDict[tuple[str, Hashable, str], _Plan] = OrderedDict()

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
            self._tasks = [
                self._spawn(self._listen(feed_events.CHANNEL, self._on_feed), "feed"),
                self._spawn(self._listen(revocations.CHANNEL, self._on_access), "access"),
                self._spawn(self._every(POLL_SECONDS, self._catch_up), "poll"),
                self._spawn(
                    self._every(AUDIT_TICK_SECONDS, partial(self._audit_live, everyone=False)),
                    "audit",
                ),
                self._spawn(
                    self._every(
                        float(self._runtime.settings.ws_session_check_seconds), self._check_sessions
                    ),
                    "sessions",
                ),
            ]

    @staticmethod
    def _spawn(work: Awaitable[None], name: str) -> asyncio.Task[None]:
        async def run() -> None:
            await work

        return asyncio.create_task(run(), name=f"renraku-hub-{name}")

    async def close(self) -> None:
        feed_events.listen_here(self._runtime.broker, None)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._audit_live(everyone=True)

    async def _listen(
        self, channel: str, handle: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        while True:
            try:
                async with self._runtime.broker.subscribe(channel) as subscription:
                    # Whatever was published while we were not listening is in the database.
                    if channel == feed_events.CHANNEL:
                        await self._catch_up()
                    async for message in subscription:
                        await handle(message)
            except SubscriptionEnded as reason:
                log.info("hub resubscribes to %s: %s", channel, type(reason).__name__)
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.warning("hub cannot listen on %s: %s", channel, type(exc).__name__)
            except Exception:
                log.exception("hub listener on %s failed", channel)
            await asyncio.sleep(RESUBSCRIBE_SECONDS)

    @staticmethod
    async def _every(seconds: float, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception:
                log.exception("hub periodic work failed")

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
        if sub.field_name == PATIENT_EVENTS:
            assert sub.patient_id is not None
            self._by_patient[sub.patient_id].add(sub)
        else:
            self._mine_by_user[sub.actor.user_id].add(sub)
        if after is not None:
            sub.replay_task = self._spawn(self._replay(sub), "replay")

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
        self._flush_audit(sub)

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

    async def committed(self, rows: list[FeedEvent], prepared: object) -> bool:
        """Events committed in this process, delivered straight away if they are the next ones
        (True); otherwise (another's events came between, or a catch-up is under way) the
        broker's hint that follows brings them from the database in order."""
        if self._last is None or not rows or self._dispatching.locked():
            return False
        async with self._dispatching:  # free: taken without waiting
            if rows[0].id != self._last + 1:
                return False
            await self._dispatch(rows, prepared if isinstance(prepared, _Batch) else None)
        # Let the sockets' writers send before the committing request goes on with its reply.
        await asyncio.sleep(0)
        return True

    async def _catch_up(self) -> None:
        async with self._dispatching:
            while True:
                assert self._last is not None
                async with self._runtime.db.session() as session:
                    batch = await feed_events.events_after(
                        session, after=self._last, patient_ids=None, limit=REPLAY_BATCH
                    )
                    prepared = await self.prepare(session, batch)
                await self._dispatch(batch, prepared)
                if len(batch) < REPLAY_BATCH:
                    return

    async def prepare(self, session: Any, batch: list[FeedEvent]) -> _Batch | None:
        """Who may see each event's patient, and the rows the events name: a few queries for the
        whole batch (access re-checked for every event, batched). Also called by the transaction
        that stores events in this process, before its commit: what holds at that commit."""
        patients = {e.patient_id for e in batch if self._listened(e.patient_id)}
        if not patients:
            return None
        return await _Batch.read(session, patients, batch, self._own_fields_heard)

    def _own_fields_heard(self, patient_id: int) -> set[int]:
        """The users who may hear of `patient_id` through a subscription whose selection holds
        fields of their own: what those read (unread counts, the patient's row) is read with
        the batch, so their own part runs without waiting on the database."""
        users = {
            s.actor.user_id
            for s in self._by_patient.get(patient_id, ())
            if not s.ended and self._selection(s).per_viewer
        }
        for user_id, subs in self._mine_by_user.items():
            if any(not s.ended and self._selection(s).per_viewer for s in subs):
                users.add(user_id)
        return users

    async def _dispatch(self, batch: list[FeedEvent], prepared: _Batch | None) -> None:
        """Deliver each event to every local subscriber allowed to see it; advance the cursor."""
        # One execution plan per audience (and per viewer, for their own fields) for the batch.
        plans = _Plans(self, prepared, kept=self._kept)
        for event in batch:
            assert event.id is not None
            if self._listened(event.patient_id):
                if prepared is None or event.patient_id not in prepared.patients:
                    # A subscriber came after the batch was read: read for it now.
                    prepared = await self._cover(prepared, event)
                    plans = _Plans(self, prepared, kept=self._kept)
                await self._dispatch_one(event, prepared, plans)
            # Only now: if anything above failed, the next catch-up retries this event
            # (subscribers that already have it skip it by their own cursor).
            self._last = event.id

    def _listened(self, patient_id: int) -> bool:
        return bool(self._mine_by_user) or patient_id in self._by_patient

    async def _cover(self, prepared: _Batch | None, event: FeedEvent) -> _Batch:
        async with self._runtime.db.session() as session:
            more = await _Batch.read(session, {event.patient_id}, [event], self._own_fields_heard)
        return more if prepared is None else prepared.merged(more)

    async def _dispatch_one(self, event: FeedEvent, prepared: _Batch, plans: _Plans) -> None:
        assert event.id is not None
        listening = list(self._by_patient.get(event.patient_id, ()))
        roles = prepared.roles.get(event.patient_id, {})
        removed = _removed_subject(event, roles)
        if self._mine_by_user:
            for user_id in roles:
                listening.extend(self._mine_by_user.get(user_id, ()))
            if removed is not None:
                listening.extend(self._mine_by_user.get(removed, ()))
        kind, audience = _kind(event), FeedAudience(event.audience)
        groups: dict[Audience, list[LiveSubscription]] = defaultdict(list)
        # Each audience's roles: those of the first of its subscribers (all answer alike).
        roles_of: dict[Audience, frozenset[str]] = {}
        for sub in listening:
            if event.id <= sub.last_id or sub.ended:
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
            key = self._audience(sub, held)
            groups[key].append(sub)
            roles_of.setdefault(key, held)
        # One after the other: what viewers' own fields read was read with the batch
        # (_Batch.read), so none of this waits on the database or lets other work in between.
        for key, group in groups.items():
            await self._send_to_audience(event, key, roles_of[key], group, plans)

    def _audience(self, sub: LiveSubscription, held: frozenset[str]) -> Audience:
        return (sub.key, answers(self._selection(sub).asks, held))

    async def _send_to_audience(
        self,
        event: FeedEvent,
        audience: Audience,
        held: frozenset[str],
        group: list[LiveSubscription],
        plans: _Plans,
    ) -> None:
        """One event to the subscribers of one audience (same selection, same answers):
        executed once for all of them when the selection has nothing of a viewer's own, else
        each gets the shared part merged with their own."""
        assert event.id is not None
        selection = self._selection(group[0])
        if not held:
            for sub in group:  # removed: only that it happened, and to which patient
                self._deliver(sub, event, await plans.own(sub, held, WHOLE).run(_wiped(event)))
            return
        if not selection.per_viewer:
            payload = await plans.audience(group[0], held, audience, WHOLE).run(event)
            self._remember(audience, event.id, payload)
            for sub in group:
                sub.socket.send_next(sub.sub_id, payload)
                self._delivered(sub, event)
            FEED_DELIVERIES.inc(len(group))  # once per audience: the counter takes a lock
            return
        shared = None
        if selection.shared is not None:
            shared = await plans.audience(group[0], held, audience, SHARED).data(event)
        for sub in group:
            self._deliver(sub, event, await self._own(sub, held, event, selection, shared, plans))

    async def _own(
        self,
        sub: LiveSubscription,
        held: frozenset[str],
        event: FeedEvent,
        selection: Selection,
        shared: dict[str, Any] | None,
        plans: _Plans,
    ) -> str:
        """A per-viewer selection's result for `sub`: the audience's shared part merged with the
        viewer's own, or the whole selection executed for the viewer if they do not merge."""
        if shared is not None:
            mine = await plans.own(sub, held, VIEWER).data(event)
            if mine is not None:
                with contextlib.suppress(Mismatch):
                    return payload_json({"data": selection.merge(shared, mine)})
        return await plans.own(sub, held, WHOLE).run(event)

    def _selection(self, sub: LiveSubscription) -> Selection:
        found = self._selections.get(sub.key)
        if found is None:
            found = classify(self._schema, sub.document, sub.operation_name)
            self._selections[sub.key] = found
            if len(self._selections) > REMEMBERED_SELECTIONS:
                self._selections.popitem(last=False)
        return found

    def _remember(self, audience: Audience, event_id: int, payload: str) -> None:
        self._sent[(*audience, event_id)] = payload
        if len(self._sent) > REMEMBERED_PAYLOADS:
            self._sent.popitem(last=False)

    async def _payload_for(
        self, sub: LiveSubscription, held: frozenset[str], event: FeedEvent, plans: _Plans
    ) -> str:
        """A replayed event's result for `sub`, computed for the viewer now: what live
        subscribers of the same audience were sent if it is remembered, else executed. Family
        always get the post as it is now: one hidden from them since is not sent again."""
        assert event.id is not None
        if not held:
            return await plans.own(sub, held, WHOLE).run(_wiped(event))
        selection = self._selection(sub)
        if selection.per_viewer:
            shared = None
            if selection.shared is not None:
                shared = await plans.own(sub, held, SHARED).data(event)
            return await self._own(sub, held, event, selection, shared, plans)
        family = scope_of(held) is Scope.FAMILY
        audience = self._audience(sub, held)
        payload = None if family else self._sent.get((*audience, event.id))
        if payload is None:
            payload = await plans.own(sub, held, WHOLE).run(event)
            self._remember(audience, event.id, payload)
        return payload

    def _plan(
        self,
        sub: LiveSubscription,
        held: frozenset[str],
        loaders: Loaders,
        document: DocumentNode,
        part: str,
    ) -> _Plan:
        """`document` (the subscription's, or a part of it) with its variables and a context of
        `sub`'s viewer, ready to run per event for readers holding `held` on the event's patient
        (rows read for the whole batch in `loaders`; the events were access-checked above)."""
        context = sub.socket.context()
        context.use_loaders(loaders)
        built = _EventExecutor.build(
            self._schema,
            document,
            context_value=context,
            raw_variable_values=sub.variables,
            operation_name=sub.operation_name,
        )
        return _Plan(built, context, sub.key, held, part)

    def _deliver(self, sub: LiveSubscription, event: FeedEvent, payload: str) -> None:
        sub.socket.send_next(sub.sub_id, payload)
        self._delivered(sub, event)
        FEED_DELIVERIES.inc()

    async def _deliver_waiting(self, sub: LiveSubscription, event: FeedEvent, payload: str) -> None:
        """A replay's delivery: waits for room in the socket's queue (only this subscriber's
        replay waits), so a replay longer than the queue reaches a client that keeps reading."""
        assert event.id is not None
        await sub.socket.send_next_waiting(sub.sub_id, payload)
        self._delivered(sub, event)
        FEED_DELIVERIES.inc()

    @staticmethod
    def _delivered(sub: LiveSubscription, event: FeedEvent) -> None:
        assert event.id is not None
        sub.last_id = event.id
        sub.audit_patients.add(event.patient_id)
        sub.audit_events += 1

    # -- replay -------------------------------------------------------------------------------

    async def _replay(self, sub: LiveSubscription) -> None:
        try:
            while await self._replay_batch(sub):
                pass
            # Live events that arrived meanwhile, in order; then straight delivery.
            while sub.buffer:
                pending, sub.buffer = sorted(sub.buffer, key=lambda e: e[0].id or 0), []
                plans = _Plans(self, None)
                for event, held in pending:
                    if event.id is not None and event.id > sub.last_id:
                        payload = await self._payload_for(sub, held, event, plans)
                        await self._deliver_waiting(sub, event, payload)
            sub.replaying = False
        except Exception:
            log.exception("replay failed")
            sub.socket.close_soon(1011, "replay failed")

    async def _replay_batch(self, sub: LiveSubscription) -> bool:
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
                if may_receive(_kind(e), FeedAudience(e.audience), held)
                or (not held and mine and e.subject_user_id == sub.actor.user_id)
            ]
            # Only the events not remembered need their rows.
            missed = [e for e, held in todo if (sub.key, held, e.id) not in self._sent]
            posts, users = await _rows_named(session, missed)
        plans = _Plans(self, _Batch(roles={}, posts=posts, users=users))
        delivered: set[int] = set()
        count = 0
        for event, held in todo:
            assert event.id is not None
            if sub.ended:
                return False
            await self._deliver_waiting(
                sub, event, await self._payload_for(sub, held, event, plans)
            )
            if held:
                delivered.add(event.patient_id)
            count += 1
        if batch and batch[-1].id is not None and batch[-1].id > sub.last_id:
            sub.last_id = batch[-1].id  # past events not for this reader at the end of the batch
        if delivered:
            await self._audit(sub, delivered, events=count, what="replay")
        sub.audit_patients.clear()
        sub.audit_events = 0
        return len(batch) == REPLAY_BATCH

    # -- access and sessions ------------------------------------------------------------------

    async def _on_access(self, message: dict[str, Any]) -> None:
        if message.get("event") == revocations.SESSION_ENDED:
            ended = {int(s) for s in message.get("session_ids", [])}
            for socket in list(self._sockets):
                if socket.actor.session_id in ended:
                    socket.close_soon(4401, "session ended")
            return
        revocation = revocations.Revocation.from_message(message)
        if revocation is None:
            return
        users = set(revocation.user_ids)
        for patient_id in revocation.patient_ids:
            subs = [s for s in self._by_patient.get(patient_id, ()) if s.actor.user_id in users]
            if not subs:
                continue
            async with self._runtime.db.session() as session:
                roles = await roles_by_user(session, patient_id)
            for sub in subs:
                if scope_of(roles.get(sub.actor.user_id, frozenset())) is None:
                    self._lose(sub)

    async def _check_sessions(self) -> None:
        sockets = [s for s in self._sockets if s.actor.session_id is not None]
        if not sockets:
            return
        ids = sorted({s.actor.session_id for s in sockets if s.actor.session_id is not None})
        async with self._runtime.db.session() as session:
            live = await live_session_ids(session, ids, self._runtime.settings)
        for socket in sockets:
            if socket.actor.session_id not in live:
                socket.close_soon(4401, "session ended")

    # -- auditing -----------------------------------------------------------------------------

    async def _audit_live(self, *, everyone: bool) -> None:
        """Audit what live subscriptions were sent: those whose time has come, or everyone's."""
        now = asyncio.get_running_loop().time()
        subs = [s for group in self._by_patient.values() for s in group]
        subs += [s for group in self._mine_by_user.values() for s in group]
        for sub in subs:
            if not everyone and sub.audit_due > now:
                continue
            sub.audit_due = now + AUDIT_SECONDS
            if sub.audit_patients:
                patients, count = set(sub.audit_patients), sub.audit_events
                sub.audit_patients.clear()
                sub.audit_events = 0
                await self._audit(sub, patients, events=count, what="live")

    def _flush_audit(self, sub: LiveSubscription) -> None:
        if sub.audit_patients:
            patients, count = set(sub.audit_patients), sub.audit_events
            sub.audit_patients.clear()
            sub.audit_events = 0
            self._spawn(self._audit(sub, patients, events=count, what="live"), "audit-flush")

    async def _audit(
        self, sub: LiveSubscription, patients: set[int], *, events: int, what: str
    ) -> None:
        actor = sub.actor
        await self._runtime.read_auditor.record(
            ReadRecord(
                actor_id=actor.user_id,
                actor_kind=actor.kind.value,
                action="read",
                object_type="patient",
                object_ids=tuple(sorted(patients)),
                decision="allow",
                reason="subscription",
                detail={"operation": sub.field_name, "delivery": what, "events": events},
            )
        )


@dataclass
class _Batch:
    """What a batch of events needs: who may see each patient, and the rows the events name."""

    roles: dict[int, dict[int, frozenset[str]]]
    posts: dict[int, Post]
    users: dict[int, User]
    # The patients whose roles and events' rows were read.
    patients: frozenset[int] = frozenset()
    # For subscribers with fields of their own: the patients' rows and their unread counts.
    patient_rows: dict[int, PatientRow] = field(default_factory=dict)
    unread: dict[tuple[int, int, Scope], Unread] = field(default_factory=dict)

    @classmethod
    async def read(
        cls,
        session: Any,
        patients: set[int],
        events: list[FeedEvent],
        own_fields_heard: Callable[[int], set[int]] | None = None,
    ) -> _Batch:
        roles = await roles_by_patient(session, sorted(patients))
        posts, users = await _rows_named(session, [e for e in events if e.patient_id in patients])
        batch = cls(roles=roles, posts=posts, users=users, patients=frozenset(patients))
        if own_fields_heard is not None:
            await batch._read_own(session, own_fields_heard)
        return batch

    async def _read_own(self, session: Any, heard: Callable[[int], set[int]]) -> None:
        wanted: dict[tuple[int, int], Scope] = {}
        for patient_id in self.patients:
            on_patient = self.roles.get(patient_id, {})
            for user_id in heard(patient_id) & on_patient.keys():
                scope = scope_of(on_patient[user_id])
                if scope is not None:
                    wanted[(user_id, patient_id)] = scope
        if not wanted:
            return
        self.unread = await unread_by_key(session, [(u, p, s) for (u, p), s in wanted.items()])
        self.patient_rows = await live_patients(session, {p for _, p in wanted})

    def merged(self, other: _Batch) -> _Batch:
        return _Batch(
            roles={**self.roles, **other.roles},
            posts={**self.posts, **other.posts},
            users={**self.users, **other.users},
            patients=self.patients | other.patients,
            patient_rows={**self.patient_rows, **other.patient_rows},
            unread={**self.unread, **other.unread},
        )

    def loaders(self, runtime: Runtime, scope: Scope) -> Loaders:
        """Loaders holding the batch's rows, for readers with `scope`: family see no post that
        is not shared with them now, even through an event from when it was."""
        loaders = Loaders(runtime.db, family=scope is Scope.FAMILY)
        loaders.prime_posts(self.posts)
        loaders.users.prime_many(self.users)
        loaders.patients.prime_many(self.patient_rows)
        loaders.unread.prime_many(self.unread)
        return loaders


class _EventExecutor(Executor[Context]):
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


class _Plan:
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
            return _payload(ExecutionResult(data=None, errors=self._built))
        root = self._for(event)
        if self._compiled is not None:
            payload = self._compiled.payload(root)
            if payload is not None:
                return payload
        return _payload(await self._execute(self._built, root))

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


# Which document a plan runs: the subscription's whole selection, the part an audience shares,
# or the viewer's own part (realtime/split.py).
WHOLE, SHARED, VIEWER = "whole", "shared", "viewer"


class _Plans:
    """The plans of one batch of events, built on first use: one per audience and part, one per
    subscriber and part for what is a viewer's own. Plans of the same scope share the batch's
    rows (the family filter is the scope's)."""

    def __init__(
        self,
        hub: FeedHub,
        rows: _Batch | None,
        kept: OrderedDict[tuple[str, Hashable, str], _Plan] | None = None,
    ) -> None:
        self._hub = hub
        self._rows = rows
        # Live dispatch keeps audience plans across batches (one dispatch runs at a time, so a
        # kept plan is never handed two batches' rows at once); a replay builds its own.
        self._kept = kept
        self._loaders: dict[Scope, Loaders] = {}
        self._shared: dict[tuple[str, Hashable, str], _Plan] = {}
        self._own: dict[tuple[LiveSubscription, frozenset[str], str], _Plan] = {}

    def audience(
        self, sub: LiveSubscription, held: frozenset[str], audience: Audience, part: str
    ) -> _Plan:
        """A plan whose results every subscriber of `audience` may be sent (`sub` is one of
        them, holding `held`)."""
        key = (*audience, part)
        plan = self._shared.get(key)
        if plan is not None:
            return plan
        kept = self._kept
        plan = kept.get(key) if kept is not None else None
        if plan is None:
            plan = self._build(sub, held, part)
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

    def own(self, sub: LiveSubscription, held: frozenset[str], part: str) -> _Plan:
        """A plan for `sub`'s viewer alone: built once for the subscription (building one
        costs more than running it) and handed this batch's rows."""
        key = (sub, held, part)
        plan = self._own.get(key)
        if plan is None:
            plan = sub.plans.get((held, part))
            if plan is None:
                plan = sub.plans[(held, part)] = self._build(sub, held, part)
            else:
                plan.use(self._loaders_for(held))
            self._own[key] = plan
        return plan

    def _loaders_for(self, held: frozenset[str]) -> Loaders:
        scope = scope_of(held) or Scope.FAMILY  # no roles: a removal notice, nothing to read
        loaders = self._loaders.get(scope)
        if loaders is None:
            loaders = self._loaders[scope] = (
                self._rows.loaders(self._hub.runtime, scope)
                if self._rows is not None
                else Loaders(self._hub.runtime.db, family=scope is Scope.FAMILY)
            )
        return loaders

    def _build(self, sub: LiveSubscription, held: frozenset[str], part: str) -> _Plan:
        selection = self._hub._selection(sub)
        document = {SHARED: selection.shared, VIEWER: selection.viewer}.get(part) or sub.document
        return self._hub._plan(sub, held, self._loaders_for(held), document, part)


def _kind(event: FeedEvent) -> FeedEventKind:
    return FeedEventKind(event.kind.removeprefix(feed_events.EVENT_PREFIX))


def _removed_subject(event: FeedEvent, roles: dict[int, frozenset[str]]) -> int | None:
    """The user a MEMBERSHIP_CHANGED event is about, if they no longer may see the patient:
    they are sent that one event, carrying the patient's id only, so a phone can wipe what it
    holds of the patient."""
    subject = event.subject_user_id
    if _kind(event) is not FeedEventKind.MEMBERSHIP_CHANGED or subject is None:
        return None
    return subject if scope_of(roles.get(subject, NO_ROLES)) is None else None


def _wiped(event: FeedEvent) -> FeedEvent:
    """The event with nothing but its kind, cursor, time and patient id."""
    return FeedEvent(
        id=event.id,
        patient_id=event.patient_id,
        kind=event.kind,
        audience=event.audience,
        created_at=event.created_at,
    )


async def _rows_named(
    session: Any, events: list[FeedEvent]
) -> tuple[dict[int, Post], dict[int, User]]:
    """The posts `events` name and the people they name (the posts' authors, the events'
    subjects): posts and authors in one query, subjects not among them in a second."""
    post_ids = sorted({e.post_id for e in events if e.post_id})
    posts: dict[int, Post] = {}
    users: dict[int, User] = {}
    if post_ids:
        rows = await session.exec(
            select(Post, User)
            .join(User, col(User.id) == Post.author_id)
            .where(col(Post.id).in_(post_ids))
        )
        for post, author in rows.all():
            posts[post.id] = post
            users[author.id] = author
    subjects = {e.subject_user_id for e in events if e.subject_user_id is not None}
    users.update(await users_by_id(session, subjects - users.keys()))
    return posts, users
