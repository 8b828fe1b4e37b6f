"""Declaring and ending emergencies, and keeping their patient lists current."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import or_
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.audit import changes
from renraku.errors import BadInput, NotFound
from renraku.geo import boundaries
from renraku.overlay.areas import parse_area, to_geojson
from renraku.overlay.models import Emergency, EmergencyPatient, active_emergency
from renraku.teams.models import Patient
from renraku.text import clean_text, visible_length
from renraku.timeutil import utcnow

MAX_EMERGENCY_HOURS = 24 * 14
MAX_REASON_LENGTH = 400


def validate_declaration(*, reason: str, ends_at: datetime, now: datetime | None = None) -> str:
    now = now or utcnow()
    reason = clean_text(reason, multiline=True)
    if not visible_length(reason):
        raise BadInput("Give the reason for the emergency.", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise BadInput(f"The reason is longer than {MAX_REASON_LENGTH} characters.", field="reason")
    if ends_at.tzinfo is None:
        raise BadInput("The end time needs a time zone.", field="endsAt")
    if ends_at <= now:
        raise BadInput("The end time must be in the future.", field="endsAt")
    if ends_at > now + timedelta(hours=MAX_EMERGENCY_HOURS):
        raise BadInput(
            f"An emergency lasts at most {MAX_EMERGENCY_HOURS} hours; declare it again after.",
            field="endsAt",
        )
    return reason


def _inside(area: BaseGeometry | None, patients: Sequence[Patient]) -> list[int]:
    if area is None:
        return [p.id for p in patients if p.id is not None]
    lons = [p.longitude for p in patients]
    lats = [p.latitude for p in patients]
    mask = shapely.contains_xy(area, lons, lats)
    return [p.id for p, inside in zip(patients, mask, strict=True) if inside and p.id is not None]


async def do_declare_emergency(
    session: AsyncSession,
    *,
    actor: Actor | None,
    municipality_code: str,
    area: BaseGeometry | None,
    reason: str,
    ends_at: datetime,
) -> Emergency:
    """Declare an emergency (authorisation is the caller's, through renraku.access)."""
    reason = validate_declaration(reason=reason, ends_at=ends_at)
    if municipality_code not in boundaries():
        raise BadInput("Unknown municipality code.", field="municipalityCode")
    if area is not None and not area.intersects(boundaries()[municipality_code]):
        raise BadInput("The area does not touch the municipality.", field="area")
    emergency = Emergency(
        municipality_code=municipality_code,
        area=to_geojson(area) if area is not None else None,
        reason=reason,
        ends_at=ends_at,
        declared_by=actor.user_id if actor else None,
    )
    session.add(emergency)
    await session.flush()
    assert emergency.id is not None
    patients = (
        await session.exec(
            select(Patient).where(
                Patient.municipality_code == municipality_code, col(Patient.archived_at).is_(None)
            )
        )
    ).all()
    inside = _inside(area, patients)
    for patient_id in inside:
        session.add(EmergencyPatient(emergency_id=emergency.id, patient_id=patient_id))
    await changes.record(
        session,
        actor=actor,
        action="overlay.emergency_declared",
        object_type="emergency",
        object_ids=[emergency.id],
        detail={"municipality": municipality_code, "patients": len(inside)},
    )
    return emergency


async def do_end_emergency(
    session: AsyncSession, *, actor: Actor, emergency: Emergency
) -> Emergency:
    if emergency.ended_at is not None or emergency.ends_at <= utcnow():
        raise NotFound
    emergency.ended_at = utcnow()
    emergency.ended_by = actor.user_id
    session.add(emergency)
    assert emergency.id is not None
    await changes.record(
        session,
        actor=actor,
        action="overlay.emergency_ended",
        object_type="emergency",
        object_ids=[emergency.id],
    )
    return emergency


async def do_place_patient(session: AsyncSession, *, patient: Patient) -> None:
    """Put a new or moved patient into exactly the active emergencies whose area holds them."""
    assert patient.id is not None
    await session.exec(
        delete(EmergencyPatient).where(col(EmergencyPatient.patient_id) == patient.id)
    )
    if patient.archived_at is not None:
        return
    emergencies = (
        await session.exec(
            select(Emergency).where(
                Emergency.municipality_code == patient.municipality_code, active_emergency()
            )
        )
    ).all()
    for emergency in emergencies:
        area = parse_area(emergency.area) if emergency.area is not None else None
        if _inside(area, [patient]):
            assert emergency.id is not None
            session.add(EmergencyPatient(emergency_id=emergency.id, patient_id=patient.id))


async def list_emergencies(
    session: AsyncSession, *, municipality_code: str, active: bool | None
) -> list[Emergency]:
    query = select(Emergency).where(Emergency.municipality_code == municipality_code)
    if active is True:
        query = query.where(active_emergency())
    elif active is False:
        now = utcnow()
        query = query.where(
            or_(col(Emergency.ended_at).is_not(None), col(Emergency.ends_at) <= now)
        )
    return list((await session.exec(query.order_by(col(Emergency.starts_at).desc()))).all())
