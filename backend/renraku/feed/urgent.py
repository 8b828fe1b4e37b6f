"""Posts that must not wait: urgent posts nobody read in time, and instructions nobody confirmed.

The `urgent-escalation` job raises an urgent post (至急) that no professional of the team but its
author has read within RENRAKU_URGENT_ESCALATION_MINUTES to the team's coordinators: a notice
each, a POST_ESCALATED event and one audit record per round. A post is claimed by a guarded
UPDATE (escalated_at still empty), so two workers running the job never raise it twice.

An instruction (指示) that some professional of the team has still not acknowledged after
RENRAKU_INSTRUCTION_OVERDUE_HOURS is overdue, and shown to its author as such.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.scopes import active_membership
from renraku.accounts.models import User
from renraku.audit import changes
from renraku.feed import events
from renraku.feed.events import NewEvent
from renraku.feed.lists import care_team_patients
from renraku.feed.models import Post, PostRead
from renraku.feed.receipts import ACKNOWLEDGING_ROLES, awaiting_condition
from renraku.job import Job
from renraku.kinds import FeedAudience, FeedEventKind, PostCategory, TeamRole, UserKind
from renraku.notices.actions import do_notify
from renraku.runtime import Runtime
from renraku.teams.models import Patient, TeamMembership
from renraku.timeutil import utcnow

JOB_NAME = "urgent-escalation"
EVERY_SECONDS = 60.0
NOTICE_KIND = "urgent_unread"
# Posts raised per round: a backlog drains over a few rounds instead of one long transaction.
BATCH = 200
MAX_OVERDUE_LISTED = 100


def _read_by_a_professional() -> ColumnElement[bool]:
    """EXISTS: an active professional of the team other than the author read the post."""
    return (
        select(PostRead.user_id)
        .join(
            TeamMembership,
            (col(TeamMembership.user_id) == col(PostRead.user_id))
            & (col(TeamMembership.patient_id) == col(PostRead.patient_id)),
        )
        .join(User, col(User.id) == col(PostRead.user_id))
        .where(
            col(PostRead.post_id) == col(Post.id),
            col(PostRead.user_id) != col(Post.author_id),
            col(TeamMembership.role).in_(ACKNOWLEDGING_ROLES),
            active_membership(),
            col(User.kind) == UserKind.PROFESSIONAL.value,
            col(User.active).is_(True),
        )
        .exists()
    )


async def escalate_unread(runtime: Runtime) -> int:
    """One round of the job: how many posts were raised to their coordinators."""
    cutoff = utcnow() - timedelta(minutes=runtime.settings.urgent_escalation_minutes)
    async with runtime.db.transaction() as session:
        due = await session.exec(
            select(Post.id)
            .join(Patient, col(Patient.id) == col(Post.patient_id))
            .where(
                col(Post.urgent).is_(True),
                col(Post.retracted_at).is_(None),
                col(Post.escalated_at).is_(None),
                col(Post.created_at) < cutoff,
                col(Patient.archived_at).is_(None),
                ~_read_by_a_professional(),
            )
            .order_by(col(Post.id))
            .limit(BATCH)
        )
        candidates = [pid for pid in due.all() if pid is not None]
        if not candidates:
            return 0
        return await do_escalate(session, runtime, post_ids=candidates)


async def do_escalate(session: AsyncSession, runtime: Runtime, *, post_ids: list[int]) -> int:
    now = utcnow()
    # The guard: a post another worker escalated meanwhile is not returned, so not raised again.
    claimed = await session.exec(
        update(Post)
        .where(col(Post.id).in_(post_ids), col(Post.escalated_at).is_(None))
        .values(escalated_at=now)
        .returning(col(Post.id), col(Post.patient_id))
    )
    posts = sorted((int(pid), int(patient)) for pid, patient in claimed.all())
    if not posts:
        return 0
    coordinators = await _coordinators(session, [patient for _, patient in posts])
    for post_id, patient_id in posts:
        await do_notify(
            session,
            user_ids=coordinators.get(patient_id, []),
            kind=NOTICE_KIND,
            patient_id=patient_id,
            data={"post_id": post_id, "patient_id": patient_id},
        )
    events.append(
        session,
        runtime.broker,
        [
            NewEvent(
                patient_id=patient_id,
                kind=FeedEventKind.POST_ESCALATED,
                audience=FeedAudience.PROFESSIONALS,
                post_id=post_id,
            )
            for post_id, patient_id in posts
        ],
    )
    await changes.record(
        session,
        actor=None,
        action="feed.posts_escalated",
        object_type="patient",
        object_ids=sorted({patient for _, patient in posts}),
        detail={"post_ids": [pid for pid, _ in posts]},
    )
    return len(posts)


async def _coordinators(session: AsyncSession, patient_ids: list[int]) -> dict[int, list[int]]:
    rows = await session.exec(
        select(TeamMembership.patient_id, TeamMembership.user_id)
        .join(User, col(User.id) == col(TeamMembership.user_id))
        .where(
            col(TeamMembership.patient_id).in_(sorted(set(patient_ids))),
            col(TeamMembership.role) == TeamRole.COORDINATOR.value,
            active_membership(),
            col(User.active).is_(True),
        )
        .order_by(col(TeamMembership.user_id))
    )
    found: dict[int, list[int]] = {}
    for patient_id, user_id in rows.all():
        found.setdefault(patient_id, []).append(user_id)
    return found


def job() -> Job:
    return Job(name=JOB_NAME, every_seconds=EVERY_SECONDS, run=escalate_unread)


def overdue_cutoff(runtime: Runtime) -> datetime:
    return utcnow() - timedelta(hours=runtime.settings.instruction_overdue_hours)


def is_overdue_candidate(post: Post, cutoff: datetime) -> bool:
    """An instruction old enough to be overdue, if someone still has to acknowledge it."""
    return (
        post.category == PostCategory.INSTRUCTION.value
        and post.retracted_at is None
        and post.created_at < cutoff
    )


async def list_overdue_instructions(
    session: AsyncSession, *, actor: Actor, cutoff: datetime
) -> list[Post]:
    """The actor's own overdue instructions on patients they are still on the team of, newest
    first."""
    readable = await care_team_patients(session, actor=actor)
    rows = await session.exec(
        select(Post)
        .where(
            col(Post.author_id) == actor.user_id,
            col(Post.patient_id).in_(readable.patient_ids),
            col(Post.category) == PostCategory.INSTRUCTION.value,
            col(Post.retracted_at).is_(None),
            col(Post.created_at) < cutoff,
            awaiting_condition(col(Post.id), col(Post.patient_id), col(Post.author_id)),
        )
        .order_by(col(Post.id).desc())
        .limit(MAX_OVERDUE_LISTED)
    )
    return list(rows.all())
