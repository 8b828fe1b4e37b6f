"""Real databases for tests: a migrated, demo-seeded template per backend, cloned per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from renraku.db import Database
from renraku.migrate import upgrade
from renraku.seed.demo import seed_demo

POSTGRES_ADMIN_URL = os.environ.get(
    "RENRAKU_TEST_POSTGRES", "postgresql://test:test@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")

# For a test that needs the app but whose result cannot depend on the database (protocol
# framing, input parsing before anything is read): it runs once, on SQLite, instead of on both.
one_database = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _pg_dsn(database: str | None = None) -> str:
    url = make_url(POSTGRES_ADMIN_URL)
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(_pg_dsn())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _remove_sqlite_files(name: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(name + suffix).unlink(missing_ok=True)


class Backend:
    """One database server kind: builds its template once, hands out fresh clones."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.tag = uuid.uuid4().hex[:8]
        self.template: str = ""
        # On PostgreSQL the next clone is made while a test runs, and a used one dropped while
        # the next runs: the server does that work beside the test instead of between tests.
        self._next: asyncio.Task[str] | None = None
        self._drops: set[asyncio.Task[None]] = set()

    async def prepare(self, *, seed: bool = True) -> None:
        if self.kind == "sqlite":
            path = self.workdir / f"template-{self.tag}.db"
            url = f"sqlite:///{path}"
        else:
            name = f"renraku_tmpl_{self.tag}"
            await _pg_admin(f'CREATE DATABASE "{name}"')
            url = _pg_dsn(name)
        # Alembic's env runs its own event loop, so it gets a thread of its own.
        await asyncio.to_thread(upgrade, url)
        if seed:
            db = Database.from_url(url)
            await seed_demo(db)
            await db.dispose()
        self.template = url

    def empty_url(self) -> str:
        """A URL for a database that does not exist yet (created by `clone` or by hand)."""
        name = f"renraku_t_{self.tag}_{uuid.uuid4().hex[:8]}"
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir / (name + '.db')}"
        return _pg_dsn(name)

    async def _copy(self) -> str:
        url = self.empty_url()
        name = make_url(url).database or ""
        if self.kind == "sqlite":
            shutil.copyfile(make_url(self.template).database or "", name)
        else:
            template = make_url(self.template).database
            await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return url

    @asynccontextmanager
    async def clone(self) -> AsyncIterator[str]:
        if self.kind == "sqlite":  # a file copy: nothing to gain from doing it ahead
            url = await self._copy()
            try:
                yield url
            finally:
                await self.drop(url)
            return
        url = await (self._next or self._copy())
        self._next = asyncio.create_task(self._copy())
        try:
            yield url
        finally:
            self._reap()
            drop = asyncio.create_task(self.drop(url))
            self._drops.add(drop)

    def _reap(self) -> None:
        """Forgets finished drops, raising a failed one's error."""
        for done in [task for task in self._drops if task.done()]:
            self._drops.discard(done)
            done.result()

    async def create_empty(self, url: str) -> None:
        if self.kind == "postgresql":
            await _pg_admin(f'CREATE DATABASE "{make_url(url).database}"')

    async def drop(self, url: str) -> None:
        name = make_url(url).database or ""
        if self.kind == "sqlite":
            _remove_sqlite_files(name)
        else:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def teardown(self) -> None:
        if self._next is not None:
            await self.drop(await self._next)
            self._next = None
        await asyncio.gather(*self._drops)
        self._drops.clear()
        if self.template:
            await self.drop(self.template)
