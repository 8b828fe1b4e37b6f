"""In-app notices: short messages to one user, such as "someone broke the glass on your patient".

A notice carries ids and kinds only (never a patient's name or any free text), so that it can be
listed, logged and kept without becoming patient data in itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from renraku.tables import when_column
from renraku.timeutil import utcnow


class Notice(SQLModel, table=True):
    # A user's notices are always listed newest first, so (user_id, id) serves every list.
    __table_args__ = (Index("ix_notice_user_id", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    kind: str = Field(max_length=40)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    read_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
