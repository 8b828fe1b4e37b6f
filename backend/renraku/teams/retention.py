"""Purging patients archived longer ago than the retention period, with every row about them.

The rows to delete are found from the foreign keys in the metadata rather than from a list kept by
hand, so a table another domain adds (posts, read receipts, safety checks...) is purged with its
patient instead of blocking the purge with a foreign-key error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, Table, delete, or_
from sqlalchemy import select as core_select
from sqlmodel import col, select

import renraku.models
from renraku.audit import changes
from renraku.db import Database
from renraku.teams.models import Patient
from renraku.timeutil import utcnow


@dataclass(frozen=True)
class PurgeResult:
    patient_ids: list[int]
    dry_run: bool


def _doomed_rows(patient_ids: list[int]) -> list[tuple[Table, ColumnElement[bool]]]:
    """Every table holding rows that depend on the patients, each with the WHERE clause for them,
    ordered so that children come before their parents."""
    tables = renraku.models.metadata.sorted_tables  # parents before children
    patients = renraku.models.metadata.tables["patient"]
    doomed: dict[Table, ColumnElement[bool]] = {patients: patients.c.id.in_(patient_ids)}
    for table in tables:
        if table is patients:
            continue
        links = [
            fk.parent.in_(core_select(fk.column).where(doomed[fk.column.table]))
            for fk in table.foreign_keys
            if fk.column.table is not table and fk.column.table in doomed
        ]
        if links:
            doomed[table] = or_(*links)
    return list(reversed(doomed.items()))


async def check_purge(db: Database, *, retention_days: int, dry_run: bool) -> PurgeResult:
    """Delete the patients archived more than `retention_days` ago; one audit record lists them."""
    cutoff = utcnow() - timedelta(days=retention_days)
    async with db.transaction() as session:
        found = await session.exec(
            select(col(Patient.id))
            .where(col(Patient.archived_at).is_not(None), col(Patient.archived_at) < cutoff)
            .order_by(col(Patient.id))
        )
        ids = [pid for pid in found.all() if pid is not None]
        if dry_run or not ids:
            return PurgeResult(patient_ids=ids, dry_run=dry_run)
        for table, where in _doomed_rows(ids):
            await session.exec(delete(table).where(where))
        await changes.record(
            session,
            actor=None,
            action="teams.patients_purged",
            object_type="patient",
            object_ids=ids,
            detail={"retention_days": retention_days},
        )
    return PurgeResult(patient_ids=ids, dry_run=False)
