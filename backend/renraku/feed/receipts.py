"""Read receipts (既読), acknowledgements of instructions (確認しました) and unread counts.

A post is read by its author from the start, with no receipt and no event. A receipt is written
once per reader and post (a second mark changes nothing), each new one with a POST_READ event. An
acknowledgement is for instructions only, by the team's professionals other than the author, and
counts as reading the post too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.access.notebook import Scope, require_post_read, shown_filter, timeline_scope
from renraku.access.scopes import active_membership
from renraku.accounts.models import User
from renraku.audit.changes import audit
from renraku.broker import Broker
from renraku.errors import BadInput, NotFound
from renraku.feed import events, service
from renraku.feed.events import NewEvent
from renraku.feed.models import Post, PostAcknowledgement, PostRead
from renraku.feed.posts import audience_of
from renraku.kinds import FeedEventKind, PostCategory, TeamRole, UserKind
from renraku.runtime import Runtime
from renraku.teams.models import TeamMembership
from renraku.timeutil import utcnow

MAX_MARKED = 100
# markPatientRead marks at most this many per call, oldest first; the client calls again for more.
MAX_PATIENT_MARKED = 500
# Those asked to acknowledge an instruction: the team's professionals.
ACKNOWLEDGING_ROLES = (TeamRole.COORDINATOR.value, TeamRole.MEMBER.value)


@dataclass(frozen=True)
class Unread:
    unread: int = 0
    urgent: int = 0


def _pk(post: Post) -> int:
    assert post.id is not None
    return post.id


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's database."""
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        return pg_insert(model)
    return sqlite_insert(model)


async def _readable(gate: Gate, posts: Sequence[Post]) -> None:
    """NotFound unless the actor may read every post, then Forbidden unless they may mark them."""
    for post in posts:
        await require_post_read(gate, post)
    for patient_id in sorted({p.patient_id for p in posts}):
        await gate.require(patient_id, "post", "mark_read")


async def check_mark_posts_read(runtime: Runtime, *, gate: Gate, post_ids: list[int]) -> int:
    """Mark posts read; how many were newly read. Nothing is marked unless every id is readable."""
    wanted = sorted(set(post_ids))
    if len(wanted) > MAX_MARKED:
        raise BadInput(f"postIds may hold at most {MAX_MARKED} ids.", field="postIds")
    if not wanted:
        return 0
    async with runtime.db.transaction() as session:
        found = list((await session.exec(select(Post).where(col(Post.id).in_(wanted)))).all())
        if len(found) != len(wanted):
            raise NotFound
        await gate.load_for_write(session, [p.patient_id for p in found])
        await _readable(gate, found)
        marked = await do_mark_read(session, runtime.broker, actor=gate.actor, posts=found)
    return len(marked)


async def check_mark_patient_read(runtime: Runtime, *, gate: Gate, patient_id: int) -> int:
    """Mark the actor's unread posts of the patient read (at most MAX_PATIENT_MARKED)."""
    user_id = gate.actor.user_id
    async with runtime.db.transaction() as session:
        await gate.load_for_write(session, [patient_id])
        scope = await timeline_scope(gate, patient_id)
        await gate.require(patient_id, "post", "mark_read")
        query = (
            select(Post)
            .where(col(Post.patient_id) == patient_id, *_unread_by(user_id))
            .order_by(col(Post.id))
            .where(shown_filter(scope))
            .limit(MAX_PATIENT_MARKED)
        )
        posts = list((await session.exec(query)).all())
        marked = await do_mark_read(session, runtime.broker, actor=gate.actor, posts=posts)
    return len(marked)


def _unread_by(user_id: int) -> list[Any]:
    """Conditions on Post: counted as unread for this user."""
    read = select(PostRead.post_id).where(
        col(PostRead.user_id) == user_id, col(PostRead.post_id) == col(Post.id)
    )
    return [
        col(Post.retracted_at).is_(None),
        col(Post.author_id) != user_id,
        ~read.exists(),
    ]


async def do_mark_read(
    session: AsyncSession, broker: Broker, *, actor: Actor, posts: Sequence[Post]
) -> list[int]:
    """Receipts for the posts the actor has not read yet; the ids newly read."""
    marked = await _insert_reads(session, user_id=actor.user_id, posts=posts)
    if not marked:
        return []
    by_id = {_pk(p): p for p in posts}
    events.append(
        session,
        broker,
        [
            NewEvent(
                patient_id=by_id[pid].patient_id,
                kind=FeedEventKind.POST_READ,
                audience=audience_of(by_id[pid]),
                post_id=pid,
                actor_id=actor.user_id,
                subject_user_id=actor.user_id,
            )
            for pid in marked
        ],
    )
    await audit(
        session,
        actor=actor,
        action="feed.posts_read",
        patient_ids=sorted({by_id[pid].patient_id for pid in marked}),
        detail={"post_ids": marked},
    )
    return marked


async def _insert_reads(session: AsyncSession, *, user_id: int, posts: Iterable[Post]) -> list[int]:
    now = utcnow()
    rows = [
        {"post_id": _pk(p), "user_id": user_id, "patient_id": p.patient_id, "read_at": now}
        for p in posts
        if p.author_id != user_id
    ]
    if not rows:
        return []
    # A concurrent mark of the same post is no error: its receipt exists, and is not new here.
    statement = (
        _insert(session, PostRead)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(col(PostRead.post_id))
    )
    result = await session.exec(statement)
    return sorted(int(row[0]) for row in result.all())


async def check_acknowledge_post(runtime: Runtime, *, gate: Gate, post_id: int) -> Post:
    """Acknowledge an instruction (and so read it); acknowledging twice changes nothing."""
    async with runtime.db.transaction() as session:
        await service.hold_team_of_post(session, gate=gate, post_id=post_id)
        # Read under a lock a retraction (feed/changes.py, FOR UPDATE) waits for: the
        # instruction acknowledged is the one that stands when this commits.
        await session.exec(
            select(Post).where(col(Post.id) == post_id).with_for_update(read=True, key_share=True)
        )
        post, _ = await service.access_post(session, gate=gate, post_id=post_id)
        await gate.require(post.patient_id, "post.instruction", "acknowledge")
        if post.category != PostCategory.INSTRUCTION.value:
            raise BadInput("Only instructions are acknowledged.", field="postId")
        if post.retracted_at is not None:
            raise BadInput("This instruction was retracted.", field="postId")
        if post.author_id == gate.actor.user_id:
            raise BadInput("You wrote this instruction.", field="postId")
        await do_acknowledge_post(session, runtime.broker, actor=gate.actor, post=post)
    return post


async def do_acknowledge_post(
    session: AsyncSession, broker: Broker, *, actor: Actor, post: Post
) -> bool:
    """True if the acknowledgement is new."""
    statement = (
        _insert(session, PostAcknowledgement)
        .values(post_id=_pk(post), user_id=actor.user_id, acknowledged_at=utcnow())
        .on_conflict_do_nothing()
        .returning(col(PostAcknowledgement.post_id))
    )
    if not (await session.exec(statement)).all():
        return False
    await do_mark_read(session, broker, actor=actor, posts=[post])
    events.append(
        session,
        broker,
        [
            NewEvent(
                patient_id=post.patient_id,
                kind=FeedEventKind.POST_ACKNOWLEDGED,
                audience=audience_of(post),
                post_id=post.id,
                actor_id=actor.user_id,
                subject_user_id=actor.user_id,
            )
        ],
    )
    await audit(
        session,
        actor=actor,
        action="feed.post_acknowledged",
        patient_ids=[post.patient_id],
        detail={"post_id": post.id},
    )
    return True


async def list_reads(session: AsyncSession, *, post_id: int) -> list[tuple[int, datetime]]:
    """Who read the post and when, first reader first."""
    rows = await session.exec(
        select(PostRead.user_id, PostRead.read_at)
        .where(col(PostRead.post_id) == post_id)
        .order_by(col(PostRead.read_at), col(PostRead.user_id))
    )
    return list(rows.all())


async def list_acknowledgements(
    session: AsyncSession, *, post_id: int
) -> list[tuple[int, datetime]]:
    rows = await session.exec(
        select(PostAcknowledgement.user_id, PostAcknowledgement.acknowledged_at)
        .where(col(PostAcknowledgement.post_id) == post_id)
        .order_by(col(PostAcknowledgement.acknowledged_at), col(PostAcknowledgement.user_id))
    )
    return list(rows.all())


def awaiting_condition(post_id: Any, patient_id: Any, author_id: Any) -> Any:
    """EXISTS: an active professional of the team, not the author, has not acknowledged."""
    acknowledged = select(PostAcknowledgement.user_id).where(
        col(PostAcknowledgement.post_id) == post_id,
        col(PostAcknowledgement.user_id) == col(TeamMembership.user_id),
    )
    return (
        select(TeamMembership.user_id)
        .join(User, col(User.id) == col(TeamMembership.user_id))
        .where(*_awaiting(patient_id, author_id), ~acknowledged.exists())
        .exists()
    )


def _awaiting(patient_id: Any, author_id: Any) -> list[Any]:
    return [
        col(TeamMembership.patient_id) == patient_id,
        col(TeamMembership.role).in_(ACKNOWLEDGING_ROLES),
        col(TeamMembership.user_id) != author_id,
        active_membership(),
        col(User.active).is_(True),
        col(User.kind) == UserKind.PROFESSIONAL.value,
    ]


async def awaiting_acknowledgement(session: AsyncSession, *, post: Post) -> list[User]:
    """The professionals still asked to acknowledge this instruction, by id."""
    if post.category != PostCategory.INSTRUCTION.value or post.retracted_at is not None:
        return []
    acknowledged = select(PostAcknowledgement.user_id).where(
        col(PostAcknowledgement.post_id) == _pk(post)
    )
    rows = await session.exec(
        select(User)
        .join(TeamMembership, col(User.id) == col(TeamMembership.user_id))
        .where(
            *_awaiting(post.patient_id, post.author_id),
            col(User.id).not_in(acknowledged),
        )
        .distinct()
        .order_by(col(User.id))
    )
    return list(rows.all())


async def unread_counts(
    session: AsyncSession, *, user_id: int, full: Iterable[int], family: Iterable[int]
) -> dict[int, Unread]:
    """Unread and urgent unread posts per patient: every post of the `full` patients, the
    family-visible ones of the `family` patients; retracted and own posts never count."""
    full_ids = set(full)
    keys = [(user_id, p, Scope.ALL) for p in full_ids]
    keys += [(user_id, p, Scope.FAMILY) for p in set(family) - full_ids]
    found = await unread_by_key(session, keys)
    return {pid: counts for (_, pid, _), counts in found.items() if counts != Unread()}


def _unread_statement(scope: Scope) -> Any:
    """Unread and urgent unread posts per patient for one user, built once per scope (building
    and keying a statement costs about as much as running it; the live feed asks per event)."""
    read = select(PostRead.post_id).where(
        col(PostRead.user_id) == bindparam("user_id"), col(PostRead.post_id) == col(Post.id)
    )
    urgent = func.sum(case((col(Post.urgent).is_(True), 1), else_=0))
    return (
        select(col(Post.patient_id), func.count(col(Post.id)), urgent)
        .where(
            col(Post.patient_id).in_(bindparam("patient_ids", expanding=True)),
            shown_filter(scope),
            col(Post.retracted_at).is_(None),
            col(Post.author_id) != bindparam("user_id"),
            ~read.exists(),
        )
        .group_by(col(Post.patient_id))
    )


_UNREAD = {scope: _unread_statement(scope) for scope in Scope}


async def unread_by_key(
    session: AsyncSession, keys: Iterable[tuple[int, int, Scope]]
) -> dict[tuple[int, int, Scope], Unread]:
    """Unread counts by (user id, patient id, that user's scope on the patient), zero where
    none: one statement per user and scope (the live feed asks for every viewer of a batch)."""
    wanted = set(keys)
    grouped: dict[tuple[int, Scope], list[int]] = {}
    for user_id, patient_id, scope in wanted:
        grouped.setdefault((user_id, scope), []).append(patient_id)
    found = dict.fromkeys(wanted, Unread())
    for (user_id, scope), ids in sorted(grouped.items()):
        rows = await session.exec(
            _UNREAD[scope], params={"user_id": user_id, "patient_ids": sorted(ids)}
        )
        for pid, n, u in rows.all():
            found[(user_id, int(pid), scope)] = Unread(int(n), int(u or 0))
    return found
