"""Declared emergencies and the patients inside them.

Which patients lie inside an emergency's area is computed with shapely when the emergency is
declared (and when a patient is created or moved), and kept in `emergencypatient`, so that every
planner's list is a plain indexed SQL filter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, and_
from sqlmodel import Field, SQLModel, col

from renraku.tables import when_column
from renraku.timeutil import utcnow


class Emergency(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True)
    # A GeoJSON Polygon or MultiPolygon geometry; None means the whole municipality.
    area: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str = Field(max_length=400)
    starts_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    ends_at: datetime = Field(sa_column=when_column())
    declared_by: int | None = Field(default=None, foreign_key="app_user.id")
    ended_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    ended_by: int | None = Field(default=None, foreign_key="app_user.id")


class EmergencyPatient(SQLModel, table=True):
    emergency_id: int = Field(foreign_key="emergency.id", primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", primary_key=True, index=True)


def active_emergency(now: datetime | None = None) -> ColumnElement[bool]:
    """A WHERE clause on Emergency: declared, started, not ended and not past its end time."""
    now = now or utcnow()
    return and_(
        col(Emergency.starts_at) <= now,
        col(Emergency.ends_at) > now,
        col(Emergency.ended_at).is_(None),
    )
