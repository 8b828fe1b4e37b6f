"""Aggregate counts of a municipality's patients by two risk dimensions, for its planners and
managers.

Counted in SQL (one GROUP BY over live patients and their risk profiles), then published through
access/suppression.py: every cell and total from 1 to 10 is hidden, with complementary cells. A
table restricted to an active incident's area is published whole: there the planner sees the
patients' names anyway (DESIGN.md, the need-to-know table).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum

from sqlalchemy import ColumnElement, case, exists, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.enforcer import allowed
from renraku.access.municipal import relations_to_municipality
from renraku.access.suppression import TOTAL, Key, suppress
from renraku.errors import BadInput, Forbidden, NotFound
from renraku.kinds import CareLevel, Living, Mobility
from renraku.overlay.declarations import access_incident
from renraku.overlay.models import Incident, IncidentPatient, active_incident
from renraku.teams.models import Patient, RiskProfile

# Ages are counted on the calendar of Japan, which has no daylight saving time.
JAPAN = timezone(timedelta(hours=9))


class CountDimension(StrEnum):
    CARE_LEVEL = "care_level"
    MOBILITY = "mobility"
    LIVING = "living"
    DEVICE = "device"
    AGE_BAND = "age_band"


NO_DEVICE, POWERED = "none", "powered"
UNDER_75, AGE_75_84, AGE_85_94, AGE_95_PLUS, AGE_UNKNOWN = "<75", "75-84", "85-94", "95+", "unknown"

# Every label of each dimension, in order, so a table's shape never depends on the data.
LABELS: dict[CountDimension, tuple[str, ...]] = {
    CountDimension.CARE_LEVEL: tuple(level.value for level in CareLevel),
    CountDimension.MOBILITY: tuple(m.value for m in Mobility),
    CountDimension.LIVING: tuple(living.value for living in Living),
    CountDimension.DEVICE: (NO_DEVICE, POWERED),
    CountDimension.AGE_BAND: (UNDER_75, AGE_75_84, AGE_85_94, AGE_95_PLUS, AGE_UNKNOWN),
}


@dataclass(frozen=True)
class CountTable:
    """Counts by (row label, column label) with totals; None where suppressed."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...]
    column_totals: tuple[int | None, ...]
    total: int | None
    suppressed: bool


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def _expression(dimension: CountDimension, today: date) -> ColumnElement[str]:
    # A patient without a risk profile row counts with the profile's defaults (teams/models.py).
    match dimension:
        case CountDimension.CARE_LEVEL:
            return func.coalesce(col(RiskProfile.care_level), CareLevel.NONE.value)
        case CountDimension.MOBILITY:
            return func.coalesce(col(RiskProfile.mobility), Mobility.INDEPENDENT.value)
        case CountDimension.LIVING:
            return func.coalesce(col(RiskProfile.living), Living.WITH_FAMILY.value)
        case CountDimension.DEVICE:
            # Every device kind the profile records is a powered life-sustaining one (kinds.py).
            devices = func.coalesce(func.json_array_length(col(RiskProfile.devices)), 0)
            return case((devices > 0, POWERED), else_=NO_DEVICE)
        case CountDimension.AGE_BAND:
            born = col(Patient.birth_date)
            return case(
                (born.is_(None), AGE_UNKNOWN),
                (born > _years_before(today, 75), UNDER_75),
                (born > _years_before(today, 85), AGE_75_84),
                (born > _years_before(today, 95), AGE_85_94),
                else_=AGE_95_PLUS,
            )


def validate_dimensions(rows: CountDimension, columns: CountDimension) -> None:
    if rows is columns:
        raise BadInput("Count by two different dimensions.", field="columns")


def require_counts(actor: Actor) -> str:
    """The actor's municipality if they may see its counts; Forbidden otherwise."""
    code = actor.municipality_code
    if code is None or not allowed(relations_to_municipality(actor, code), "counts", "read"):
        raise Forbidden
    return code


async def count_by(
    session: AsyncSession,
    *,
    municipality_code: str,
    rows: CountDimension,
    columns: CountDimension,
    incident_id: int | None = None,
    today: date | None = None,
) -> dict[Key, int]:
    """Live patients of the municipality (inside the incident, if given) per (row, column)."""
    today = today or datetime.now(UTC).astimezone(JAPAN).date()
    per_patient = (
        select(
            _expression(rows, today).label("row_label"),
            _expression(columns, today).label("column_label"),
        )
        .select_from(Patient)
        .outerjoin(RiskProfile, col(RiskProfile.patient_id) == col(Patient.id))
        .where(
            col(Patient.municipality_code) == municipality_code,
            col(Patient.archived_at).is_(None),
        )
    )
    if incident_id is not None:
        per_patient = per_patient.where(
            exists().where(
                col(IncidentPatient.patient_id) == col(Patient.id),
                col(IncidentPatient.incident_id) == incident_id,
            )
        )
    # Grouping over a subquery: PostgreSQL would not match the date parameters of a CASE
    # repeated in GROUP BY with those in the select list.
    inner = per_patient.subquery()
    grouped = await session.exec(
        select(inner.c.row_label, inner.c.column_label, func.count()).group_by(
            inner.c.row_label, inner.c.column_label
        )
    )
    found = {(r, c): int(n) for r, c, n in grouped.all()}
    # Stored values are checked against kinds.py on every write, so nothing falls outside.
    return {(r, c): found.get((r, c), 0) for r in LABELS[rows] for c in LABELS[columns]}


def _published(counts: dict[Key, int], *, suppressed: bool) -> CountTable:
    if suppressed:
        table = suppress(counts)
        values = table.values
        rows, columns = table.rows, table.columns
    else:
        rows = tuple(dict.fromkeys(r for r, _ in counts))
        columns = tuple(dict.fromkeys(c for _, c in counts))
        full: dict[Key, int | None] = dict(counts)
        for r in rows:
            full[(r, TOTAL)] = sum(counts[(r, c)] for c in columns)
        for c in columns:
            full[(TOTAL, c)] = sum(counts[(r, c)] for r in rows)
        full[(TOTAL, TOTAL)] = sum(counts.values())
        values = full
    return CountTable(
        rows=tuple(str(r) for r in rows),
        columns=tuple(str(c) for c in columns),
        cells=tuple(tuple(values[(r, c)] for c in columns) for r in rows),
        row_totals=tuple(values[(r, TOTAL)] for r in rows),
        column_totals=tuple(values[(TOTAL, c)] for c in columns),
        total=values[(TOTAL, TOTAL)],
        suppressed=suppressed,
    )


async def access_counts(
    session: AsyncSession,
    *,
    actor: Actor,
    rows: CountDimension,
    columns: CountDimension,
    incident_id: int | None,
) -> CountTable:
    """The actor's municipality's counts: suppressed, or whole inside one active incident."""
    code = require_counts(actor)
    validate_dimensions(rows, columns)
    if incident_id is not None:
        # Readable means of the actor's own municipality; only an active one lifts suppression.
        await access_incident(session, actor=actor, incident_id=incident_id, act="read")
        active = await session.exec(
            select(Incident.id).where(Incident.id == incident_id, active_incident())
        )
        if active.first() is None:
            raise NotFound
    counts = await count_by(
        session, municipality_code=code, rows=rows, columns=columns, incident_id=incident_id
    )
    return _published(counts, suppressed=incident_id is None)
