"""Reading break-the-glass grants: a clinician's own, for `myGlassAccesses`."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.glass.models import GlassAccess, live_glass

MAX_LISTED = 100


async def list_my_glass_accesses(
    session: AsyncSession, *, actor: Actor, active: bool | None
) -> list[GlassAccess]:
    """The actor's own grants, newest first; `active` keeps only live (True) or past (False)."""
    query = select(GlassAccess).where(col(GlassAccess.user_id) == actor.user_id)
    if active is True:
        query = query.where(live_glass())
    elif active is False:
        query = query.where(~live_glass())
    query = query.order_by(col(GlassAccess.starts_at).desc(), col(GlassAccess.id).desc())
    return list((await session.exec(query.limit(MAX_LISTED))).all())


async def list_patient_glass_accesses(
    session: AsyncSession, *, patient_id: int
) -> list[GlassAccess]:
    """Every break-the-glass grant on the patient, newest first (the caller decided who may see)."""
    query = (
        select(GlassAccess)
        .where(col(GlassAccess.patient_id) == patient_id)
        .order_by(col(GlassAccess.starts_at).desc(), col(GlassAccess.id).desc())
    )
    return list((await session.exec(query.limit(MAX_LISTED))).all())
