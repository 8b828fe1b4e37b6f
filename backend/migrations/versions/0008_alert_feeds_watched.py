"""alerts: the feeds `alerts watch` polls and the entries it has fetched from them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import renraku.timeutil

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("last_modified", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("checked_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["alert_source.id"], name=op.f("fk_alert_feed_source_id_alert_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_feed")),
        sa.UniqueConstraint("source_id", "url_sha256", name="uq_alert_feed_source_url"),
    )
    op.create_table(
        "alert_feed_entry",
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("entry_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("updated", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_alert_feed_entry_alert_id_alert")
        ),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["alert_feed.id"], name=op.f("fk_alert_feed_entry_feed_id_alert_feed")
        ),
        sa.PrimaryKeyConstraint("feed_id", "entry_sha256", name=op.f("pk_alert_feed_entry")),
    )


def downgrade() -> None:
    op.drop_table("alert_feed_entry")
    op.drop_table("alert_feed")
