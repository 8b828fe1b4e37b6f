"""Reads of a user's own notices. Nobody lists anyone else's."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.notices.models import Notice
from renraku.paging import Page, decode_cursor, encode_cursor, page_size


async def list_my_notices(
    session: AsyncSession,
    *,
    actor: Actor,
    first: int | None,
    after: str | None,
    unread_only: bool,
) -> Page[Notice]:
    """The actor's notices, newest first."""
    size = page_size(first)
    key = decode_cursor(after, types=(int,))
    query = select(Notice).where(col(Notice.user_id) == actor.user_id)
    if unread_only:
        query = query.where(col(Notice.read_at).is_(None))
    if key is not None:
        query = query.where(col(Notice.id) < key[0])
    rows = list((await session.exec(query.order_by(col(Notice.id).desc()).limit(size + 1))).all())
    items = [(n, encode_cursor([n.id])) for n in rows[:size]]
    return Page(items=items, has_next_page=len(rows) > size)


async def count_unread(session: AsyncSession, *, actor: Actor) -> int:
    found = await session.exec(
        select(func.count())
        .select_from(Notice)
        .where(col(Notice.user_id) == actor.user_id, col(Notice.read_at).is_(None))
    )
    return int(found.one())
