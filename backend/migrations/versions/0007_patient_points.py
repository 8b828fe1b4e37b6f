"""overlay: each patient's home and vulnerability attributes kept ready, by blocks of ids

`patient_points` holds packed records (renraku/overlay/points.py) per block of 1,024 patient ids;
`patient_points_dirty` marks the blocks whose patients changed since. Triggers on `patient` and
`riskprofile` add the marks, whatever writes the rows (the application, a bulk load, a console),
so a stale block is never read as current: readers rebuild marked blocks from the tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1024  # renraku.overlay.models.POINTS_CHUNK
# (table, its patient id column)
SOURCES = (("patient", "id"), ("riskprofile", "patient_id"))


def _sqlite_triggers() -> list[str]:
    statements = []
    for table, column in SOURCES:
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            block = f"{row}.{column} / {CHUNK}"
            statements.append(
                f"CREATE TRIGGER trg_{table}_points_{event.lower()} AFTER {event} ON {table} "  # noqa: S608
                f"BEGIN INSERT INTO patient_points_dirty (chunk) SELECT {block} WHERE NOT EXISTS "
                f"(SELECT 1 FROM patient_points_dirty WHERE chunk = {block}); END"
            )
    return statements


def _postgresql_triggers() -> list[str]:
    # Statement triggers over the transition tables: one INSERT per statement (a COPY of a
    # bulk load included). Every statement adds its own marks, even for a block already marked:
    # a mark another transaction committed may be consumed by a refresh that cannot yet see
    # this one's change.
    statements = []
    for table, column in SOURCES:
        for event, rows in (("INSERT", "new_rows"), ("UPDATE", "new_rows"), ("DELETE", "old_rows")):
            name = f"{table}_points_{event.lower()}"
            transition = "OLD TABLE AS old_rows" if rows == "old_rows" else "NEW TABLE AS new_rows"
            statements += [
                f"CREATE FUNCTION trg_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608
                f"INSERT INTO patient_points_dirty (chunk) SELECT DISTINCT {column} / {CHUNK} "
                f"FROM {rows}; RETURN NULL; END $$",
                f"CREATE TRIGGER trg_{name} AFTER {event} ON {table} REFERENCING {transition} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION trg_{name}()",
            ]
    return statements


def upgrade() -> None:
    op.create_table(
        "patient_points",
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("layout", sa.Integer(), nullable=False),
        sa.Column("records", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("chunk", name=op.f("pk_patient_points")),
    )
    op.create_table(
        "patient_points_dirty",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_points_dirty")),
    )
    with op.batch_alter_table("patient_points_dirty", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_points_dirty_chunk"), ["chunk"], unique=False)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _sqlite_triggers() if sqlite else _postgresql_triggers():
        op.execute(statement)
    # Every block that has patients starts marked: the first refresh writes them.
    op.execute(
        f"INSERT INTO patient_points_dirty (chunk) SELECT DISTINCT id / {CHUNK} FROM patient"  # noqa: S608
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, _ in SOURCES:
        for event in ("insert", "update", "delete"):
            name = f"trg_{table}_points_{event}"
            if sqlite:
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    with op.batch_alter_table("patient_points_dirty", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_points_dirty_chunk"))
    op.drop_table("patient_points_dirty")
    op.drop_table("patient_points")
