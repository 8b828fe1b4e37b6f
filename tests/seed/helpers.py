"""Shared by the synthetic-data tests: fresh databases, seeding, snapshots of what was written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, func
from sqlalchemy import select as sa_select

import renraku.migrate
from renraku.audit.models import AuditRecord
from renraku.db import Database
from renraku.seed.batches import COLUMNS, table_of
from renraku.seed.synthetic import SeedResult, SyntheticSpec, seed_synthetic
from tests.support.databases import Backend

SEEDED_TABLES = list(COLUMNS)


@asynccontextmanager
async def migrated(backend: Backend) -> AsyncIterator[str]:
    """A fresh, migrated, empty database, dropped afterwards."""
    url = backend.empty_url()
    await backend.create_empty(url)
    try:
        await asyncio.to_thread(renraku.migrate.upgrade, url)
        yield url
    finally:
        await backend.drop(url)


async def seed(url: str, spec: SyntheticSpec) -> SeedResult:
    db = Database.from_url(url)
    try:
        return await seed_synthetic(db, spec)
    finally:
        await db.dispose()


async def dump(db: Database, table: Table) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        key = list(table.primary_key.columns)
        return [tuple(r) for r in (await conn.execute(sa_select(table).order_by(*key))).all()]


async def count(db: Database, model: Any) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa_select(func.count()).select_from(model))).scalar_one())


async def counts(db: Database) -> dict[str, int]:
    """Rows in every table the generator writes, and in the audit log."""
    return {t.name: await count(db, t) for t in [*SEEDED_TABLES, table_of(AuditRecord)]}
