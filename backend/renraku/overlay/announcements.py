"""Telling people an incident began: the municipality's planners and the coordinators of the
people inside it get a notice each (ids and kinds only, as every notice).

A pending incident (an untrusted source's alert) goes to the planners alone, asking them to
confirm it; the coordinators hear of it once it is confirmed. Coordinators of people an incident
takes in later, as its area grows, are not told again (the incident banner shows it to them).
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from renraku.access.scopes import active_membership
from renraku.accounts.models import User
from renraku.kinds import TeamRole, UserKind
from renraku.notices.actions import do_notify, do_notify_all
from renraku.overlay.models import Incident, IncidentPatient
from renraku.teams.models import TeamMembership

STARTED = "incident_started"
PENDING = "incident_pending"


async def _planners(session: AsyncSession, municipality_code: str) -> list[int]:
    rows = await session.exec(
        select(User.id).where(
            User.kind == UserKind.PLANNER.value,
            User.municipality_code == municipality_code,
            col(User.active).is_(True),
        )
    )
    return [uid for uid in rows.all() if uid is not None]


def _coordinators(incident_id: int, planners: list[int]) -> SelectOfScalar[int]:
    """The coordinators of the people inside the incident (a planner is told once)."""
    return (
        select(col(TeamMembership.user_id))
        .join(IncidentPatient, col(IncidentPatient.patient_id) == col(TeamMembership.patient_id))
        .where(
            IncidentPatient.incident_id == incident_id,
            TeamMembership.role == TeamRole.COORDINATOR.value,
            active_membership(),
            col(TeamMembership.user_id).not_in(planners),
        )
    )


async def do_announce(session: AsyncSession, *, incident: Incident, inside: int) -> int:
    """Notices for an incident that just began (or was just confirmed); how many were sent."""
    assert incident.id is not None
    data: dict[str, int | str] = {
        "incident_id": incident.id,
        "level": incident.level,
        "patients": inside,
        "drill": int(incident.drill),
    }
    kind = PENDING if incident.pending else STARTED
    planners = await _planners(session, incident.municipality_code)
    sent = len(await do_notify(session, user_ids=planners, kind=kind, patient_id=None, data=data))
    if not incident.pending:
        # One statement however many: an incident may hold thousands of teams.
        sent += await do_notify_all(
            session, user_ids=_coordinators(incident.id, planners), kind=STARTED, data=data
        )
    return sent
