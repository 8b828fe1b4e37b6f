"""Changing a post after the fact: edits that keep every earlier version, and retraction.

A post is never deleted. An edit stores the version it replaces as a PostRevision and advances the
post's revision; a retraction keeps the post and its history but every reader sees its body and
vitals as empty from then on, with who retracted it, when and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.access.notebook import Scope, require_post_create
from renraku.broker import Broker
from renraku.errors import BadInput, Forbidden, NotFound
from renraku.feed import service
from renraku.feed.models import MAX_REASON, Post, PostRevision, Upload
from renraku.feed.posts import record_change, validate_body
from renraku.feed.vitals import validate_vitals
from renraku.kinds import FeedAudience, FeedEventKind, PostCategory
from renraku.runtime import Runtime
from renraku.timeutil import utcnow


@dataclass(frozen=True)
class PostEdit:
    """What an edit changes; None leaves a field as it is (`clear_vitals` removes them)."""

    post_id: int
    body: str | None = None
    category: PostCategory | None = None
    vitals: dict[str, float | None] | None = None
    clear_vitals: bool = False
    urgent: bool | None = None
    visible_to_family: bool | None = None


@dataclass(frozen=True)
class Version:
    """One version of a post as its readers see it (PostVersion in GraphQL)."""

    revision: int
    category: str
    body: str
    vitals: dict[str, Any] | None
    vitals_flags: list[str]
    urgent: bool
    visible_to_family: bool
    written_by: int
    written_at: datetime


def current_version(post: Post) -> Version:
    """The post as it stands: what an edit keeps as a revision, and the last line of history."""
    return Version(
        revision=post.revision,
        category=post.category,
        body=post.body,
        vitals=post.vitals,
        vitals_flags=list(post.vitals_flags),
        urgent=post.urgent,
        visible_to_family=post.visible_to_family,
        written_by=post.author_id,
        written_at=post.edited_at or post.created_at,
    )


def _pk(post: Post) -> int:
    assert post.id is not None
    return post.id


async def _held(session: AsyncSession, *, gate: Gate, post_id: int) -> Post:
    """The post, locked for the caller's write transaction, if the actor may read it: decided on
    roles read in that transaction, under the lock of the post's care team."""
    # The team first, then the post: the order every command here takes them in.
    await service.hold_team_of_post(session, gate=gate, post_id=post_id)
    post = await _locked(session, post_id)
    await service.access_post(session, gate=gate, post_id=post_id)  # finds `post` in the session
    return post


async def _writable(session: AsyncSession, *, gate: Gate, post_id: int) -> Post:
    """The post if the actor may still change it as its author; retracted posts are final."""
    post = await _held(session, gate=gate, post_id=post_id)
    if post.author_id != gate.actor.user_id:
        raise Forbidden
    if post.retracted_at is not None:
        raise BadInput("A retracted post cannot be changed.", field="postId")
    return post


async def check_edit_post(runtime: Runtime, *, gate: Gate, edit: PostEdit) -> Post:
    """Edit the actor's own post; an edit that changes nothing returns the post as it is."""
    async with runtime.db.transaction() as session:
        current = await _writable(session, gate=gate, post_id=edit.post_id)
        photos = (
            await session.exec(select(Upload.id).where(col(Upload.post_id) == edit.post_id))
        ).first()
        changes = await _edited(gate, current, edit, photos=photos)
        if all(getattr(current, name) == value for name, value in changes.items()):
            return current
        return await do_edit_post(
            session, runtime.broker, actor=gate.actor, post=current, changes=changes
        )


async def _edited(
    gate: Gate, current: Post, edit: PostEdit, *, photos: int | None
) -> dict[str, Any]:
    """The post's fields after the edit, decided and checked."""
    category = edit.category or PostCategory(current.category)
    visible = (
        current.visible_to_family if edit.visible_to_family is None else edit.visible_to_family
    )
    # Decided as for a new post: the author must still be on the team, and family members
    # may only write what the family sees.
    await require_post_create(
        gate,
        current.patient_id,
        instruction=category is PostCategory.INSTRUCTION,
        visible_to_family=visible,
    )
    body = current.body if edit.body is None else validate_body(edit.body)
    if edit.clear_vitals:
        vitals: dict[str, Any] | None = None
        flags: list[str] = []
    elif edit.vitals is not None:
        checked, flags = validate_vitals(edit.vitals)
        vitals = checked or None
    else:
        vitals, flags = current.vitals, list(current.vitals_flags)
    if not body and not vitals and photos is None:
        raise BadInput("Write something, or add vitals or a photo.", field="body")
    changes = {
        "body": body,
        "category": category.value,
        "vitals": vitals,
        "vitals_flags": flags,
        "urgent": current.urgent if edit.urgent is None else edit.urgent,
        "visible_to_family": visible,
    }
    return changes


async def _locked(session: AsyncSession, post_id: int) -> Post:
    found = await session.exec(select(Post).where(col(Post.id) == post_id).with_for_update())
    post = found.first()
    if post is None:
        raise NotFound
    return post


async def do_edit_post(
    session: AsyncSession, broker: Broker, *, actor: Actor, post: Post, changes: dict[str, Any]
) -> Post:
    session.add(PostRevision(post_id=_pk(post), **asdict(current_version(post))))
    changed = sorted(name for name, value in changes.items() if getattr(post, name) != value)
    # A post no longer shared with family is told to family too (as an event whose post they
    # cannot see), so their screens drop it.
    hidden = post.visible_to_family and not changes.get("visible_to_family", True)
    for name, value in changes.items():
        setattr(post, name, value)
    post.revision += 1
    post.edited_at = utcnow()
    session.add(post)
    await session.flush()
    await record_change(
        session,
        broker,
        actor=actor,
        post=post,
        kind=FeedEventKind.POST_EDITED,
        detail={"revision": post.revision, "fields": changed},
        audience=FeedAudience.TEAM if hidden else None,
    )
    return post


def validate_retraction_reason(reason: str) -> str:
    text = validate_body(reason, field_name="reason")
    if not text:
        raise BadInput("Say why the post is retracted.", field="reason")
    if len(text) > MAX_REASON:
        raise BadInput(f"Write at most {MAX_REASON} characters.", field="reason")
    if "\n" in text or "\t" in text:
        raise BadInput("The reason is one line.", field="reason")
    return text


async def check_retract_post(runtime: Runtime, *, gate: Gate, post_id: int, reason: str) -> Post:
    """Retract a post: its author (while still able to post), or a coordinator of the team."""
    async with runtime.db.transaction() as session:
        post = await _held(session, gate=gate, post_id=post_id)
        if post.author_id == gate.actor.user_id:
            await require_post_create(
                gate,
                post.patient_id,
                instruction=False,
                visible_to_family=post.visible_to_family,
            )
        else:
            await gate.require(post.patient_id, "post.others", "retract")
        text = validate_retraction_reason(reason)
        if post.retracted_at is not None:
            raise BadInput("This post is already retracted.", field="postId")
        return await do_retract_post(
            session, runtime.broker, actor=gate.actor, post=post, reason=text
        )


async def do_retract_post(
    session: AsyncSession, broker: Broker, *, actor: Actor, post: Post, reason: str
) -> Post:
    post.retracted_at = utcnow()
    post.retracted_by = actor.user_id
    post.retract_reason = reason
    session.add(post)
    await session.flush()
    # The reason is free text about the patient: it stays on the post, not in the audit log.
    await record_change(
        session,
        broker,
        actor=actor,
        post=post,
        kind=FeedEventKind.POST_RETRACTED,
        detail={"author_id": post.author_id},
    )
    return post


async def list_history(session: AsyncSession, *, post: Post, scope: Scope) -> list[Version]:
    """Every version of the post, oldest first, the current one last.

    A retracted post's versions read as empty, like the post; a family reader sees only the
    versions that were shared with the family.
    """
    revisions = await service.list_revisions(session, post_id=_pk(post))
    versions = [
        Version(
            revision=r.revision,
            category=r.category,
            body=r.body,
            vitals=r.vitals,
            vitals_flags=list(r.vitals_flags),
            urgent=r.urgent,
            visible_to_family=r.visible_to_family,
            written_by=r.written_by,
            written_at=r.written_at,
        )
        for r in revisions
    ]
    versions.append(current_version(post))
    if scope is Scope.FAMILY:
        versions = [v for v in versions if v.visible_to_family]
    if post.retracted_at is not None:
        versions = [replace(v, body="", vitals=None, vitals_flags=[]) for v in versions]
    return versions
