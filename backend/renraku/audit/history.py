"""Reading the audit log back: a patient's access history, a municipality's access report.

Both find their records through AuditSubject (which patients each record touched), never by
scanning the log's JSON. Viewing either is a read like any other, so it is audited too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.gate import Gate
from renraku.access.municipal import require_manager_of
from renraku.access.scopes import GLASS
from renraku.accounts.models import User
from renraku.accounts.service import users_by_id
from renraku.audit.models import AuditRecord, AuditSubject
from renraku.errors import BadInput
from renraku.glass.models import GlassAccess
from renraku.paging import Page, decode_cursor, encode_cursor, page_size
from renraku.teams.models import Patient
from renraku.timeutil import utcnow

# The audit action of a break-the-glass opening (glass/actions.py).
GLASS_OPENED = "access.glass_opened"
READ = "read"
REPORT_BATCH = 1000


@dataclass(frozen=True)
class Basis:
    kind: str  # coordinator, member, family, glass, emergency, consent, manager, none
    reason: str | None = None  # the stated reason, for glass


@dataclass(frozen=True)
class AccessEntry:
    record: AuditRecord
    actor: User | None
    basis: Basis | None


def basis_name(record: AuditRecord, patient_id: int) -> str | None:
    """The basis the record gives for `patient_id` (e.g. "member", "glass:12"), if any."""
    groups = record.detail.get("basis")
    if not isinstance(groups, dict):
        return None
    for name, ids in groups.items():
        if isinstance(ids, list) and patient_id in ids:
            return str(name)
    return None


def _glass_grant(name: str | None) -> int | None:
    kind, _, grant = (name or "").partition(":")
    return int(grant) if kind == GLASS and grant.isdigit() else None


async def access_history(
    session: AsyncSession, *, gate: Gate, patient_id: int, first: int | None, after: str | None
) -> Page[AccessEntry]:
    """Every record touching the patient, newest first, for those allowed `patient.audit`."""
    await gate.require(patient_id, "patient.audit", READ)
    size = page_size(first)
    key = decode_cursor(after, types=(int,))
    query = (
        select(AuditRecord)
        .join(AuditSubject, col(AuditSubject.audit_id) == col(AuditRecord.id))
        .where(AuditSubject.patient_id == patient_id)
    )
    if key is not None:
        query = query.where(col(AuditSubject.audit_id) < key[0])
    query = query.order_by(col(AuditSubject.audit_id).desc()).limit(size + 1)
    records = list((await session.exec(query)).all())
    page, more = records[:size], len(records) > size
    users = await users_by_id(session, (r.actor_id for r in page))
    names = {r.id: basis_name(r, patient_id) for r in page}
    grants = {g for g in map(_glass_grant, names.values()) if g is not None}
    reasons: dict[int, str] = {}
    if grants:
        rows = await session.exec(
            select(GlassAccess.id, GlassAccess.reason).where(col(GlassAccess.id).in_(grants))
        )
        reasons = {grant: reason for grant, reason in rows.all() if grant is not None}
    items = []
    for record in page:
        name = names[record.id]
        grant = _glass_grant(name)
        basis = None
        if name is not None:
            basis = Basis(GLASS, reasons.get(grant)) if grant is not None else Basis(name)
        actor = users.get(record.actor_id) if record.actor_id is not None else None
        items.append((AccessEntry(record, actor, basis), encode_cursor([record.id])))
    return Page(items=items, has_next_page=more)


@dataclass(frozen=True)
class AccessCount:
    kind: str  # read or write
    decision: str
    actor_kind: str
    basis: str | None
    records: int
    patients: int  # patient ids touched, summed over the records


@dataclass(frozen=True)
class GlassOpening:
    at: datetime
    actor: User | None
    patient_id: int
    reason: str


@dataclass(frozen=True)
class AccessReport:
    municipality_code: str
    since: datetime
    until: datetime
    counts: list[AccessCount]
    glass_openings: list[GlassOpening]


def _aware(value: datetime, *, name: str) -> datetime:
    if value.tzinfo is None:
        raise BadInput(f"{name} must include a time zone.", field=name)
    return value


async def access_report(
    session: AsyncSession, *, gate: Gate, since: datetime, until: datetime | None
) -> AccessReport:
    """Reads and writes of the manager's municipality's patients in [since, until)."""
    code = gate.actor.municipality_code or ""
    require_manager_of(gate.actor, code, obj="audit.report", act=READ)
    since = _aware(since, name="since")
    until = _aware(until, name="until") if until is not None else utcnow()
    if until < since:
        raise BadInput("until must not be before since.", field="until")
    in_municipality = exists().where(
        col(AuditSubject.audit_id) == col(AuditRecord.id),
        col(Patient.id) == col(AuditSubject.patient_id),
        col(Patient.municipality_code) == code,
    )
    totals: dict[tuple[str, str, str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    openings: list[tuple[AuditRecord, int]] = []
    last_id = 0
    while True:
        batch = list(
            (
                await session.exec(
                    select(AuditRecord)
                    .where(
                        col(AuditRecord.at) >= since,
                        col(AuditRecord.at) < until,
                        col(AuditRecord.id) > last_id,
                        in_municipality,
                    )
                    .order_by(col(AuditRecord.id))
                    .limit(REPORT_BATCH)
                )
            ).all()
        )
        if not batch:
            break
        last_id = batch[-1].id or last_id
        subjects = await _subjects(session, [r.id for r in batch if r.id is not None], code)
        for record in batch:
            patients = subjects.get(record.id or 0, [])
            kind = READ if record.action == READ else "write"
            groups: dict[str | None, int] = defaultdict(int)
            for patient_id in patients:
                name = basis_name(record, patient_id) if kind == READ else None
                groups[GLASS if _glass_grant(name) is not None else name] += 1
            for basis, count in groups.items():
                total = totals[(kind, record.decision, record.actor_kind, basis)]
                total[0] += 1
                total[1] += count
            if record.action == GLASS_OPENED:
                openings += [(record, p) for p in patients]
    users = await users_by_id(session, (r.actor_id for r, _ in openings))
    counts = [
        AccessCount(kind, decision, actor_kind, basis, records, patients)
        for (kind, decision, actor_kind, basis), (records, patients) in sorted(
            totals.items(), key=lambda item: tuple(str(part) for part in item[0])
        )
    ]
    glass = [
        GlassOpening(r.at, users.get(r.actor_id) if r.actor_id else None, p, r.reason)
        for r, p in openings
    ]
    # The openings name patients: that is a read of them, audited with this request.
    await gate.touched([p for _, p in openings], action="audit.report")
    return AccessReport(code, since, until, counts, glass)


async def _subjects(session: AsyncSession, audit_ids: list[int], code: str) -> dict[int, list[int]]:
    """The municipality's patients each record touched."""
    rows = await session.exec(
        select(AuditSubject.audit_id, AuditSubject.patient_id)
        .join(Patient, col(Patient.id) == col(AuditSubject.patient_id))
        .where(col(AuditSubject.audit_id).in_(audit_ids), Patient.municipality_code == code)
        .order_by(col(AuditSubject.audit_id), col(AuditSubject.patient_id))
    )
    found: dict[int, list[int]] = defaultdict(list)
    for audit_id, patient_id in rows.all():
        found[audit_id].append(patient_id)
    return found
