"""Reads of the notebook for an explicit actor: timelines, single posts, threads. No commits."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.gate import Gate
from renraku.access.notebook import Scope, require_post_read, shown_filter
from renraku.errors import NotFound
from renraku.feed.models import Post, PostRevision
from renraku.paging import Page, decode_cursor, encode_cursor, page_size


async def timeline_page(
    session: AsyncSession,
    *,
    patient_id: int,
    scope: Scope,
    first: int | None,
    after: str | None,
) -> Page[Post]:
    """A patient's thread-opening posts, newest first (replies hang off their thread)."""
    size = page_size(first)
    key = decode_cursor(after, types=(int,))
    query = select(Post).where(
        col(Post.patient_id) == patient_id, col(Post.reply_to_id).is_(None), shown_filter(scope)
    )
    if key is not None:
        query = query.where(col(Post.id) < key[0])
    query = query.order_by(col(Post.id).desc()).limit(size + 1)
    rows = list((await session.exec(query)).all())
    return Page(
        items=[(p, encode_cursor([p.id])) for p in rows[:size]], has_next_page=len(rows) > size
    )


async def hold_team_of_post(session: AsyncSession, *, gate: Gate, post_id: int) -> None:
    """Hold the care team of the post's patient for the caller's write transaction and read the
    actor's roles on it there (Gate.load_for_write); NotFound if there is no such post."""
    patient_id = (
        await session.exec(select(Post.patient_id).where(col(Post.id) == post_id))
    ).first()
    if patient_id is None:
        raise NotFound
    await gate.load_for_write(session, [patient_id])


async def access_post(session: AsyncSession, *, gate: Gate, post_id: int) -> tuple[Post, Scope]:
    """The post if the actor may read it, with their scope on its patient; NotFound otherwise."""
    post = await session.get(Post, post_id)
    if post is None:
        # Read the same way as a refused one: existence does not leak.
        raise NotFound
    scope = await require_post_read(gate, post)
    return post, scope


# Looked up for every new post, so built once: building and keying a statement costs about as
# much as running it.
_POST_BY_CLIENT_ID = select(Post).where(
    col(Post.author_id) == bindparam("author_id"), col(Post.client_id) == bindparam("client_id")
)


async def find_by_client_id(
    session: AsyncSession, *, author_id: int, client_id: str
) -> Post | None:
    found = await session.exec(
        _POST_BY_CLIENT_ID, params={"author_id": author_id, "client_id": client_id}
    )
    return found.first()


async def list_replies(session: AsyncSession, *, post_id: int, scope: Scope) -> list[Post]:
    """A thread's replies, oldest first."""
    query = select(Post).where(col(Post.reply_to_id) == post_id, shown_filter(scope))
    return list((await session.exec(query.order_by(col(Post.id)))).all())


async def list_revisions(session: AsyncSession, *, post_id: int) -> list[PostRevision]:
    query = select(PostRevision).where(col(PostRevision.post_id) == post_id)
    return list((await session.exec(query.order_by(col(PostRevision.revision)))).all())
