"""The append-only, hash-chained audit log: one record per action, carrying the ids it touched.

Beside the chain: signed checkpoints (audit/checkpoints.py) and a side index of which patients
each record touched (AuditSubject), which is not hashed and exists only to answer "who looked at
this patient" without scanning the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from renraku.tables import when_column
from renraku.timeutil import UTCDateTime, utcnow


class AuditRecord(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Indexed for the municipality's access report, which reads a window of time.
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    actor_id: int | None = Field(default=None)
    actor_kind: str = Field(default="system", max_length=20)
    action: str = Field(max_length=60)
    object_type: str = Field(default="", max_length=30)
    object_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    decision: str = Field(default="allow", max_length=10)
    reason: str = Field(default="", max_length=400)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class AuditSubject(SQLModel, table=True):
    """A patient a record touched. No foreign keys: the log outlives purged patients."""

    __table_args__ = (Index("ix_auditsubject_patient_audit", "patient_id", "audit_id"),)

    audit_id: int = Field(primary_key=True)
    patient_id: int = Field(primary_key=True)


class AuditCheckpoint(SQLModel, table=True):
    """An Ed25519 signature over (record id, record hash, time): the chain up to there is fixed."""

    id: int | None = Field(default=None, primary_key=True)
    record_id: int
    record_hash: str = Field(max_length=64)
    signed_at: datetime = Field(sa_column=when_column())
    # Hex of the raw 32-byte public key and of the 64-byte signature.
    public_key: str = Field(max_length=64)
    signature: str = Field(max_length=128)
