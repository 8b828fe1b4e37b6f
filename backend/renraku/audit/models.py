"""The append-only, hash-chained audit log: one record per action, carrying the ids it touched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from renraku.tables import when_column
from renraku.timeutil import utcnow


class AuditRecord(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=when_column())
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
