"""Creating notices (inside the caller's transaction) and marking one's own notices read.

`do_notify` refuses anything but ids and kinds in a notice's data, so no caller can slip a name or
free text into it by mistake: ids under the keys of ID_TYPES, whole numbers, or short kind words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sqlalchemy import JSON, insert, literal, null, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from renraku.access.actor import Actor
from renraku.audit import changes
from renraku.errors import BadInput, NotFound
from renraku.notices.models import Notice
from renraku.runtime import Runtime
from renraku.tables import table_of
from renraku.timeutil import UTCDateTime, utcnow

# Which kind of object each id key of a notice's data names (its GraphQL id type).
ID_TYPES = {
    "glass_access_id": "GlassAccess",
    "user_id": "User",
    "patient_id": "Patient",
    "incident_id": "Incident",
    "invitation_id": "Invitation",
    "post_id": "Post",
}
MAX_MARKED = 100
_KEY = re.compile(r"^[a-z][a-z_]{0,39}$")
_WORD = re.compile(r"^[a-z][a-z0-9_.]{0,39}$")

DataValue = int | str


def _checked_data(data: Mapping[str, DataValue]) -> dict[str, DataValue]:
    checked: dict[str, DataValue] = {}
    for key, value in data.items():
        if not _KEY.match(key):
            raise ValueError(f"notice data key {key!r} is not a short identifier")
        if key.endswith("_id") and key not in ID_TYPES:
            raise ValueError(f"notice data key {key!r} names no known kind of id")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"notice data {key!r} must be an id, a number or a kind")
        if key in ID_TYPES and not isinstance(value, int):
            raise ValueError(f"notice data {key!r} must be an id")
        if isinstance(value, str) and not _WORD.match(value):
            # Kinds only: a free-text value could carry a name.
            raise ValueError(f"notice data {key!r} must be a kind word")
        checked[key] = value
    return checked


async def do_notify(
    session: AsyncSession,
    *,
    user_ids: Iterable[int],
    kind: str,
    patient_id: int | None,
    data: Mapping[str, DataValue],
) -> list[Notice]:
    """One notice per user, added in the caller's transaction (whose audit record covers it)."""
    if not _WORD.match(kind):
        raise ValueError("notice kind must be a short kind word")
    checked = _checked_data(data)
    now = utcnow()
    notices = [
        Notice(user_id=uid, kind=kind, patient_id=patient_id, data=dict(checked), created_at=now)
        for uid in dict.fromkeys(user_ids)
    ]
    session.add_all(notices)
    await session.flush()
    return notices


async def do_notify_all(
    session: AsyncSession,
    *,
    user_ids: SelectOfScalar[int],
    kind: str,
    data: Mapping[str, DataValue],
) -> int:
    """One notice to each user `user_ids` selects, written in one statement (an incident may
    tell thousands of coordinators at once); how many were written."""
    if not _WORD.match(kind):
        raise ValueError("notice kind must be a short kind word")
    checked = _checked_data(data)
    table = table_of(Notice)
    # Each user once (PostgreSQL cannot compare json values for a DISTINCT on the whole row).
    found = user_ids.distinct().subquery()
    rows = sa_select(
        found.c[0],
        literal(kind),
        null(),
        literal(checked, JSON),
        literal(utcnow(), UTCDateTime()),
    )
    result = await (await session.connection()).execute(
        insert(table).from_select(["user_id", "kind", "patient_id", "data", "created_at"], rows)
    )
    return int(result.rowcount or 0)


def validate_count(count: int) -> None:
    if count > MAX_MARKED:
        raise BadInput(f"ids may hold at most {MAX_MARKED} ids.", field="ids")


async def check_mark_read(runtime: Runtime, *, actor: Actor, notice_ids: list[int]) -> int:
    """Mark the actor's own notices read and return how many were unread. Any id that is not one
    of the actor's notices answers NotFound, as if absent, and then nothing is marked."""
    wanted = sorted(set(notice_ids))
    validate_count(len(wanted))
    if not wanted:
        return 0
    async with runtime.db.transaction() as session:
        owned = await session.exec(
            select(Notice.id, Notice.read_at).where(
                col(Notice.id).in_(wanted), col(Notice.user_id) == actor.user_id
            )
        )
        rows = owned.all()
        if len(rows) != len(wanted):
            raise NotFound
        unread = sorted(nid for nid, read_at in rows if nid is not None and read_at is None)
        return await do_mark_read(session, actor=actor, notice_ids=unread)


async def do_mark_read(session: AsyncSession, *, actor: Actor, notice_ids: list[int]) -> int:
    if not notice_ids:
        return 0
    # The user_id condition repeats the guard: another user's notice is never touched.
    result = await session.exec(
        update(Notice)
        .where(
            col(Notice.id).in_(notice_ids),
            col(Notice.user_id) == actor.user_id,
            col(Notice.read_at).is_(None),
        )
        .values(read_at=utcnow())
    )
    await changes.record(
        session,
        actor=actor,
        action="notices.marked_read",
        object_type="notice",
        object_ids=notice_ids,
    )
    return int(result.rowcount)
