"""The feed's event log: appended in the changing transaction, published once it commits.

Ids are the subscribers' cursor, so they must follow commit order: a reader that saw event N must
never later find a new event below N. A transaction's events are therefore written at its very end,
under a lock held to commit (db.hold_append_lock on PostgreSQL; SQLite's writes are serial already,
BEGIN IMMEDIATE), numbered max + 1 under it. This process's hub is handed the committed rows
directly (`listen_here`); the broker message carries the event's ids only, a hint for the other
workers' hubs to look: the database is the record (broker.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlalchemy import func, insert, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.broker import Broker, Message
from renraku.db import before_commit, committed_at, hold_append_lock, publish_on_commit
from renraku.feed.models import FeedEvent
from renraku.kinds import FeedAudience, FeedEventKind
from renraku.metrics import FEED_EVENTS
from renraku.tables import table_of
from renraku.timeutil import utcnow

log = logging.getLogger("renraku.feed")
# At debug level (RENRAKU_DEBUG_LOGGERS), a line per committing transaction: its events' ids and
# when it committed, for measuring the feed from the commit (bench/feed.py). Ids only.
commits_log = logging.getLogger("renraku.feed.commits")

CHANNEL = "feed"
EVENT_PREFIX = "feed."
# Any constant distinct from the audit chain's lock.
# session.info key: the events a transaction will store just before it commits.
_PENDING = "renraku_feed_pending"


def event_name(kind: FeedEventKind) -> str:
    """The internal name of an event kind, e.g. feed.post_created."""
    return EVENT_PREFIX + kind.value


@dataclass(frozen=True)
class NewEvent:
    patient_id: int
    kind: FeedEventKind
    audience: FeedAudience
    post_id: int | None = None
    actor_id: int | None = None
    subject_user_id: int | None = None


def to_message(event: FeedEvent) -> Message:
    """The broker message for a stored event: ids and kinds only."""
    return {
        "event": event.kind,
        "id": event.id,
        "patient_id": event.patient_id,
        "audience": event.audience,
        "post_id": event.post_id,
        "subject_user_id": event.subject_user_id,
    }


def from_message(message: dict[str, Any]) -> FeedEvent | None:
    """The event a broker message names, or None if the message is not a feed event."""
    kind = message.get("event")
    if not isinstance(kind, str) or not kind.startswith(EVENT_PREFIX):
        return None
    try:
        return FeedEvent(
            id=int(message["id"]),
            patient_id=int(message["patient_id"]),
            kind=kind,
            audience=FeedAudience(message["audience"]).value,
            post_id=_optional_int(message.get("post_id")),
            subject_user_id=_optional_int(message.get("subject_user_id")),
        )
    except (KeyError, TypeError, ValueError):
        log.warning("ignored a malformed feed message")
        return None


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


async def lock_event_log(session: AsyncSession) -> None:
    """Hold the event log for the rest of the transaction (appends, bulk loads) so ids follow
    commit order."""
    await hold_append_lock(session)


class CommitListener(Protocol):
    """This process's feed hub, handed the events a transaction stores as it commits them."""

    async def prepare(self, session: AsyncSession, rows: list[FeedEvent]) -> object:
        """Read what delivering `rows` needs, in the storing transaction (under its lock)."""

    async def committed(self, rows: list[FeedEvent], prepared: object, at: float) -> None:
        """`rows` were committed at `at` (epoch seconds): deliver them, now or with the
        catch-up under way, or leave them to the broker's hint."""


def listen_here(broker: Broker, listener: CommitListener | None) -> None:
    """Hand `listener` the events committed through `broker` (None stops it); one per broker,
    so per runtime: the hub of the process that owns that broker."""
    broker.commit_listener = listener


def append(session: AsyncSession, broker: Broker, events: Sequence[NewEvent]) -> None:
    """Store `events` at the end of the caller's transaction and publish them after it commits.

    They are written last, just before the commit: the event log is held (its ids follow commit
    order) for as short a time as possible, it is always the last lock a transaction takes, and
    an event's `at` is as close to its commit as it can be."""
    if not events:
        return
    pending: list[NewEvent] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        before_commit(session, partial(_store, session, broker, pending))
    pending.extend(events)


async def _prepare(
    listener: CommitListener, session: AsyncSession, rows: list[FeedEvent]
) -> object:
    """What the hub needs to deliver `rows`; never a reason to fail the change itself (without
    it, the hub reads them back from the database)."""
    try:
        return await listener.prepare(session, rows)
    except SQLAlchemyError:
        raise  # the transaction itself is in trouble
    except Exception:
        log.exception("feed events not prepared for this process's hub")
        return None


_EVENTS = table_of(FeedEvent)
_INSERT_EVENTS = insert(_EVENTS)
_LAST_ID = select(func.max(col(FeedEvent.id)))


def _values(row: FeedEvent) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in _EVENTS.columns}


async def _store(session: AsyncSession, broker: Broker, pending: list[NewEvent]) -> None:
    await lock_event_log(session)
    connection = await session.connection()
    # Through the connection: the ORM's execution costs twice the statement for a plain column.
    last = (await connection.execute(_LAST_ID)).scalar_one()
    next_id = (last or 0) + 1
    rows = [
        FeedEvent(
            id=next_id + offset,
            patient_id=new.patient_id,
            kind=event_name(new.kind),
            audience=new.audience.value,
            post_id=new.post_id,
            actor_id=new.actor_id,
            subject_user_id=new.subject_user_id,
        )
        for offset, new in enumerate(pending)
    ]
    listener = broker.commit_listener
    prepared = None if listener is None else await _prepare(listener, session, rows)
    now = utcnow()
    for row in rows:
        row.created_at = now
    # One plain INSERT (the ORM's unit of work cost more than the statement, between the
    # event's `at` and its commit).
    await connection.execute(_INSERT_EVENTS, [_values(row) for row in rows])
    messages = [to_message(row) for row in rows]

    async def publish() -> None:
        committed = committed_at(session)
        FEED_EVENTS.inc(len(rows))
        if listener is not None:
            try:
                await listener.committed(rows, prepared, committed)
            except Exception:
                # The broker's hint below still brings them, read from the database.
                log.exception("feed events not handed to this process's hub")
        try:
            for message in messages:
                await broker.publish(CHANNEL, message)
        except (RedisError, OSError) as exc:
            # Stored and committed: subscribers find it by cursor when their broker comes back.
            log.warning("feed event not published: %s", type(exc).__name__)
        if commits_log.isEnabledFor(logging.DEBUG):
            # Last, so that writing it never delays a delivery.
            commits_log.debug(
                "feed events committed",
                extra={
                    "first": rows[0].id,
                    "last": rows[-1].id,
                    "committed_at": committed,
                },
            )

    publish_on_commit(session, publish)


async def events_after(
    session: AsyncSession,
    *,
    after: int,
    patient_ids: Sequence[int] | None,
    limit: int,
    removals_of: int | None = None,
) -> list[FeedEvent]:
    """Stored events after cursor `after`, oldest first, optionally of some patients only (and
    then also the membership changes about user `removals_of` on any patient)."""
    query = select(FeedEvent).where(col(FeedEvent.id) > after)
    if patient_ids is not None:
        of_patients: ColumnElement[bool] = col(FeedEvent.patient_id).in_(list(patient_ids))
        if removals_of is not None:
            of_patients = or_(
                of_patients,
                (col(FeedEvent.kind) == event_name(FeedEventKind.MEMBERSHIP_CHANGED))
                & (col(FeedEvent.subject_user_id) == removals_of),
            )
        query = query.where(of_patients)
    query = query.order_by(col(FeedEvent.id)).limit(limit)
    return list((await session.exec(query)).all())


async def latest_id(session: AsyncSession) -> int:
    return int((await session.exec(select(func.max(col(FeedEvent.id))))).one() or 0)
