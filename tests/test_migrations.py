"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from renraku import models
from renraku.db import Database
from renraku.migrate import upgrade
from tests.support.databases import Backend


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, models.metadata))


async def test_migrated_schema_matches_the_models(backend: Backend) -> None:
    url = backend.empty_url()
    await backend.create_empty(url)
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database.from_url(url)
        try:
            async with db.engine.connect() as connection:
                differences = await connection.run_sync(_differences)
        finally:
            await db.dispose()
        assert differences == []
    finally:
        await backend.drop(url)


async def test_upgrading_twice_changes_nothing(backend: Backend) -> None:
    url = backend.empty_url()
    await backend.create_empty(url)
    try:
        await asyncio.to_thread(upgrade, url)
        await asyncio.to_thread(upgrade, url)
        db = Database.from_url(url)
        try:
            async with db.engine.connect() as connection:
                assert await connection.run_sync(_differences) == []
        finally:
            await db.dispose()
    finally:
        await backend.drop(url)
