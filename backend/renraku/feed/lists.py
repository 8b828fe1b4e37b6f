"""Lists of posts across patients: "my feed" and search. Each is filtered in SQL by the patients
the actor reads, and how (every post, or the family-visible ones only)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.access.notebook import Scope, shown_filter, team_roles_reading, timeline_scope
from renraku.access.scopes import active_membership
from renraku.errors import BadInput
from renraku.feed.models import Post
from renraku.glass.models import GlassAccess, live_glass
from renraku.paging import Page, decode_cursor, encode_cursor, page_size
from renraku.teams.models import Patient, TeamMembership

MAX_QUERY = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Readable:
    """The patients an actor reads: every post of `full`, the family-visible ones of `family`."""

    full: frozenset[int] = field(default_factory=frozenset)
    family: frozenset[int] = field(default_factory=frozenset)

    @property
    def patient_ids(self) -> list[int]:
        return sorted(self.full | self.family)

    def condition(self) -> Any:
        """A WHERE clause on Post: the posts these scopes read."""
        return col(Post.patient_id).in_(sorted(self.full)) | (
            col(Post.patient_id).in_(sorted(self.family - self.full)) & shown_filter(Scope.FAMILY)
        )


async def care_team_patients(session: AsyncSession, *, actor: Actor) -> Readable:
    """The live patients on whose care team the actor is, by how they read the notebook."""
    if not actor.is_team_kind:
        return Readable()
    rows = await session.exec(
        select(TeamMembership.patient_id, TeamMembership.role)
        .join(Patient, col(Patient.id) == col(TeamMembership.patient_id))
        .where(
            col(TeamMembership.user_id) == actor.user_id,
            active_membership(),
            col(Patient.archived_at).is_(None),
        )
    )
    full_roles = set(team_roles_reading(Scope.ALL))
    family_roles = set(team_roles_reading(Scope.FAMILY))
    found = rows.all()
    full = frozenset(pid for pid, role in found if role in full_roles)
    family = frozenset(pid for pid, role in found if role in family_roles) - full
    return Readable(full=full, family=family)


async def readable_patients(session: AsyncSession, *, actor: Actor) -> Readable:
    """Every patient whose notebook the actor reads: their care teams and live glass grants."""
    teams = await care_team_patients(session, actor=actor)
    if not actor.is_professional:
        return teams
    glass = await session.exec(
        select(GlassAccess.patient_id)
        .join(Patient, col(Patient.id) == col(GlassAccess.patient_id))
        .where(
            col(GlassAccess.user_id) == actor.user_id,
            live_glass(),
            col(Patient.archived_at).is_(None),
        )
    )
    return Readable(full=teams.full | frozenset(glass.all()), family=teams.family)


async def _page(
    session: AsyncSession, query: Any, *, first: int | None, after: str | None
) -> Page[Post]:
    """Newest first, by id (ids grow with time)."""
    size = page_size(first)
    key = decode_cursor(after, types=(int,))
    if key is not None:
        query = query.where(col(Post.id) < key[0])
    rows = list((await session.exec(query.order_by(col(Post.id).desc()).limit(size + 1))).all())
    return Page(
        items=[(p, encode_cursor([p.id])) for p in rows[:size]], has_next_page=len(rows) > size
    )


async def my_feed_page(
    session: AsyncSession,
    *,
    actor: Actor,
    first: int | None,
    after: str | None,
    urgent_only: bool,
) -> Page[Post]:
    """Posts of the actor's care-team patients, newest first, replies included."""
    readable = await care_team_patients(session, actor=actor)
    query = select(Post).where(readable.condition())
    if urgent_only:
        query = query.where(col(Post.urgent).is_(True), col(Post.retracted_at).is_(None))
    return await _page(session, query, first=first, after=after)


def validate_query(text: str) -> str:
    term = text.strip()
    if not 0 < len(term) <= MAX_QUERY:
        raise BadInput(f"Search for 1 to {MAX_QUERY} characters.", field="query")
    if _CONTROL.search(term):
        raise BadInput("The search holds control characters.", field="query")
    return term


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_page(
    session: AsyncSession,
    *,
    gate: Gate,
    text: str,
    patient_id: int | None,
    first: int | None,
    after: str | None,
) -> Page[Post]:
    """Posts whose text holds `text`, within the patients the actor reads (or one of them).

    Retracted posts are never found: their text is no longer shown to anyone.
    """
    term = validate_query(text)
    if patient_id is not None:
        scope = await timeline_scope(gate, patient_id)
        readable = (
            Readable(full=frozenset({patient_id}))
            if scope is Scope.ALL
            else Readable(family=frozenset({patient_id}))
        )
    else:
        readable = await readable_patients(session, actor=gate.actor)
    query = select(Post).where(
        readable.condition(),
        col(Post.retracted_at).is_(None),
        col(Post.body).ilike(f"%{_escape_like(term)}%", escape="\\"),
    )
    return await _page(session, query, first=first, after=after)
