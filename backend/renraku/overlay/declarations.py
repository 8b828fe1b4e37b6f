"""Emergencies for an actor: declare, end and list, decided through renraku.access.

Who may is the actor's relation to the municipality (access/municipal.py: its manager or its
planner) and policies/roles.csv, object `emergency`. Declaring answers FORBIDDEN to anyone else
(municipalities are public); an emergency the actor may not read answers NOT_FOUND, like any id.
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
from renraku.overlay.emergencies import (
    MAX_REASON_LENGTH,
    do_declare_emergency,
    do_end_emergency,
    list_emergencies,
)
from renraku.overlay.models import Emergency, EmergencyPatient
from renraku.revocations import RevocationReason, revoke_on_commit
from renraku.runtime import Runtime
from renraku.text import validate_text

OBJECT = "emergency"
# Emergencies are rare (a few a year); the list shows the latest ones.
MAX_LISTED = 100


def _allowed_on(actor: Actor, municipality_code: str | None, act: str) -> bool:
    if municipality_code is None:
        return False
    return allowed(relations_to_municipality(actor, municipality_code), OBJECT, act)


async def check_declare_emergency(
    runtime: Runtime, *, actor: Actor, area: str | None, reason: str, ends_at: datetime
) -> Emergency:
    """Declare an emergency in the actor's own municipality (omitted area = all of it)."""
    code = actor.municipality_code
    if code is None or not _allowed_on(actor, code, "declare"):
        raise Forbidden
    text = validate_text(
        reason, name="reason", max_length=MAX_REASON_LENGTH, required=True, note=True
    )
    shape = parse_area(area) if area is not None else None
    async with runtime.db.transaction() as session:
        return await do_declare_emergency(
            session, actor=actor, municipality_code=code, area=shape, reason=text, ends_at=ends_at
        )


async def access_emergency(
    session: AsyncSession, *, actor: Actor, emergency_id: int, act: str, for_update: bool = False
) -> Emergency:
    """The emergency if the actor may read it and do `act`; NotFound if missing or unreadable."""
    query = select(Emergency).where(Emergency.id == emergency_id)
    if for_update:
        query = query.with_for_update()
    emergency = (await session.exec(query)).first()
    if emergency is None or not _allowed_on(actor, emergency.municipality_code, "read"):
        raise NotFound
    if not _allowed_on(actor, emergency.municipality_code, act):
        raise Forbidden
    return emergency


async def check_end_emergency(runtime: Runtime, *, actor: Actor, emergency_id: int) -> Emergency:
    """End an active emergency now; its planners lose the identifiable view with it."""
    async with runtime.db.transaction() as session:
        emergency = await access_emergency(
            session, actor=actor, emergency_id=emergency_id, act="end", for_update=True
        )
        ended = await do_end_emergency(session, actor=actor, emergency=emergency)
        planners = await session.exec(
            select(User.id).where(
                User.kind == UserKind.PLANNER.value,
                User.municipality_code == emergency.municipality_code,
            )
        )
        inside = await session.exec(
            select(EmergencyPatient.patient_id).where(EmergencyPatient.emergency_id == emergency_id)
        )
        revoke_on_commit(
            session,
            runtime,
            user_ids=[uid for uid in planners.all() if uid is not None],
            patient_ids=inside.all(),
            reason=RevocationReason.EMERGENCY_ENDED,
        )
    return ended


async def list_emergencies_for(
    session: AsyncSession, *, actor: Actor, active: bool | None
) -> list[Emergency]:
    """The emergencies of the actor's own municipality, newest first (managers and planners)."""
    code = actor.municipality_code
    if code is None or not _allowed_on(actor, code, "read"):
        raise Forbidden
    found = await list_emergencies(session, municipality_code=code, active=active)
    return found[:MAX_LISTED]


async def count_inside(session: AsyncSession, emergency_ids: Sequence[int]) -> dict[int, int]:
    """How many patients each emergency holds, in one query."""
    if not emergency_ids:
        return {}
    rows = await session.exec(
        select(EmergencyPatient.emergency_id, func.count())
        .where(col(EmergencyPatient.emergency_id).in_(list(emergency_ids)))
        .group_by(col(EmergencyPatient.emergency_id))
    )
    return {emergency_id: int(count) for emergency_id, count in rows.all()}
