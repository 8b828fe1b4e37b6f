"""Changes to patient records: create, update, risk profile, consent, archive.

check_* decides (through renraku.access) and validates, then calls do_*; do_* writes the change and
its one audit record in the caller's transaction. Audit records carry ids and field names, never
patient data. Care-team membership is in teams/membership.py, invitations in invitations.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.access.municipal import require_manager_of
from renraku.audit.changes import audit
from renraku.errors import BadInput
from renraku.kinds import ArchiveReason, ConsentKind
from renraku.overlay.incidents import do_place_patient
from renraku.overlay.points import refresh as refresh_points
from renraku.revocations import RevocationReason, revoke_on_commit
from renraku.runtime import Runtime
from renraku.teams import service
from renraku.teams.fields import (
    CONTACT_FIELDS,
    MAX_NOTE,
    PatientFields,
    RiskFields,
    apply_risk,
    contact_rows,
    fields_of,
    validate_patient_fields,
    validate_risk_fields,
)
from renraku.teams.models import Consent, Patient, PatientContact, RiskProfile
from renraku.text import validate_text
from renraku.timeutil import utcnow

# Fields an update may not set to null, with the name the client used.
_NOT_NULL = {
    "display_name": "displayName",
    "kana": "kana",
    "sex": "sex",
    "address": "address",
    "latitude": "latitude",
    "longitude": "longitude",
    "phone": "phone",
    "contacts": "contacts",
}


def _pk(patient: Patient) -> int:
    assert patient.id is not None
    return patient.id


async def _validate_external_ref(
    session: AsyncSession, fields: PatientFields, *, patient_id: int | None
) -> None:
    if fields.external_ref is not None and await service.external_ref_taken(
        session, fields.external_ref, other_than=patient_id
    ):
        raise BadInput("externalRef is already in use.", field="externalRef")


async def check_create_patient(
    runtime: Runtime, *, actor: Actor, fields: PatientFields, risk: RiskFields
) -> Patient:
    """A new patient in the actor's own municipality, which only its team managers may create."""
    code = actor.municipality_code or ""
    require_manager_of(actor, code, obj="patient", act="create")
    fields = validate_patient_fields(fields, municipality_code=code)
    risk = validate_risk_fields(risk, prefix="risk.")
    async with runtime.db.transaction() as session:
        await _validate_external_ref(session, fields, patient_id=None)
        return await do_create_patient(
            session, actor=actor, municipality_code=code, fields=fields, risk=risk
        )


async def do_create_patient(
    session: AsyncSession,
    *,
    actor: Actor,
    municipality_code: str,
    fields: PatientFields,
    risk: RiskFields,
) -> Patient:
    patient = Patient(
        external_ref=fields.external_ref,
        display_name=fields.display_name,
        kana=fields.kana,
        birth_date=fields.birth_date,
        sex=fields.sex.value,
        address=fields.address,
        latitude=fields.latitude,
        longitude=fields.longitude,
        municipality_code=municipality_code,
        phone=fields.phone,
        created_by=actor.user_id,
    )
    session.add(patient)
    await session.flush()
    pid = _pk(patient)
    profile = RiskProfile(patient_id=pid)
    apply_risk(profile, risk)
    session.add(profile)
    session.add_all(contact_rows(pid, fields))
    await do_place_patient(session, patient=patient)
    await audit(session, actor=actor, action="teams.patient_created", patient_ids=[pid])
    return patient


async def check_update_patient(
    runtime: Runtime, *, gate: Gate, patient_id: int, changes: Mapping[str, Any]
) -> Patient:
    """Apply the given `changes` (PatientFields names) to the patient's record."""
    for name, client_name in _NOT_NULL.items():
        if name in changes and changes[name] is None:
            raise BadInput(f"{client_name} cannot be null.", field=client_name)
    async with runtime.db.transaction() as session:
        # Decided on the actor's roles as this transaction reads them, the team held still.
        await gate.load_for_write(session, [patient_id], exclusive=True)
        await gate.require(patient_id, "patient", "update")
        if CONTACT_FIELDS & changes.keys():
            await gate.require(patient_id, "patient.contacts", "update")
        patient = await service.get_live_patient(session, patient_id, for_update=True)
        current = fields_of(patient, await service.list_contacts(session, patient_id))
        fields = validate_patient_fields(
            replace(current, **changes), municipality_code=patient.municipality_code
        )
        await _validate_external_ref(session, fields, patient_id=patient_id)
        return await do_update_patient(
            session, actor=gate.actor, patient=patient, fields=fields, changed=set(changes)
        )


async def do_update_patient(
    session: AsyncSession,
    *,
    actor: Actor,
    patient: Patient,
    fields: PatientFields,
    changed: set[str],
) -> Patient:
    pid = _pk(patient)
    patient.display_name = fields.display_name
    patient.kana = fields.kana
    patient.birth_date = fields.birth_date
    patient.sex = fields.sex.value
    patient.address = fields.address
    patient.latitude = fields.latitude
    patient.longitude = fields.longitude
    patient.phone = fields.phone
    patient.external_ref = fields.external_ref
    session.add(patient)
    if changed & {"key_person", "contacts"}:
        await session.exec(delete(PatientContact).where(col(PatientContact.patient_id) == pid))
        session.add_all(contact_rows(pid, fields))
    if changed & {"latitude", "longitude"}:
        await session.flush()
        await do_place_patient(session, patient=patient)
    await audit(
        session,
        actor=actor,
        action="teams.patient_updated",
        patient_ids=[pid],
        detail={"fields": sorted(changed)},
    )
    return patient


async def check_update_risk(
    runtime: Runtime, *, gate: Gate, patient_id: int, risk: RiskFields
) -> RiskProfile:
    """Change the given attributes of the patient's risk profile; the others stay."""
    risk = validate_risk_fields(risk)
    async with runtime.db.transaction() as session:
        await gate.load_for_write(session, [patient_id], exclusive=True)
        await gate.require(patient_id, "patient.risk", "update")
        await service.get_live_patient(session, patient_id, for_update=True)
        return await do_update_risk(session, actor=gate.actor, patient_id=patient_id, risk=risk)


async def do_update_risk(
    session: AsyncSession, *, actor: Actor, patient_id: int, risk: RiskFields
) -> RiskProfile:
    row = await service.get_risk(session, patient_id) or RiskProfile(patient_id=patient_id)
    apply_risk(row, risk)
    session.add(row)
    await refresh_points(session)  # the priority list's kept-ready record of the patient
    given = sorted(n for n, v in vars(risk).items() if v is not None)
    await audit(
        session,
        actor=actor,
        action="teams.risk_updated",
        patient_ids=[patient_id],
        detail={"fields": given},
    )
    return row


async def check_record_consent(
    runtime: Runtime,
    *,
    gate: Gate,
    patient_id: int,
    kind: ConsentKind,
    granted: bool,
    note: str | None,
) -> Consent:
    """Record a consent decision; the latest per kind is the one in force."""
    text = validate_text(note, name="note", max_length=MAX_NOTE, note=True)
    async with runtime.db.transaction() as session:
        await gate.load_for_write(session, [patient_id])
        await gate.require(patient_id, "consent", "record")
        await service.get_live_patient(session, patient_id)
        return await do_record_consent(
            session, actor=gate.actor, patient_id=patient_id, kind=kind, granted=granted, note=text
        )


async def do_record_consent(
    session: AsyncSession,
    *,
    actor: Actor,
    patient_id: int,
    kind: ConsentKind,
    granted: bool,
    note: str,
) -> Consent:
    consent = Consent(
        patient_id=patient_id,
        kind=kind.value,
        granted=granted,
        note=note,
        recorded_by=actor.user_id,
        recorded_at=utcnow(),
    )
    session.add(consent)
    await session.flush()
    await audit(
        session,
        actor=actor,
        action="teams.consent_recorded",
        patient_ids=[patient_id],
        detail={"consent_id": consent.id, "kind": kind.value, "granted": granted},
    )
    return consent


async def check_archive_patient(
    runtime: Runtime, *, gate: Gate, patient_id: int, reason: ArchiveReason, note: str | None
) -> Patient:
    """Take the patient out of every list; the record is kept, unchangeable, until purged."""
    text = validate_text(note, name="note", max_length=MAX_NOTE, note=True)
    async with runtime.db.transaction() as session:
        await gate.load_for_write(session, [patient_id], exclusive=True)
        await gate.require(patient_id, "patient", "archive")
        patient = await service.get_live_patient(session, patient_id, for_update=True)
        team = await service.list_team(session, patient_id)
        archived = await do_archive_patient(
            session, actor=gate.actor, patient=patient, reason=reason, note=text
        )
        revoke_on_commit(
            session,
            runtime,
            user_ids=[m.user_id for m, _ in team],
            patient_ids=[patient_id],
            reason=RevocationReason.PATIENT_ARCHIVED,
        )
        return archived


async def do_archive_patient(
    session: AsyncSession, *, actor: Actor, patient: Patient, reason: ArchiveReason, note: str
) -> Patient:
    patient.archived_at = utcnow()
    patient.archive_reason = reason.value
    patient.archive_note = note
    session.add(patient)
    await refresh_points(session)  # off the priority list's kept-ready records
    await audit(
        session,
        actor=actor,
        action="teams.patient_archived",
        patient_ids=[_pk(patient)],
        detail={"reason": reason.value},
    )
    return patient
