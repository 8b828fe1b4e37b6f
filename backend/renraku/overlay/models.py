"""Incidents (declared by a planner or manager, or started by alerts) and the patients inside.

An incident is one concept whatever started it: a declaration, an alert from a trusted source,
or an untrusted source's alert that waits (`pending`) for a planner to confirm it. Which patients
lie inside its area is computed with shapely when the area is set or changes (and when a patient
is created or moved), and kept in `incident_patient`, so that every planner's list is a plain
indexed SQL filter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, LargeBinary, and_
from sqlmodel import Field, SQLModel, col

from renraku.tables import when_column
from renraku.timeutil import utcnow

DECLARED = "declared"
ALERT = "alert"
# Patients per block of kept-ready points (PatientPoints); migration 0007's triggers use it too.
POINTS_CHUNK = 1024


class Incident(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True)
    # A GeoJSON Polygon or MultiPolygon geometry in force; None means the whole municipality.
    area: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # What started it: "declared" (by hand) or "alert". A declaration's own area is kept apart,
    # so that alerts joining and leaving it never shrink what the planner declared.
    origin: str = Field(default=DECLARED, max_length=10)
    declared: bool = False
    declared_area: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    reason: str = Field(max_length=400)
    # The Japanese five-level warning scale (警戒レベル); 3 is when elderly people must leave.
    level: int = 3
    # Opened by an untrusted source's alert: unlocks nothing until a planner confirms it.
    pending: bool = False
    confirmed_by: int | None = Field(default=None, foreign_key="app_user.id")
    drill: bool = False
    starts_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    ends_at: datetime = Field(sa_column=when_column())
    declared_by: int | None = Field(default=None, foreign_key="app_user.id")
    ended_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    ended_by: int | None = Field(default=None, foreign_key="app_user.id")


class IncidentPatient(SQLModel, table=True):
    __tablename__ = "incident_patient"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", primary_key=True, index=True)


class IncidentAlert(SQLModel, table=True):
    """The alerts that started or joined an incident (history: rows are never removed)."""

    __tablename__ = "incident_alert"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", primary_key=True, index=True)


def is_open(incident: Incident, now: datetime | None = None) -> bool:
    """`open_incident` for a row in hand: started, not ended and not past its end time."""
    now = now or utcnow()
    return incident.ended_at is None and incident.starts_at <= now < incident.ends_at


def in_force(incident: Incident, now: datetime | None = None) -> bool:
    """`active_incident` for a row in hand: open and not waiting for a planner to confirm it."""
    return is_open(incident, now) and not incident.pending


def open_incident(now: datetime | None = None) -> ColumnElement[bool]:
    """A WHERE clause on Incident: started, not ended and not past its end time (pending or not)."""
    now = now or utcnow()
    return and_(
        col(Incident.starts_at) <= now,
        col(Incident.ends_at) > now,
        col(Incident.ended_at).is_(None),
    )


def active_incident(now: datetime | None = None) -> ColumnElement[bool]:
    """An open incident that is in force: not waiting for a planner to confirm it."""
    return and_(open_incident(now), col(Incident.pending).is_(False))


SAFETY_STATUSES = ("unknown", "contacted", "safe", "needs_help", "evacuated", "hospitalised")


class SafetyCheck(SQLModel, table=True):
    """Where the safety check of one person in one incident stands: the latest status and who
    is to make the call. Every change is also kept in `safety_update`."""

    __tablename__ = "safety_check"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", primary_key=True, index=True)
    status: str = Field(default="unknown", max_length=12)
    # Where the person went (a shelter, a hospital) when evacuated or hospitalised.
    place: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=400)
    assigned_to: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    updated_by: int | None = Field(default=None, foreign_key="app_user.id")
    updated_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))


class SafetyUpdate(SQLModel, table=True):
    """One status set from a phone or the board, append-only; `client_id` makes a retried
    offline send idempotent."""

    __tablename__ = "safety_update"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    patient_id: int = Field(foreign_key="patient.id")
    status: str = Field(max_length=12)
    place: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=400)
    set_by: int | None = Field(default=None, foreign_key="app_user.id")
    set_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    client_id: str | None = Field(default=None, max_length=64, unique=True)


class PatientPoints(SQLModel, table=True):
    """Each live patient's home and vulnerability attributes, kept ready for placing incidents
    and ranking the priority list: packed records (overlay/points.py) of the patients whose ids
    fall in one block of POINTS_CHUNK, so that 400,000 of them read as a few hundred values."""

    __tablename__ = "patient_points"

    chunk: int = Field(primary_key=True)  # patient id // POINTS_CHUNK
    layout: int  # overlay/points.py's LAYOUT when written
    records: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class PatientPointsDirty(SQLModel, table=True):
    """A block whose patients changed since its records were written: database triggers on
    `patient` and `riskprofile` add one (migration 0007), whatever wrote the rows; a refresh
    rewrites the block and removes the marks it read."""

    __tablename__ = "patient_points_dirty"

    id: int | None = Field(default=None, primary_key=True)
    chunk: int = Field(index=True)
