"""Reads about patients and care teams, for an explicit actor. No commits here."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.access.scopes import active_membership, visible_patients
from renraku.accounts.models import User
from renraku.errors import NotFound
from renraku.paging import Page, decode_cursor, encode_cursor, page_size
from renraku.teams.models import Consent, Patient, PatientContact, RiskProfile, TeamMembership

MAX_SEARCH_LENGTH = 100


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_patients(
    session: AsyncSession,
    *,
    actor: Actor,
    first: int | None,
    after: str | None,
    search: str | None,
) -> Page[Patient]:
    """The patients `actor` may see, ordered by reading (kana), filtered in SQL."""
    size = page_size(first)
    key = decode_cursor(after, types=(str, int))
    query = select(Patient).where(visible_patients(actor))
    if search:
        term = f"%{_escape_like(search.strip()[:MAX_SEARCH_LENGTH])}%"
        query = query.where(
            or_(
                col(Patient.display_name).like(term, escape="\\"),
                col(Patient.kana).like(term, escape="\\"),
            )
        )
    if key is not None:
        kana, last_id = key
        query = query.where(
            or_(col(Patient.kana) > kana, (col(Patient.kana) == kana) & (col(Patient.id) > last_id))
        )
    query = query.order_by(col(Patient.kana), col(Patient.id)).limit(size + 1)
    rows = list((await session.exec(query)).all())
    items = [(p, encode_cursor([p.kana, p.id])) for p in rows[:size]]
    return Page(items=items, has_next_page=len(rows) > size)


async def access_patient(session: AsyncSession, *, gate: Gate, patient_id: int) -> Patient:
    """The patient if the actor may read it; NotFound for missing and invisible alike."""
    await gate.require(patient_id, "patient", "read")
    patient = await session.get(Patient, patient_id)
    if patient is None or patient.archived_at is not None:
        raise NotFound
    return patient


async def get_risk(session: AsyncSession, patient_id: int) -> RiskProfile | None:
    return await session.get(RiskProfile, patient_id)


async def list_contacts(session: AsyncSession, patient_id: int) -> list[PatientContact]:
    rows = await session.exec(
        select(PatientContact)
        .where(PatientContact.patient_id == patient_id)
        .order_by(col(PatientContact.is_key_person).desc(), col(PatientContact.id))
    )
    return list(rows.all())


async def list_team(session: AsyncSession, patient_id: int) -> list[tuple[TeamMembership, User]]:
    rows = await session.exec(
        select(TeamMembership, User)
        .join(User, col(User.id) == TeamMembership.user_id)
        .where(TeamMembership.patient_id == patient_id, active_membership())
        .order_by(col(TeamMembership.role), col(User.display_name_kana), col(User.id))
    )
    return list(rows.all())


async def current_consents(session: AsyncSession, patient_id: int) -> dict[str, Consent]:
    """The consent in force per kind: the latest record of each."""
    rows = await session.exec(
        select(Consent)
        .where(Consent.patient_id == patient_id)
        .order_by(col(Consent.recorded_at), col(Consent.id))
    )
    latest: dict[str, Consent] = {}
    for consent in rows.all():
        latest[consent.kind] = consent
    return latest
