"""Reads about accounts: users, organisations, sessions. No commits here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.accounts.models import AuthSession, Organisation, OrganisationMember, User
from renraku.accounts.secrets import token_hash
from renraku.kinds import UserKind
from renraku.settings import Settings
from renraku.timeutil import utcnow

# Refresh a session's last-seen time at most this often, so reads do not each cost a write.
TOUCH_INTERVAL = timedelta(minutes=1)


def actor_for(user: User, session_id: int | None = None) -> Actor:
    assert user.id is not None
    return Actor(
        user_id=user.id,
        username=user.username,
        kind=UserKind(user.kind),
        profession=user.profession,
        municipality_code=user.municipality_code,
        session_id=session_id,
    )


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    normalized = username.strip().lower()
    if not normalized or len(normalized) > 80:
        return None
    return (await session.exec(select(User).where(User.username == normalized))).first()


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def users_by_id(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, User]:
    """The users with these ids (None and unknown ids are left out), in one query."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await session.exec(select(User).where(col(User.id).in_(wanted)))
    return {u.id: u for u in rows.all() if u.id is not None}


async def list_organisations_of(session: AsyncSession, user_id: int) -> list[Organisation]:
    rows = await session.exec(
        select(Organisation)
        .join(OrganisationMember, col(OrganisationMember.organisation_id) == Organisation.id)
        .where(OrganisationMember.user_id == user_id)
        .order_by(col(Organisation.name))
    )
    return list(rows.all())


def _is_live(
    revoked_at: datetime | None, expires_at: datetime, last_seen_at: datetime, settings: Settings
) -> bool:
    now = utcnow()
    if revoked_at is not None or expires_at <= now:
        return False
    return last_seen_at + timedelta(minutes=settings.session_idle_minutes) > now


async def live_session_ids(
    session: AsyncSession, session_ids: list[int], settings: Settings
) -> set[int]:
    """Which of these sessions are still live, for an active user: the rule of _is_live,
    asked of the database for many sessions at once (the live feed checks every open socket)."""
    now = utcnow()
    rows = await session.exec(
        select(AuthSession.id)
        .join(User, col(User.id) == AuthSession.user_id)
        .where(
            col(AuthSession.id).in_(session_ids),
            col(User.active).is_(True),
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > now,
            col(AuthSession.last_seen_at) > now - timedelta(minutes=settings.session_idle_minutes),
        )
    )
    return {int(found) for found in rows.all() if found is not None}


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A live session as a request needs it: who acts, and when the session was last seen."""

    session_id: int
    last_seen_at: datetime
    actor: Actor


# Run for every request, so built once (building and keying it each time cost about as much as
# running it), and run on a plain connection for the columns a request needs: loading the two
# rows as ORM objects cost more than the statement.
_LIVE_SESSION_BY_TOKEN = (
    sa_select(
        col(AuthSession.id),
        col(AuthSession.last_seen_at),
        col(AuthSession.expires_at),
        col(AuthSession.revoked_at),
        col(User.id),
        col(User.username),
        col(User.kind),
        col(User.profession),
        col(User.municipality_code),
        col(User.active),
        col(User.is_demo),
    )
    .join(User, col(User.id) == AuthSession.user_id)
    .where(col(AuthSession.token_hash) == bindparam("token_hash"))
)


async def find_live_session(
    session: AsyncSession, token: str, settings: Settings
) -> LiveSession | None:
    """The session behind a token, if it is live and its user active."""
    if not token or len(token) > 128:
        return None
    connection = await session.connection()
    found = await connection.execute(_LIVE_SESSION_BY_TOKEN, {"token_hash": token_hash(token)})
    row = found.first()
    if row is None:
        return None
    (
        session_id,
        last_seen,
        expires,
        revoked,
        user_id,
        username,
        kind,
        profession,
        code,
        active,
        is_demo,
    ) = row
    if not active or not _is_live(revoked, expires, last_seen, settings):
        return None
    if is_demo and settings.is_production:
        return None
    assert session_id is not None and user_id is not None  # primary keys of stored rows
    actor = Actor(
        user_id=user_id,
        username=username,
        kind=UserKind(kind),
        profession=profession,
        municipality_code=code,
        session_id=session_id,
    )
    return LiveSession(session_id=session_id, last_seen_at=last_seen, actor=actor)
