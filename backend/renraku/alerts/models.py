"""Alert sources, the alerts imported from them, and the places and patients each alert touches.

Alerts are never deleted: an update marks the one it replaces `superseded_by`, a cancel marks what
it ends `cancelled_by`, and both stay as history. Which patients an alert covers is computed once
at import and kept in `alertpatient`, as `incident_patient` is for declarations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from renraku.tables import when_column
from renraku.timeutil import utcnow


class AlertSource(SQLModel, table=True):
    __tablename__ = "alert_source"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    trusted: bool = False
    # SHA-256 of the sender credential; the credential itself is shown once and never stored.
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    revoked_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))


class Alert(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("sender", "identifier", name="uq_alert_sender_identifier"),)

    id: int | None = Field(default=None, primary_key=True)
    # None for the operator's own imports from files.
    source_id: int | None = Field(default=None, foreign_key="alert_source.id", index=True)
    trusted: bool
    format: str = Field(max_length=10)  # cap1.1, cap1.2, jma
    sender: str = Field(max_length=200)
    identifier: str = Field(max_length=400)
    sent: datetime = Field(sa_column=when_column())
    cap_status: str = Field(max_length=10)  # Actual, Exercise, Test, Draft, System
    msg_type: str = Field(max_length=10)  # Alert, Update, Cancel, Ack, Error
    # The import's outcome: accepted, updated, cancelled, drill or ignored.
    status: str = Field(max_length=12, index=True)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    references: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    thread: str = Field(default="", max_length=400, index=True)
    event: str = Field(default="", max_length=400)
    headline: str = Field(default="", max_length=400)
    language: str = Field(default="", max_length=20)
    infos: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    level: int | None = None
    onset: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    expires: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    # GeoJSON (longitude, latitude) of the usable shapes; None when located by geocode only.
    area: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # "high" when the area has geometry, "low" when only geocodes placed it.
    location_confidence: str = Field(default="high", max_length=10)
    matched_patients: int = 0
    superseded_by: int | None = Field(default=None, foreign_key="alert.id")
    cancelled_by: int | None = Field(default=None, foreign_key="alert.id")
    ended_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    document_sha256: str = Field(max_length=64)
    imported_at: datetime = Field(default_factory=utcnow, sa_column=when_column())


class AlertMunicipality(SQLModel, table=True):
    __tablename__ = "alert_municipality"

    alert_id: int = Field(foreign_key="alert.id", primary_key=True)
    # A bundled municipality's code (renraku.geo), which need not have a `municipality` row yet.
    municipality_code: str = Field(max_length=6, primary_key=True, index=True)


class AlertPatient(SQLModel, table=True):
    __tablename__ = "alert_patient"

    alert_id: int = Field(foreign_key="alert.id", primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", primary_key=True, index=True)


class AlertFeed(SQLModel, table=True):
    """A feed `alerts watch` polls for a source, with the validators its last answer carried
    (ETag, Last-Modified), so that the next poll, even after a restart, asks only for a change."""

    __tablename__ = "alert_feed"
    __table_args__ = (UniqueConstraint("source_id", "url_sha256", name="uq_alert_feed_source_url"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="alert_source.id")
    url: str = Field(sa_column=Column(Text, nullable=False))
    # The URL's SHA-256: what the unique constraint compares (a URL may be long).
    url_sha256: str = Field(max_length=64)
    etag: str = Field(default="", max_length=400)
    last_modified: str = Field(default="", max_length=100)
    checked_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))


class AlertFeedEntry(SQLModel, table=True):
    """An entry of a watched feed whose document was fetched (or refused for good), with the
    update time the feed gave it then: the entry is fetched again only when that changes."""

    __tablename__ = "alert_feed_entry"

    feed_id: int = Field(foreign_key="alert_feed.id", primary_key=True)
    # SHA-256 of the entry's id (Atom id, RSS guid, else its link).
    entry_sha256: str = Field(max_length=64, primary_key=True)
    entry_id: str = Field(sa_column=Column(Text, nullable=False))
    updated: str = Field(default="", max_length=100)
    # The import's outcome (accepted ... rejected), and the alert it stored or found.
    status: str = Field(max_length=12)
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
    seen_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
