"""Who may read and write which posts of a patient's notebook (rules in policies/roles.csv).

A reader sees the whole timeline (`timeline` read: team professionals, break-the-glass) or only
the posts shared with family (`timeline.family` read); anyone else who may see the patient gets
FORBIDDEN, and whoever may not see it NOT_FOUND. A single post its reader may not read is
NOT_FOUND for everyone, as a missing one.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from sqlalchemy import true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.gate import Gate
from renraku.errors import Forbidden, NotFound
from renraku.feed.models import Post
from renraku.kinds import FeedAudience, FeedEventKind, TeamRole


class Scope(StrEnum):
    ALL = "all"
    FAMILY = "family"


def shown(post: Post, scope: Scope) -> bool:
    """Whether a post is shown to readers with `scope`: family see only the posts shared with
    them now (whatever they were once sent). The one rule; `shown_filter` is it in SQL."""
    return scope is Scope.ALL or post.visible_to_family


def shown_filter(scope: Scope) -> ColumnElement[bool]:
    """`shown` as a WHERE clause on Post, for lists, searches, counts and loaders."""
    if scope is Scope.ALL:
        return true()
    return col(Post.visible_to_family).is_(True)


async def timeline_scope(gate: Gate, patient_id: int) -> Scope:
    """Which of the patient's posts the actor may read; NotFound/Forbidden if none."""
    if await gate.may(patient_id, "timeline", "read"):
        return Scope.ALL
    if await gate.may(patient_id, "timeline.family", "read"):
        return Scope.FAMILY
    await gate.require(patient_id, "timeline", "read")  # raises, and records the refusal
    raise Forbidden  # unreachable: require() raised


def timeline_scope_now(gate: Gate, patient_id: int) -> Scope | None:
    """`timeline_scope` when it can be told without waiting and is not a refusal; None sends
    the caller to `timeline_scope` (which loads the roles, or raises and records the refusal)."""
    full = gate.may_now(patient_id, "timeline", "read")
    if full:
        return Scope.ALL
    if full is not None and gate.may_now(patient_id, "timeline.family", "read"):
        return Scope.FAMILY
    return None


async def require_post_read(gate: Gate, post: Post) -> Scope:
    """The actor's scope on the patient if they may read one of its posts; NotFound otherwise.

    NotFound even for those who see the patient (managers, planners): a post they may not read
    does not exist for them (DESIGN.md, API conventions). The refusal is audited as a denial, and
    the read is noted only once the post is known to be readable.
    """
    patient_id = post.patient_id
    scope = scope_of(await gate.roles(patient_id))
    if scope is None or not shown(post, scope):
        await gate.refuse(patient_id, "post", "read")
        raise NotFound
    await gate.may(patient_id, "timeline" if scope is Scope.ALL else "timeline.family", "read")
    return scope


# The live feed asks these for every subscriber of every event: cached, as the policy is fixed
# for the life of the process (access.enforcer) and role sets are few.
@lru_cache(maxsize=1024)
def scope_of(roles: frozenset[str]) -> Scope | None:
    """The same decision from roles already known (a live subscription's re-check)."""
    if allowed(roles, "timeline", "read"):
        return Scope.ALL
    if allowed(roles, "timeline.family", "read"):
        return Scope.FAMILY
    return None


# Events that say who read or acknowledged a post: what `Post.readBy` and `acknowledgedBy` tell.
_RECEIPT_EVENTS = frozenset({FeedEventKind.POST_READ, FeedEventKind.POST_ACKNOWLEDGED})


@lru_cache(maxsize=4096)
def may_receive(kind: FeedEventKind, audience: FeedAudience, roles: frozenset[str]) -> bool:
    """Whether a reader with `roles` on the event's patient may be sent the event: only what
    they could read over HTTP (the post as their scope shows it, receipts, the team)."""
    scope = scope_of(roles)
    if scope is None:
        return False
    if kind in _RECEIPT_EVENTS and not allowed(roles, "post.receipts", "read"):
        return False
    if kind is FeedEventKind.MEMBERSHIP_CHANGED:
        return allowed(roles, "team", "read")
    return scope is Scope.ALL or audience is FeedAudience.TEAM


def team_roles_reading(scope: Scope) -> list[str]:
    """The team roles whose members read the timeline with `scope` (for list queries in SQL)."""
    obj = "timeline" if scope is Scope.ALL else "timeline.family"
    full = [r.value for r in TeamRole if allowed({r.value}, "timeline", "read")]
    if scope is Scope.ALL:
        return full
    return [r.value for r in TeamRole if r.value not in full and allowed({r.value}, obj, "read")]


async def require_post_create(
    gate: Gate, patient_id: int, *, instruction: bool, visible_to_family: bool
) -> frozenset[str]:
    """The actor's roles if they may write this post; family may only write family-visible ones."""
    actor = gate.actor
    if await gate.may(patient_id, "post", "create"):
        roles = await gate.roles(patient_id)
    else:
        roles = await gate.require(patient_id, "post.family", "create")
        if not visible_to_family or instruction:
            raise Forbidden
    if instruction and not may_write_instructions(actor):
        raise Forbidden
    return roles


def may_write_instructions(actor: Actor) -> bool:
    return actor.profession is not None and allowed(
        {f"profession.{actor.profession}"}, "post.instruction", "create"
    )
