"""Writing posts: create (idempotent by the client's id), with replies, mentions and photos.

check_* decides through renraku.access and validates; do_* writes the post, its feed event and
its audit record in one transaction, so a post acknowledged to a client is durable and its event
is in the log before anyone can be told of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.access.notebook import Scope, require_post_create
from renraku.access.scopes import active_membership
from renraku.audit.changes import audit
from renraku.broker import Broker
from renraku.errors import BadInput, NotFound
from renraku.feed import events, service
from renraku.feed.events import NewEvent
from renraku.feed.models import MAX_BODY, MAX_CLIENT_ID, Post, PostMention, Upload
from renraku.feed.vitals import validate_vitals
from renraku.kinds import FeedAudience, FeedEventKind, PostCategory, TeamRole
from renraku.notices.actions import do_notify
from renraku.runtime import Runtime
from renraku.tables import table_of
from renraku.teams.models import TeamMembership
from renraku.text import clean_text, visible_length
from renraku.timeutil import utcnow

MAX_MENTIONS = 20
MAX_PHOTOS = 10
UPLOAD_TTL_SECONDS = 24 * 3600
MENTION_NOTICE = "post_mention"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


@dataclass(frozen=True)
class PostDraft:
    patient_id: int
    client_id: str
    category: PostCategory
    body: str
    vitals: dict[str, float | None] = field(default_factory=dict)
    urgent: bool = False
    visible_to_family: bool = False
    reply_to: int | None = None
    upload_ids: tuple[int, ...] = ()
    mention_ids: tuple[int, ...] = ()


def validate_body(body: str, *, field_name: str = "body") -> str:
    body = clean_text(body, multiline=True)
    if not visible_length(body):
        body = ""  # so that a body of invisible characters counts as no text at all
    if len(body) > MAX_BODY:
        raise BadInput(f"Write at most {MAX_BODY} characters.", field=field_name)
    return body


def validate_client_id(client_id: str) -> str:
    if not (0 < len(client_id) <= MAX_CLIENT_ID) or not _CLIENT_ID.match(client_id):
        raise BadInput(
            f"clientId must be 1 to {MAX_CLIENT_ID} letters, digits or . _ : -", field="clientId"
        )
    return client_id


def audience_of(post: Post) -> FeedAudience:
    return FeedAudience.TEAM if post.visible_to_family else FeedAudience.PROFESSIONALS


async def check_create_post(runtime: Runtime, *, gate: Gate, draft: PostDraft) -> Post:
    """The new post, or the one already stored under the same client id (a retry)."""
    actor = gate.actor
    validate_client_id(draft.client_id)
    try:
        # One transaction decides and writes: the roles are read in it.
        async with runtime.db.transaction() as session:
            await gate.load_for_write(session, [draft.patient_id])
            # Decided first: a retry from someone who has since lost access is refused like
            # any post.
            await require_post_create(
                gate,
                draft.patient_id,
                instruction=draft.category is PostCategory.INSTRUCTION,
                visible_to_family=draft.visible_to_family,
            )
            post = new_post(actor, draft)
            post.reply_to_id = await _thread_of(session, gate=gate, draft=draft)
            return await do_create_post(
                session, runtime.broker, actor=actor, post=post, draft=draft
            )
    except IntegrityError:
        # A retry: the (author, client id) pair is stored already (its INSERT, the first write,
        # failed on the unique constraint, so nothing of this attempt is kept). Not looked for
        # first: retries are rare, and the look cost every post a statement.
        async with runtime.db.session() as session:
            existing = await service.find_by_client_id(
                session, author_id=actor.user_id, client_id=draft.client_id
            )
        if existing is None:
            raise
        return _same_retry(existing, draft)


def new_post(actor: Actor, draft: PostDraft) -> Post:
    """The post a draft makes, checked; its thread is set by the caller."""
    body = validate_body(draft.body)
    vitals, flags = validate_vitals(draft.vitals)
    if not body and not vitals and not draft.upload_ids:
        raise BadInput("Write something, or add vitals or a photo.", field="body")
    if len(set(draft.upload_ids)) > MAX_PHOTOS:
        raise BadInput(f"At most {MAX_PHOTOS} photos.", field="uploadIds")
    if len(set(draft.mention_ids)) > MAX_MENTIONS:
        raise BadInput(f"At most {MAX_MENTIONS} mentions.", field="mentionIds")
    return Post(
        patient_id=draft.patient_id,
        author_id=actor.user_id,
        client_id=draft.client_id,
        category=draft.category.value,
        body=body,
        vitals=vitals or None,
        vitals_flags=flags,
        urgent=draft.urgent,
        visible_to_family=draft.visible_to_family,
    )


def _same_retry(existing: Post, draft: PostDraft) -> Post:
    if existing.patient_id != draft.patient_id:
        # One client id, two patients: a client bug, and nothing about the other post is told.
        raise BadInput("clientId was already used for another post.", field="clientId")
    return existing


async def _thread_of(session: AsyncSession, *, gate: Gate, draft: PostDraft) -> int | None:
    """The thread a reply joins (its first post), checked visible on the same patient."""
    if draft.reply_to is None:
        return None
    try:
        parent, scope = await service.access_post(session, gate=gate, post_id=draft.reply_to)
    except NotFound:
        raise BadInput("replyTo names no post you can see.", field="replyTo") from None
    if parent.patient_id != draft.patient_id:
        raise BadInput("replyTo is a post about another patient.", field="replyTo")
    if scope is Scope.FAMILY and not draft.visible_to_family:
        raise BadInput("A family reply is shared with the family.", field="visibleToFamily")
    return parent.reply_to_id or parent.id


_POSTS = table_of(Post)
_INSERT_POST = insert(_POSTS).returning(_POSTS.c.id)


async def _insert(session: AsyncSession, post: Post) -> None:
    """Store a new post with one plain INSERT and keep `post` in the session as the stored row:
    the ORM's unit of work for one row cost more than the statement itself."""
    values = {column.key: getattr(post, column.key) for column in _POSTS.columns}
    del values["id"]
    connection = await session.connection()
    post.id = (await connection.execute(_INSERT_POST, values)).scalar_one()
    make_transient_to_detached(post)
    session.add(post)


async def do_create_post(
    session: AsyncSession, broker: Broker, *, actor: Actor, post: Post, draft: PostDraft
) -> Post:
    await _insert(session, post)
    assert post.id is not None
    await _attach_uploads(session, actor=actor, post_id=post.id, upload_ids=draft.upload_ids)
    mentioned = await _mentionable(session, post=post, user_ids=draft.mention_ids)
    session.add_all(PostMention(post_id=post.id, user_id=uid) for uid in mentioned)
    if mentioned:
        await do_notify(
            session,
            user_ids=[u for u in mentioned if u != actor.user_id],
            kind=MENTION_NOTICE,
            patient_id=post.patient_id,
            data={"post_id": post.id, "patient_id": post.patient_id},
        )
    await record_change(
        session,
        broker,
        actor=actor,
        post=post,
        kind=FeedEventKind.POST_CREATED,
        detail={"category": post.category, "urgent": post.urgent},
    )
    return post


async def record_change(
    session: AsyncSession,
    broker: Broker,
    *,
    actor: Actor,
    post: Post,
    kind: FeedEventKind,
    detail: dict[str, Any],
    audience: FeedAudience | None = None,
) -> None:
    """The feed event and the audit record of a change to `post`, in the changing transaction.
    The event goes to whoever may read the post (or to `audience`); the audit detail holds ids
    and kinds only, never the post's text. (The event is stored when the transaction commits,
    after the audit record: events.append.)"""
    events.append(
        session,
        broker,
        [
            NewEvent(
                patient_id=post.patient_id,
                kind=kind,
                audience=audience or audience_of(post),
                post_id=post.id,
                actor_id=actor.user_id,
            )
        ],
    )
    await audit(
        session,
        actor=actor,
        action=events.event_name(kind),
        patient_ids=[post.patient_id],
        detail={"post_id": post.id, **detail},
    )


async def _attach_uploads(
    session: AsyncSession, *, actor: Actor, post_id: int, upload_ids: tuple[int, ...]
) -> None:
    wanted = sorted(set(upload_ids))
    if not wanted:
        return
    since = utcnow().timestamp() - UPLOAD_TTL_SECONDS
    rows = await session.exec(
        select(Upload).where(
            col(Upload.id).in_(wanted),
            col(Upload.uploader_id) == actor.user_id,
            col(Upload.post_id).is_(None),
        )
    )
    found = [u for u in rows.all() if u.created_at.timestamp() >= since]
    if len(found) != len(wanted):
        # Another's upload, one already on a post, an expired one: all the same to the client.
        raise BadInput("uploadIds names an upload you cannot use.", field="uploadIds")
    for upload in found:
        upload.post_id = post_id
        session.add(upload)


async def _mentionable(
    session: AsyncSession, *, post: Post, user_ids: tuple[int, ...]
) -> list[int]:
    """The mentioned users, each an active member of the team who can read this post."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    roles = [TeamRole.COORDINATOR.value, TeamRole.MEMBER.value]
    if post.visible_to_family:
        roles.append(TeamRole.FAMILY.value)
    rows = await session.exec(
        select(TeamMembership.user_id).where(
            col(TeamMembership.patient_id) == post.patient_id,
            col(TeamMembership.user_id).in_(wanted),
            col(TeamMembership.role).in_(roles),
            active_membership(),
        )
    )
    found = sorted(set(rows.all()))
    if found != wanted:
        raise BadInput("mentionIds names someone who cannot read this post.", field="mentionIds")
    return found
