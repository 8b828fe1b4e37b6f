"""Which patients an actor may see, as SQL, and the actor's roles on given patients.

Every list of patients is filtered here, in the query; nothing is fetched and then filtered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, exists, false, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.kinds import UserKind
from renraku.teams.models import Patient, TeamMembership
from renraku.timeutil import utcnow

MANAGER = "manager"


def active_membership() -> ColumnElement[bool]:
    now = utcnow()
    return and_(
        col(TeamMembership.starts_at) <= now,
        or_(col(TeamMembership.ends_at).is_(None), col(TeamMembership.ends_at) > now),
    )


def visible_patients(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause on Patient: the patients `actor` may see at all."""
    live = col(Patient.archived_at).is_(None)
    if actor.is_team_kind:
        member = exists().where(
            col(TeamMembership.patient_id) == col(Patient.id),
            col(TeamMembership.user_id) == actor.user_id,
            active_membership(),
        )
        return and_(live, member)
    if actor.kind is UserKind.MUNICIPALITY and actor.municipality_code:
        return and_(live, col(Patient.municipality_code) == actor.municipality_code)
    # Planners see patients through emergencies and consent (the access capability);
    # operators never see patient data.
    return false()


async def roles_on(
    session: AsyncSession, actor: Actor, patient_ids: Sequence[int]
) -> dict[int, frozenset[str]]:
    """The actor's roles on each patient, in one query (patients not visible get no roles)."""
    roles: dict[int, set[str]] = defaultdict(set)
    if not patient_ids:
        return {}
    ids = list(dict.fromkeys(patient_ids))
    if actor.is_team_kind:
        rows = await session.exec(
            select(TeamMembership.patient_id, TeamMembership.role)
            .join(Patient, col(Patient.id) == TeamMembership.patient_id)
            .where(
                col(TeamMembership.patient_id).in_(ids),
                TeamMembership.user_id == actor.user_id,
                active_membership(),
                col(Patient.archived_at).is_(None),
            )
        )
        for patient_id, role in rows.all():
            roles[patient_id].add(role)
    elif actor.kind is UserKind.MUNICIPALITY:
        rows2 = await session.exec(
            select(Patient.id).where(col(Patient.id).in_(ids), visible_patients(actor))
        )
        for patient_id2 in rows2.all():
            assert patient_id2 is not None
            roles[patient_id2].add(MANAGER)
    return {pid: frozenset(r) for pid, r in roles.items()}
