"""Break-the-glass: a clinician not on a patient's team opens it, read-only, for a few hours.

Who may is policy (policies/roles.csv, `break_glass` on `patient` for the role
`profession.<profession>`). Opening stores the grant, its audit record (with the stated reason) and
a notice to each coordinator of the team in one transaction. While the grant is live the clinician's
role on the patient is `glass` (access/scopes.py decides it from glass/models.py); the patient never
joins their `patients` list.

Order of checks, so that nothing leaks: a malformed id or a reason that does not pass answers before
any patient is looked at; a patient the actor cannot see answers NOT_FOUND unless the actor is a
clinician (who may open any live patient, which is why opening is audited and told).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.scopes import GLASS, roles_on
from renraku.accounts.models import User
from renraku.audit import changes
from renraku.errors import BadInput, Forbidden, NotFound, RateLimited
from renraku.glass.models import GlassAccess
from renraku.kinds import TeamRole
from renraku.notices.actions import do_notify
from renraku.runtime import Runtime
from renraku.teams import service as teams_service
from renraku.teams.models import Patient
from renraku.text import validate_text, visible_length
from renraku.timeutil import utcnow

MIN_REASON, MAX_REASON = 5, 400
# Enough for a clinician covering a night of emergencies; more in a day asks for a look.
MAX_OPENINGS, OPENINGS_WINDOW = 10, timedelta(hours=24)
NOTICE_KIND = "glass_opened"
_TEAM_ROLES = frozenset(r.value for r in TeamRole)


def profession_roles(actor: Actor) -> frozenset[str]:
    """The actor's role by profession (`profession.nurse`), for professionals only."""
    if not actor.is_professional or not actor.profession:
        return frozenset()
    return frozenset({f"profession.{actor.profession}"})


def check_reason(reason: str | None) -> str:
    text = validate_text(reason, name="reason", max_length=MAX_REASON, required=True)
    # Counted as a reader sees it, so that invisible characters cannot make up a reason.
    if visible_length(text) < MIN_REASON:
        raise BadInput(
            f"reason must have at least {MIN_REASON} visible characters.", field="reason"
        )
    return text


async def _check_rate(session: AsyncSession, actor: Actor) -> None:
    # Locks the user's row on PostgreSQL so two openings at once count each other (SQLite's
    # writers are serialised already).
    await session.exec(select(User.id).where(User.id == actor.user_id).with_for_update())
    since = utcnow() - OPENINGS_WINDOW
    count, oldest = (
        await session.exec(
            select(func.count(), func.min(GlassAccess.starts_at)).where(
                col(GlassAccess.user_id) == actor.user_id, col(GlassAccess.starts_at) > since
            )
        )
    ).one()
    if count >= MAX_OPENINGS and oldest is not None:
        wait = (oldest + OPENINGS_WINDOW - utcnow()).total_seconds()
        raise RateLimited(retry_after=max(1, int(wait + 0.999)))


async def check_break_glass(
    runtime: Runtime, *, actor: Actor, patient_id: int, reason: str | None
) -> GlassAccess:
    """Open the patient to the clinician, read-only, for the configured hours."""
    text = check_reason(reason)
    async with runtime.db.transaction() as session:
        roles = (await roles_on(session, actor, [patient_id])).get(patient_id, frozenset())
        if roles & _TEAM_ROLES:
            raise BadInput("You are on this team.", field="patientId")
        if GLASS in roles:
            raise BadInput("You already have break-the-glass access.", field="patientId")
        if not allowed(profession_roles(actor), "patient", "break_glass"):
            # FORBIDDEN only where the patient is visible (a manager's, a planner's); to anyone
            # else it does not exist.
            raise Forbidden if roles else NotFound
        await _check_rate(session, actor)
        patient = await teams_service.get_live_patient(session, patient_id)
        return await do_break_glass(
            session,
            actor=actor,
            patient=patient,
            reason=text,
            hours=runtime.settings.glass_hours,
        )


async def do_break_glass(
    session: AsyncSession, *, actor: Actor, patient: Patient, reason: str, hours: int
) -> GlassAccess:
    assert patient.id is not None
    now = utcnow()
    access = GlassAccess(
        patient_id=patient.id,
        user_id=actor.user_id,
        reason=reason,
        starts_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(access)
    await session.flush()
    assert access.id is not None
    await changes.record(
        session,
        actor=actor,
        action="access.glass_opened",
        object_type="patient",
        object_ids=[patient.id],
        reason=reason,
        detail={"glass_access_id": access.id},
    )
    coordinators = await teams_service.active_coordinators(session, patient_id=patient.id)
    await do_notify(
        session,
        user_ids=[m.user_id for m in coordinators],
        kind=NOTICE_KIND,
        patient_id=patient.id,
        data={"glass_access_id": access.id, "user_id": actor.user_id},
    )
    return access
