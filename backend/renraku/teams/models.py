"""Patients, their risk profile, consent, care-team memberships and invitations.

A patient has exactly one care team; the team is the set of its memberships, so memberships key on
the patient directly and "my patients" is one indexed lookup on (user_id, patient_id).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from renraku.tables import when_column
from renraku.timeutil import utcnow


class Patient(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # The municipality's own reference (or the demo file's key): makes imports idempotent.
    external_ref: str | None = Field(default=None, max_length=80, unique=True)
    display_name: str = Field(max_length=200)
    kana: str = Field(default="", max_length=200)
    birth_date: date | None = None
    sex: str = Field(default="other", max_length=10)
    address: str = Field(default="", max_length=400)
    latitude: float
    longitude: float
    # "high" for a home entered or picked on the map; "low" when only the area is known.
    location_confidence: str = Field(default="high", max_length=10)
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True)
    phone: str = Field(default="", max_length=40)
    last_visit_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    archived_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    archive_reason: str | None = Field(default=None, max_length=20)
    archive_note: str = Field(default="", max_length=400)


class PatientContact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    name: str = Field(max_length=200)
    relation: str = Field(default="", max_length=60)
    phone: str = Field(default="", max_length=40)
    is_key_person: bool = False


class RiskProfile(SQLModel, table=True):
    """The vulnerability attributes the disaster overlay scores (DESIGN.md "Priority model")."""

    patient_id: int = Field(foreign_key="patient.id", primary_key=True)
    care_level: str = Field(default="none", max_length=12)
    mobility: str = Field(default="independent", max_length=20)
    dementia: bool = False
    sensory_impairment: bool = False
    living: str = Field(default="with_family", max_length=20)
    # [{"kind": "oxygen", "battery_hours": 4.0}, ...]
    devices: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    floor: int = 1
    landslide_zone: str = Field(default="none", max_length=10)
    flood_depth_m: float = 0.0
    tsunami_zone: bool = False
    air_conditioning: bool = True
    # The supporter named in the individual evacuation plan (個別避難計画); "" when none.
    supporter: str = Field(default="", max_length=200)


class Consent(SQLModel, table=True):
    """A consent decision, append-only: the latest record per (patient, kind) is in force."""

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    kind: str = Field(max_length=30)
    granted: bool
    recorded_by: int | None = Field(default=None, foreign_key="app_user.id")
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    note: str = Field(default="", max_length=400)


class TeamMembership(SQLModel, table=True):
    __table_args__ = (
        Index("ix_membership_user_patient", "user_id", "patient_id"),
        Index("ix_membership_patient", "patient_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    user_id: int = Field(foreign_key="app_user.id")
    role: str = Field(max_length=12)
    starts_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    ends_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    added_by: int | None = Field(default=None, foreign_key="app_user.id")


class Invitation(SQLModel, table=True):
    """An invitation to a user (pre-created, not yet signed in) or to a care team."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    role: str | None = Field(default=None, max_length=12)
    invited_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    expires_at: datetime = Field(sa_column=when_column())
    accepted_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
