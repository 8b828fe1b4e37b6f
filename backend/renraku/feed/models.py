"""Posts and what hangs off them, the photos they carry, and the feed's event log.

Posts are never deleted: an edit stores the previous version as a PostRevision, and a retraction
keeps the post with its reason. Every change a subscriber may hear of is also a FeedEvent row,
written in the same transaction; its id is the cursor clients resume from (feed/events.py keeps
ids in commit order).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from renraku.tables import when_column
from renraku.timeutil import utcnow

MAX_BODY = 4000
MAX_CLIENT_ID = 64
MAX_REASON = 400


class Post(SQLModel, table=True):
    __table_args__ = (
        # The timeline: a patient's posts newest first (ids grow with time).
        Index("ix_post_patient_id", "patient_id", "id"),
        # The client-generated id makes a retried post return the stored one.
        UniqueConstraint("author_id", "client_id", name="uq_post_author_client"),
        # The escalation job's look each minute: urgent posts not yet escalated, by age.
        Index("ix_post_urgent_pending", "urgent", "escalated_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    author_id: int = Field(foreign_key="app_user.id", index=True)
    client_id: str = Field(max_length=MAX_CLIENT_ID)
    category: str = Field(max_length=20)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    # {"temperature": 36.8, "systolic": 128, ...}; None when the post carries no vitals.
    vitals: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Names of vitals outside their physiological range: kept, and shown as flagged.
    vitals_flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    urgent: bool = False
    visible_to_family: bool = False
    # A reply points at the thread's first post (replies to replies join the same thread).
    reply_to_id: int | None = Field(default=None, foreign_key="post.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    revision: int = 1
    edited_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    retracted_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    retracted_by: int | None = Field(default=None, foreign_key="app_user.id")
    retract_reason: str = Field(default="", max_length=MAX_REASON)
    # Set once an unread urgent post has been raised to the coordinator (feed/urgent.py).
    escalated_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))


class PostRevision(SQLModel, table=True):
    """A post as it was before an edit: revision N holds version N, the post holds the latest."""

    __table_args__ = (UniqueConstraint("post_id", "revision", name="uq_post_revision"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id")
    revision: int
    category: str = Field(max_length=20)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    vitals: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    vitals_flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    urgent: bool = False
    visible_to_family: bool = False
    written_by: int = Field(foreign_key="app_user.id")
    written_at: datetime = Field(sa_column=when_column())


class PostMention(SQLModel, table=True):
    post_id: int = Field(foreign_key="post.id", primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", primary_key=True, index=True)


class PostRead(SQLModel, table=True):
    """A read receipt: who read which post, when. Authors have read their own posts implicitly."""

    __table_args__ = (Index("ix_post_read_user_patient", "user_id", "patient_id", "post_id"),)

    post_id: int = Field(foreign_key="post.id", primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    # Denormalised from the post so unread counts per patient need no join.
    patient_id: int = Field(foreign_key="patient.id")
    read_at: datetime = Field(default_factory=utcnow, sa_column=when_column())


class PostAcknowledgement(SQLModel, table=True):
    """A professional's acknowledgement of an instruction."""

    post_id: int = Field(foreign_key="post.id", primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    acknowledged_at: datetime = Field(default_factory=utcnow, sa_column=when_column())


class Upload(SQLModel, table=True):
    """A photo as uploaded (re-encoded, metadata stripped) and its thumbnail, stored in the database
    so that it is only ever served through an access check (feed/uploads_http.py)."""

    id: int | None = Field(default=None, primary_key=True)
    uploader_id: int = Field(foreign_key="app_user.id", index=True)
    # Set when a post takes the upload; an upload no post took is removed after a day.
    post_id: int | None = Field(default=None, foreign_key="post.id", index=True)
    content_type: str = Field(max_length=40)
    width: int
    height: int
    byte_size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    thumbnail: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())


class FeedEvent(SQLModel, table=True):
    """One change on a patient's notebook, in commit order: the id is the subscribers' cursor.

    Carries ids and kinds only; subscribers read the post itself through the access checks.
    """

    __table_args__ = (Index("ix_feed_event_patient_id", "patient_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    kind: str = Field(max_length=30)
    # FeedAudience: a professional-only post's events never reach family members.
    audience: str = Field(max_length=16)
    post_id: int | None = Field(default=None, foreign_key="post.id")
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    # The user a membership change or a receipt is about.
    subject_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
