"""Reads about patients and care teams, for an explicit actor. No commits here."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.access.scopes import active_membership, visible_patients
from renraku.accounts.models import User
from renraku.errors import Forbidden, NotFound
from renraku.kinds import TeamRole
from renraku.paging import Page, decode_cursor, encode_cursor, page_size
from renraku.teams.models import (
    Consent,
    Invitation,
    Patient,
    PatientContact,
    RiskProfile,
    TeamMembership,
)
from renraku.timeutil import utcnow

MAX_SEARCH_LENGTH = 100
MAX_INVITATIONS_LISTED = 100


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
    try:
        await gate.require(patient_id, "patient", "read")
    except Forbidden:
        # A role that may not read the record must not learn that it exists either.
        raise NotFound from None
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


async def live_patients(session: AsyncSession, patient_ids: Iterable[int]) -> dict[int, Patient]:
    """The patients among these that are not archived, by id."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    rows = await session.exec(
        select(Patient).where(col(Patient.id).in_(ids), col(Patient.archived_at).is_(None))
    )
    return {row.id: row for row in rows.all() if row.id is not None}


async def get_live_patient(
    session: AsyncSession, patient_id: int, *, for_update: bool = False
) -> Patient:
    """The patient unless missing or archived (NotFound); `for_update` locks its row."""
    query = select(Patient).where(Patient.id == patient_id)
    if for_update:
        # Serialises team changes per patient on PostgreSQL (SQLite's writers already are).
        query = query.with_for_update()
    patient = (await session.exec(query)).first()
    if patient is None or patient.archived_at is not None:
        raise NotFound
    return patient


async def external_ref_taken(session: AsyncSession, ref: str, *, other_than: int | None) -> bool:
    query = select(Patient.id).where(Patient.external_ref == ref)
    if other_than is not None:
        query = query.where(col(Patient.id) != other_than)
    return (await session.exec(query.limit(1))).first() is not None


async def active_memberships(
    session: AsyncSession, *, patient_id: int, user_id: int
) -> list[TeamMembership]:
    rows = await session.exec(
        select(TeamMembership)
        .where(
            TeamMembership.patient_id == patient_id,
            TeamMembership.user_id == user_id,
            active_membership(),
        )
        .order_by(col(TeamMembership.id))
    )
    return list(rows.all())


async def list_consent_history(
    session: AsyncSession, patient_id: int
) -> list[tuple[Consent, User | None]]:
    """Every consent decision on the patient, newest first, with who recorded it."""
    rows = await session.exec(
        select(Consent, User)
        .join(User, col(User.id) == Consent.recorded_by, isouter=True)
        .where(Consent.patient_id == patient_id)
        .order_by(col(Consent.recorded_at).desc(), col(Consent.id).desc())
    )
    return list(rows.all())


def _pending_invitation() -> ColumnElement[bool]:
    return and_(
        col(Invitation.accepted_at).is_(None),
        col(Invitation.revoked_at).is_(None),
        col(Invitation.expires_at) > utcnow(),
        col(Patient.archived_at).is_(None),
    )


async def list_my_invitations(session: AsyncSession, *, actor: Actor) -> list[Invitation]:
    """The actor's open invitations to care teams, newest first."""
    rows = await session.exec(
        select(Invitation)
        .join(Patient, col(Patient.id) == Invitation.patient_id)
        .where(Invitation.user_id == actor.user_id, _pending_invitation())
        .order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
        .limit(MAX_INVITATIONS_LISTED)
    )
    return list(rows.all())


MAX_JOINABLE_LISTED = 20


async def search_joinable_users(
    session: AsyncSession, *, patient: Patient, kinds: frozenset[str], search: str
) -> list[User]:
    """Active accounts of the patient's municipality, of these kinds, not on its team, whose
    name, reading or username holds `search`, by reading (the caller decided who may look)."""
    term = f"%{_escape_like(search.strip()[:MAX_SEARCH_LENGTH])}%"
    on_team = select(TeamMembership.user_id).where(
        TeamMembership.patient_id == patient.id, active_membership()
    )
    rows = await session.exec(
        select(User)
        .where(
            col(User.active).is_(True),
            User.municipality_code == patient.municipality_code,
            col(User.kind).in_(sorted(kinds)),
            col(User.id).not_in(on_team),
            or_(
                col(User.display_name).like(term, escape="\\"),
                col(User.display_name_kana).like(term, escape="\\"),
                col(User.username).like(term, escape="\\"),
            ),
        )
        .order_by(col(User.display_name_kana), col(User.id))
        .limit(MAX_JOINABLE_LISTED)
    )
    return list(rows.all())


async def list_team_invitations(session: AsyncSession, *, patient_id: int) -> list[Invitation]:
    """The patient's team's open invitations, newest first (the caller decided who may see)."""
    rows = await session.exec(
        select(Invitation)
        .join(Patient, col(Patient.id) == Invitation.patient_id)
        .where(Invitation.patient_id == patient_id, _pending_invitation())
        .order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
        .limit(MAX_INVITATIONS_LISTED)
    )
    return list(rows.all())


async def access_invitation(
    session: AsyncSession, *, actor: Actor, invitation_id: int
) -> Invitation:
    """The actor's own open invitation; NotFound if missing, someone else's, or no longer open."""
    found = (
        await session.exec(
            select(Invitation)
            .join(Patient, col(Patient.id) == Invitation.patient_id)
            .where(
                Invitation.id == invitation_id,
                Invitation.user_id == actor.user_id,
                _pending_invitation(),
            )
        )
    ).first()
    if found is None:
        raise NotFound
    return found


async def active_coordinators(session: AsyncSession, *, patient_id: int) -> list[TeamMembership]:
    rows = await session.exec(
        select(TeamMembership).where(
            TeamMembership.patient_id == patient_id,
            TeamMembership.role == TeamRole.COORDINATOR.value,
            active_membership(),
        )
    )
    return list(rows.all())


async def open_invitation_exists(session: AsyncSession, *, patient_id: int, user_id: int) -> bool:
    found = await session.exec(
        select(Invitation.id)
        .join(Patient, col(Patient.id) == Invitation.patient_id)
        .where(
            Invitation.patient_id == patient_id,
            Invitation.user_id == user_id,
            _pending_invitation(),
        )
        .limit(1)
    )
    return found.first() is not None
