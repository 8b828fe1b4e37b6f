"""overlay: the safety-check board, where each person in an incident stands and its history

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 23:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import renraku.timeutil

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_check",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("assigned_to", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_to"], ["app_user.id"], name=op.f("fk_safety_check_assigned_to_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_safety_check_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_safety_check_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["app_user.id"], name=op.f("fk_safety_check_updated_by_app_user")
        ),
        sa.PrimaryKeyConstraint("incident_id", "patient_id", name=op.f("pk_safety_check")),
    )
    with op.batch_alter_table("safety_check", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_check_assigned_to"), ["assigned_to"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_safety_check_patient_id"), ["patient_id"], unique=False
        )
    op.create_table(
        "safety_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_safety_update_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_safety_update_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["set_by"], ["app_user.id"], name=op.f("fk_safety_update_set_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_update")),
        sa.UniqueConstraint("client_id", name=op.f("uq_safety_update_client_id")),
    )
    with op.batch_alter_table("safety_update", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_update_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("safety_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_update_incident_id"))
    op.drop_table("safety_update")
    with op.batch_alter_table("safety_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_check_patient_id"))
        batch_op.drop_index(batch_op.f("ix_safety_check_assigned_to"))
    op.drop_table("safety_check")
