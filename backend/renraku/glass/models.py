"""Break-the-glass grants: a clinician's time-limited, audited read access to one patient.

A grant is live while `now < expires_at` and `ended_at` is null; while live, the clinician's role on
the patient is "glass" (access/scopes.py), which policies/roles.csv allows to read only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Index, and_
from sqlmodel import Field, SQLModel, col

from renraku.tables import when_column
from renraku.timeutil import utcnow


class GlassAccess(SQLModel, table=True):
    __table_args__ = (
        # roles_on looks grants up by (user, patient); the rate limit counts a user's recent ones.
        Index("ix_glassaccess_user_patient", "user_id", "patient_id"),
        Index("ix_glassaccess_user_starts", "user_id", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    user_id: int = Field(foreign_key="app_user.id")
    reason: str = Field(max_length=400)
    starts_at: datetime = Field(sa_column=when_column())
    expires_at: datetime = Field(sa_column=when_column())
    ended_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))


def live_glass(now: ColumnElement[datetime] | datetime | None = None) -> ColumnElement[bool]:
    """A WHERE clause on GlassAccess: the grants in force `now` (by default the present)."""
    now = utcnow() if now is None else now
    return and_(col(GlassAccess.expires_at) > now, col(GlassAccess.ended_at).is_(None))
