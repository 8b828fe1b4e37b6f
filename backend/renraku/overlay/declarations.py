"""Incidents for an actor: declare, end and list, decided through renraku.access.

Who may is the actor's relation to the municipality (access/municipal.py: its manager or its
planner) and policies/roles.csv, object `incident`. Declaring answers FORBIDDEN to anyone else
(municipalities are public); an incident the actor may not read answers NOT_FOUND, like any id.
Ending one tells its municipality's planners' live subscriptions at once (revocations.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.municipal import relations_to_municipality
from renraku.accounts.models import User
from renraku.errors import Forbidden, NotFound
from renraku.kinds import UserKind
from renraku.overlay.areas import parse_area
from renraku.overlay.incidents import (
    MAX_REASON_LENGTH,
    TRIGGER_LEVEL,
    do_confirm_incident,
    do_declare_incident,
    do_end_incident,
    list_incidents,
)
from renraku.overlay.live import IncidentChange, announce_on_commit
from renraku.overlay.models import Incident, IncidentPatient
from renraku.revocations import RevocationReason, revoke_on_commit
from renraku.runtime import Runtime
from renraku.text import validate_text

OBJECT = "incident"
# Incidents are rare (a few a year); the list shows the latest ones.
MAX_LISTED = 100


def _allowed_on(actor: Actor, municipality_code: str | None, act: str) -> bool:
    if municipality_code is None:
        return False
    return allowed(relations_to_municipality(actor, municipality_code), OBJECT, act)


async def check_declare_incident(
    runtime: Runtime,
    *,
    actor: Actor,
    area: str | None,
    reason: str,
    ends_at: datetime,
    level: int = TRIGGER_LEVEL,
    drill: bool = False,
) -> Incident:
    """Declare an incident (or a drill) in the actor's own municipality (no area: all of it)."""
    code = actor.municipality_code
    if code is None or not _allowed_on(actor, code, "declare"):
        raise Forbidden
    text = validate_text(
        reason, name="reason", max_length=MAX_REASON_LENGTH, required=True, note=True
    )
    shape = parse_area(area) if area is not None else None
    async with runtime.db.transaction() as session:
        return await do_declare_incident(
            session,
            actor=actor,
            municipality_code=code,
            area=shape,
            reason=text,
            ends_at=ends_at,
            level=level,
            drill=drill,
        )


async def access_incident(
    session: AsyncSession, *, actor: Actor, incident_id: int, act: str, for_update: bool = False
) -> Incident:
    """The incident if the actor may read it and do `act`; NotFound if missing or unreadable."""
    query = select(Incident).where(Incident.id == incident_id)
    if for_update:
        query = query.with_for_update()
    incident = (await session.exec(query)).first()
    if incident is None or not _allowed_on(actor, incident.municipality_code, "read"):
        raise NotFound
    if not _allowed_on(actor, incident.municipality_code, act):
        raise Forbidden
    return incident


async def check_end_incident(runtime: Runtime, *, actor: Actor, incident_id: int) -> Incident:
    """End an active incident now; its planners lose the identifiable view with it."""
    async with runtime.db.transaction() as session:
        incident = await access_incident(
            session, actor=actor, incident_id=incident_id, act="end", for_update=True
        )
        ended = await do_end_incident(session, actor=actor, incident=incident)
        planners = await session.exec(
            select(User.id).where(
                User.kind == UserKind.PLANNER.value,
                User.municipality_code == incident.municipality_code,
            )
        )
        inside = await session.exec(
            select(IncidentPatient.patient_id).where(IncidentPatient.incident_id == incident_id)
        )
        revoke_on_commit(
            session,
            runtime,
            user_ids=[uid for uid in planners.all() if uid is not None],
            patient_ids=inside.all(),
            reason=RevocationReason.INCIDENT_ENDED,
        )
        announce_on_commit(
            session, runtime.broker, incident_id=incident_id, change=IncidentChange.ENDED
        )
    return ended


async def check_confirm_incident(runtime: Runtime, *, actor: Actor, incident_id: int) -> Incident:
    """Confirm a pending incident (opened by an untrusted source's alert): names unlock now."""
    async with runtime.db.transaction() as session:
        incident = await access_incident(
            session, actor=actor, incident_id=incident_id, act="confirm", for_update=True
        )
        confirmed = await do_confirm_incident(session, actor=actor, incident=incident)
        announce_on_commit(
            session, runtime.broker, incident_id=incident_id, change=IncidentChange.LIST
        )
        return confirmed


async def list_incidents_for(
    session: AsyncSession, *, actor: Actor, active: bool | None
) -> list[Incident]:
    """The incidents of the actor's own municipality, newest first (managers and planners)."""
    code = actor.municipality_code
    if code is None or not _allowed_on(actor, code, "read"):
        raise Forbidden
    found = await list_incidents(session, municipality_code=code, active=active)
    return found[:MAX_LISTED]


async def count_inside(session: AsyncSession, incident_ids: Sequence[int]) -> dict[int, int]:
    """How many patients each incident holds, in one query."""
    if not incident_ids:
        return {}
    rows = await session.exec(
        select(IncidentPatient.incident_id, func.count())
        .where(col(IncidentPatient.incident_id).in_(list(incident_ids)))
        .group_by(col(IncidentPatient.incident_id))
    )
    return {incident_id: int(count) for incident_id, count in rows.all()}
