"""overlay: emergencies become incidents, which alerts can also start or join

A declared emergency and an alert-driven incident are one concept in one table. The rows of
`emergency` and `emergencypatient` move to `incident` and `incident_patient` with their ids, as
declarations (origin "declared", level 3, their area also kept as the declared area).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import renraku.timeutil

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("area", sa.JSON(), nullable=True),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("declared_area", sa.JSON(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("starts_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column("declared_by", sa.Integer(), nullable=True),
        sa.Column("ended_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["app_user.id"], name=op.f("fk_incident_confirmed_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["declared_by"], ["app_user.id"], name=op.f("fk_incident_declared_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["ended_by"], ["app_user.id"], name=op.f("fk_incident_ended_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipality.code"],
            name=op.f("fk_incident_municipality_code_municipality"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_municipality_code"), ["municipality_code"], unique=False
        )
    op.create_table(
        "incident_patient",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_incident_patient_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_incident_patient_patient_id_patient")
        ),
        sa.PrimaryKeyConstraint("incident_id", "patient_id", name=op.f("pk_incident_patient")),
    )
    with op.batch_alter_table("incident_patient", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_patient_patient_id"), ["patient_id"], unique=False
        )
    op.create_table(
        "incident_alert",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_incident_alert_alert_id_alert")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_incident_alert_incident_id_incident")
        ),
        sa.PrimaryKeyConstraint("incident_id", "alert_id", name=op.f("pk_incident_alert")),
    )
    with op.batch_alter_table("incident_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_alert_alert_id"), ["alert_id"], unique=False)

    op.execute(
        "INSERT INTO incident (id, municipality_code, area, origin, declared, declared_area,"
        " reason, level, pending, confirmed_by, drill, starts_at, ends_at, declared_by,"
        " ended_at, ended_by)"
        " SELECT id, municipality_code, area, 'declared', TRUE, area, reason, 3, FALSE, NULL,"
        " FALSE, starts_at, ends_at, declared_by, ended_at, ended_by FROM emergency"
    )
    op.execute(
        "INSERT INTO incident_patient (incident_id, patient_id)"
        " SELECT emergency_id, patient_id FROM emergencypatient"
    )
    if op.get_bind().dialect.name == "postgresql":
        # The ids were copied: the sequence continues after the highest.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('incident', 'id'),"
            " COALESCE((SELECT MAX(id) FROM incident), 0) + 1, false)"
        )
    with op.batch_alter_table("emergencypatient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergencypatient_patient_id"))
    op.drop_table("emergencypatient")
    with op.batch_alter_table("emergency", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_municipality_code"))
    op.drop_table("emergency")


def downgrade() -> None:
    # Declared incidents go back to emergencies; those only alerts started have no place there.
    op.create_table(
        "emergency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("area", sa.JSON(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("starts_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column("declared_by", sa.Integer(), nullable=True),
        sa.Column("ended_at", renraku.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["declared_by"], ["app_user.id"], name=op.f("fk_emergency_declared_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["ended_by"], ["app_user.id"], name=op.f("fk_emergency_ended_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipality.code"],
            name=op.f("fk_emergency_municipality_code_municipality"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency")),
    )
    with op.batch_alter_table("emergency", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergency_municipality_code"), ["municipality_code"], unique=False
        )
    op.create_table(
        "emergencypatient",
        sa.Column("emergency_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["emergency_id"],
            ["emergency.id"],
            name=op.f("fk_emergencypatient_emergency_id_emergency"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_emergencypatient_patient_id_patient")
        ),
        sa.PrimaryKeyConstraint("emergency_id", "patient_id", name=op.f("pk_emergencypatient")),
    )
    with op.batch_alter_table("emergencypatient", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergencypatient_patient_id"), ["patient_id"], unique=False
        )
    op.execute(
        "INSERT INTO emergency (id, municipality_code, area, reason, starts_at, ends_at,"
        " declared_by, ended_at, ended_by)"
        " SELECT id, municipality_code, declared_area, reason, starts_at, ends_at, declared_by,"
        " ended_at, ended_by FROM incident WHERE declared"
    )
    op.execute(
        "INSERT INTO emergencypatient (emergency_id, patient_id)"
        " SELECT incident_id, patient_id FROM incident_patient"
        " WHERE incident_id IN (SELECT id FROM emergency)"
    )
    for table, index in (
        ("incident_alert", "ix_incident_alert_alert_id"),
        ("incident_patient", "ix_incident_patient_patient_id"),
        ("incident", "ix_incident_municipality_code"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(index))
        op.drop_table(table)
