"""Who may act on another person's account.

The actor's relations to the user in question come from SQL (care-team coordination, the user's
municipality, the operator kind); what each relation allows per kind of account lives in
policies/roles.csv as rows on the object `account.<user kind>`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.scopes import MANAGER
from renraku.accounts.models import User
from renraku.errors import NotFound
from renraku.kinds import TeamRole, UserKind
from renraku.teams.models import Patient, TeamMembership
from renraku.timeutil import utcnow

COORDINATOR = TeamRole.COORDINATOR.value
OPERATOR = UserKind.OPERATOR.value
RESET_ACTION = "reset_password"


def _active(membership: type[TeamMembership]) -> ColumnElement[bool]:
    now = utcnow()
    return and_(
        col(membership.starts_at) <= now,
        or_(col(membership.ends_at).is_(None), col(membership.ends_at) > now),
    )


async def _coordinates_team_of(session: AsyncSession, actor: Actor, user_id: int) -> bool:
    """True if the actor coordinates a live patient's care team that the user is on."""
    mine = aliased(TeamMembership)
    theirs = aliased(TeamMembership)
    query = (
        select(col(mine.patient_id))
        .join(theirs, col(theirs.patient_id) == col(mine.patient_id))
        .join(Patient, col(Patient.id) == col(mine.patient_id))
        .where(
            col(mine.user_id) == actor.user_id,
            col(mine.role) == COORDINATOR,
            _active(mine),
            col(theirs.user_id) == user_id,
            _active(theirs),
            col(Patient.archived_at).is_(None),
        )
        .limit(1)
    )
    return (await session.exec(query)).first() is not None


async def relations_to_user(session: AsyncSession, actor: Actor, user: User) -> frozenset[str]:
    """The actor's relations to `user`, as role names of policies/roles.csv."""
    if user.id is None or user.id == actor.user_id or not user.active:
        # Nobody acts on their own account through these paths, nor on a deactivated one.
        return frozenset()
    relations: set[str] = set()
    if actor.kind is UserKind.OPERATOR:
        relations.add(OPERATOR)
    if (
        actor.kind is UserKind.MUNICIPALITY
        and actor.municipality_code is not None
        and user.municipality_code == actor.municipality_code
    ):
        relations.add(MANAGER)
    if actor.is_team_kind and await _coordinates_team_of(session, actor, user.id):
        relations.add(COORDINATOR)
    return frozenset(relations)


async def access_user_for_reset(session: AsyncSession, *, actor: Actor, user_id: int) -> User:
    """The user whose password the actor may reset; NotFound for missing and not-allowed alike."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound
    relations = await relations_to_user(session, actor, user)
    if not allowed(relations, f"account.{user.kind}", RESET_ACTION):
        raise NotFound
    return user
