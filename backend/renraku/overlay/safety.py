"""The safety-check board: who is to call each person in an incident, and where they stand.

A status (contacted, safe, needs help, evacuated and where, hospitalised) is set from a phone by
the person's care team or from the board by the municipality's planner, while the incident is in
force and the person is inside it (policies/roles.csv: safety, update). Assigning the call is the
planner's or the coordinator's (safety, assign), to a professional of the person's team or to a
planner or manager of the municipality. Each status is kept in `safety_update` (append-only) and
the latest in `safety_check`; a retried offline send with the same client id changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.gate import Gate
from renraku.access.scopes import active_membership, visible_patients
from renraku.access.vocabulary import Act, Obj
from renraku.accounts.models import User
from renraku.audit import changes
from renraku.errors import BadInput, NotFound
from renraku.kinds import UserKind
from renraku.overlay.declarations import access_incident
from renraku.overlay.live import IncidentChange, announce_on_commit
from renraku.overlay.models import (
    SAFETY_STATUSES,
    Incident,
    IncidentPatient,
    SafetyCheck,
    SafetyUpdate,
    active_incident,
)
from renraku.runtime import Runtime
from renraku.teams.models import Patient, TeamMembership
from renraku.text import validate_text
from renraku.timeutil import utcnow

MAX_PLACE, MAX_NOTE, MAX_CLIENT_ID = 200, 400, 64
# Statuses a person can be set to; "unknown" is only where everyone starts.
SETTABLE = frozenset(SAFETY_STATUSES) - {"unknown"}
# Where the person went must be said for these.
NEEDS_PLACE = frozenset({"evacuated"})
# An address's parts: the prefecture, the municipality (a county's town included), then the
# district up to the first digit: 「愛知県蒲郡市形原町38番地1」 -> 形原町.
_PREFECTURE = re.compile(r"^.+?[都道府県]")
_MUNICIPALITY = re.compile(r"^.+?[市区町村]")
_DISTRICT = re.compile(r"[^0-9０-９\s-]+")
_TOWN = re.compile(r"^(.+?[町村]).+$")


@dataclass(frozen=True)
class SafetyInput:
    incident_id: int
    patient_id: int
    status: str
    place: str = ""
    note: str = ""
    client_id: str | None = None


def validate_safety(value: SafetyInput) -> SafetyInput:
    if value.status not in SETTABLE:
        raise BadInput(f"status is one of {', '.join(sorted(SETTABLE))}.", field="status")
    place = validate_text(
        value.place, name="place", max_length=MAX_PLACE, required=value.status in NEEDS_PLACE
    )
    note = validate_text(value.note, name="note", max_length=MAX_NOTE, note=True)
    client_id = value.client_id
    if client_id is not None and not (
        0 < len(client_id) <= MAX_CLIENT_ID and client_id.isprintable()
    ):
        raise BadInput(f"clientId has 1 to {MAX_CLIENT_ID} printable characters.", field="clientId")
    return SafetyInput(value.incident_id, value.patient_id, value.status, place, note, client_id)


def district_of(address: str) -> str:
    """The district (town) of an address, for completion per district; "" when none is found."""
    rest = _MUNICIPALITY.sub("", _PREFECTURE.sub("", address.strip(), count=1), count=1)
    found = _DISTRICT.match(rest.removeprefix("大字"))
    if found is None:
        return ""
    # 「一色町松木島」 -> 一色町 (the town, not its hamlet); 「菱池字元林」 -> 菱池.
    district = _TOWN.sub(r"\1", found.group(0).split("字", 1)[0])
    return district


async def _incident_in_force(session: AsyncSession, incident_id: int, patient_id: int) -> Incident:
    """The incident, in force and holding the patient; NotFound otherwise (same for missing)."""
    found = (
        await session.exec(
            select(Incident)
            .join(IncidentPatient, col(IncidentPatient.incident_id) == col(Incident.id))
            .where(
                Incident.id == incident_id,
                IncidentPatient.patient_id == patient_id,
                active_incident(),
            )
        )
    ).first()
    if found is None:
        raise NotFound
    return found


async def _decide(session: AsyncSession, gate: Gate, patient_id: int, act: Act) -> frozenset[str]:
    await gate.load_for_write(session, [patient_id])
    return await gate.require(patient_id, Obj.SAFETY.value, act.value)


async def check_set_safety(runtime: Runtime, *, gate: Gate, value: SafetyInput) -> SafetyCheck:
    """Set a person's safety status in an incident (idempotent by client id)."""
    value = validate_safety(value)
    async with runtime.db.transaction() as session:
        if value.client_id is not None:
            earlier = (
                await session.exec(
                    select(SafetyUpdate).where(SafetyUpdate.client_id == value.client_id)
                )
            ).first()
            if earlier is not None:
                if (earlier.set_by, earlier.patient_id, earlier.incident_id) != (
                    gate.actor.user_id,
                    value.patient_id,
                    value.incident_id,
                ):
                    raise BadInput("This clientId was used for another status.", field="clientId")
                check = await session.get(SafetyCheck, (value.incident_id, value.patient_id))
                assert check is not None
                return check
        await _decide(session, gate, value.patient_id, Act.UPDATE)
        await _incident_in_force(session, value.incident_id, value.patient_id)
        check = await do_set_safety(session, gate=gate, value=value)
        announce_on_commit(
            session,
            runtime.broker,
            incident_id=value.incident_id,
            change=IncidentChange.SAFETY,
            patient_id=value.patient_id,
        )
        return check


async def do_set_safety(session: AsyncSession, *, gate: Gate, value: SafetyInput) -> SafetyCheck:
    now = utcnow()
    check = await session.get(
        SafetyCheck, (value.incident_id, value.patient_id), with_for_update=True
    )
    if check is None:
        check = SafetyCheck(incident_id=value.incident_id, patient_id=value.patient_id)
    check.status, check.place, check.note = value.status, value.place, value.note
    check.updated_by, check.updated_at = gate.actor.user_id, now
    session.add(check)
    session.add(
        SafetyUpdate(
            incident_id=value.incident_id,
            patient_id=value.patient_id,
            status=value.status,
            place=value.place,
            note=value.note,
            set_by=gate.actor.user_id,
            set_at=now,
            client_id=value.client_id,
        )
    )
    await changes.record(
        session,
        actor=gate.actor,
        action="overlay.safety_set",
        object_type="patient",
        object_ids=[value.patient_id],
        # The status only: a note or a place may say more about the person than the log should.
        detail={"incident": value.incident_id, "status": value.status},
    )
    await session.flush()
    return check


def _assignable(patient: Patient) -> ColumnElement[bool]:
    """A WHERE clause on User: may be given the person's call (an active professional of the
    person's team, or an active planner or manager of the municipality)."""
    team = select(TeamMembership.user_id).where(
        TeamMembership.patient_id == patient.id,
        col(TeamMembership.role) != "family",
        active_membership(),
    )
    return col(User.active).is_(True) & (
        (col(User.id).in_(team) & (User.kind == UserKind.PROFESSIONAL.value))
        | (
            col(User.kind).in_([UserKind.PLANNER.value, UserKind.MUNICIPALITY.value])
            & (User.municipality_code == patient.municipality_code)
        )
    )


async def list_assignable(
    session: AsyncSession, *, gate: Gate, incident_id: int, patient_id: int
) -> list[User]:
    """Who may be given a person's call: the professionals of the person's team, then the
    planners and managers of the municipality (for whoever may assign it)."""
    await gate.require(patient_id, Obj.SAFETY.value, Act.ASSIGN.value)
    await _incident_in_force(session, incident_id, patient_id)
    patient = await session.get(Patient, patient_id)
    assert patient is not None
    rows = await session.exec(
        select(User)
        .where(_assignable(patient))
        .order_by(col(User.kind).desc(), col(User.display_name_kana), col(User.id))
    )
    return list(rows.all())


async def check_assign_safety(
    runtime: Runtime, *, gate: Gate, incident_id: int, patient_id: int, user_id: int | None
) -> SafetyCheck:
    """Give the call to someone who may make it (None: nobody yet)."""
    async with runtime.db.transaction() as session:
        await _decide(session, gate, patient_id, Act.ASSIGN)
        await _incident_in_force(session, incident_id, patient_id)
        patient = await session.get(Patient, patient_id)
        assert patient is not None
        if user_id is not None:
            found = await session.exec(
                select(User.id).where(col(User.id) == user_id, _assignable(patient))
            )
            if found.first() is None:
                raise BadInput(
                    "Assign a professional of the person's care team, or a planner or manager "
                    "of the municipality.",
                    field="userId",
                )
        check = await session.get(SafetyCheck, (incident_id, patient_id), with_for_update=True)
        if check is None:
            check = SafetyCheck(incident_id=incident_id, patient_id=patient_id)
        check.assigned_to = user_id
        session.add(check)
        await changes.record(
            session,
            actor=gate.actor,
            action="overlay.safety_assigned",
            object_type="patient",
            object_ids=[patient_id],
            detail={"incident": incident_id, "assigned_to": user_id},
        )
        await session.flush()
        announce_on_commit(
            session,
            runtime.broker,
            incident_id=incident_id,
            change=IncidentChange.SAFETY,
            patient_id=patient_id,
        )
        return check


async def checks_of(
    session: AsyncSession, incident_id: int, patient_ids: list[int]
) -> dict[int, SafetyCheck]:
    rows = await session.exec(
        select(SafetyCheck).where(
            SafetyCheck.incident_id == incident_id, col(SafetyCheck.patient_id).in_(patient_ids)
        )
    )
    return {c.patient_id: c for c in rows.all()}


def overdue(check: SafetyCheck | None, *, tier: str, started: datetime, minutes: int) -> bool:
    """A P1 whose status nobody has set past the configured time from the incident's start."""
    status = check.status if check is not None else "unknown"
    late = (utcnow() - started).total_seconds() > minutes * 60
    return tier == "P1" and status == "unknown" and late


@dataclass(frozen=True)
class DistrictCounts:
    district: str
    total: int
    # Everyone whose status is no longer unknown.
    reached: int
    by_status: dict[str, int]


async def statuses_of(
    session: AsyncSession, incident_id: int, *, live_only: bool
) -> list[tuple[str, str]]:
    """(address, latest status) of each person inside the incident; `live_only` leaves the
    archived out (the board), a report counts everyone it listed."""
    query = (
        select(Patient.address, SafetyCheck.status)
        .join(IncidentPatient, col(IncidentPatient.patient_id) == col(Patient.id))
        .join(
            SafetyCheck,
            (col(SafetyCheck.patient_id) == col(Patient.id))
            & (col(SafetyCheck.incident_id) == incident_id),
            isouter=True,
        )
        .where(IncidentPatient.incident_id == incident_id)
    )
    if live_only:
        query = query.where(col(Patient.archived_at).is_(None))
    rows = await session.exec(query)
    return [(address, status or "unknown") for address, status in rows.all()]


def per_district(statuses: list[tuple[str, str]]) -> list[DistrictCounts]:
    by: dict[str, list[str]] = {}
    for address, status in statuses:
        by.setdefault(district_of(address), []).append(status)
    return [
        DistrictCounts(
            district=district,
            total=len(found),
            reached=sum(s != "unknown" for s in found),
            by_status={s: found.count(s) for s in SAFETY_STATUSES},
        )
        for district, found in sorted(by.items())
    ]


async def access_progress(
    session: AsyncSession, *, actor: Actor, incident_id: int
) -> list[DistrictCounts]:
    """Completion per district, for whoever may see the incident's priority list."""
    await access_incident(session, actor=actor, incident_id=incident_id, act="priority")
    return per_district(await statuses_of(session, incident_id, live_only=True))


# Enough for a carer's round; an incident larger than this lists its people on the board.
MAX_MINE = 200


async def list_my_checks(
    session: AsyncSession, *, gate: Gate
) -> list[tuple[Incident, Patient, SafetyCheck | None]]:
    """The people the actor may see inside incidents in force, with where their check stands,
    newest incident first; only those whose safety the actor may read."""
    rows = await session.exec(
        select(Incident, Patient, SafetyCheck)
        .join(IncidentPatient, col(IncidentPatient.incident_id) == col(Incident.id))
        .join(Patient, col(Patient.id) == col(IncidentPatient.patient_id))
        .join(
            SafetyCheck,
            (col(SafetyCheck.patient_id) == col(Patient.id))
            & (col(SafetyCheck.incident_id) == col(Incident.id)),
            isouter=True,
        )
        .where(active_incident(), visible_patients(gate.actor))
        .order_by(col(Incident.starts_at).desc(), col(Patient.id))
        .limit(MAX_MINE)
    )
    found = rows.all()
    await gate.touched([p.id for _i, p, _s in found if p.id is not None], action="safety.mine")
    return [
        (incident, patient, check)
        for incident, patient, check in found
        if patient.id is not None and await gate.may(patient.id, Obj.SAFETY.value, Act.READ.value)
    ]
