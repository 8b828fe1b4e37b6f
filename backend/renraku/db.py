"""Database engines and sessions: SQLite (WAL) by default, PostgreSQL by DATABASE_URL.

Writes go through `transaction()`, which on SQLite takes the write lock up front (BEGIN IMMEDIATE)
so two writers never deadlock upgrading a read lock. On SQLite, `lookup()`'s few reads by key run
on the event loop's thread (renraku/sqlite_inline.py says why), everything else on aiosqlite's.
Work that must come last in a transaction is queued with `before_commit()`; events are published
only after commit, through `publish_on_commit()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.metrics import COMMIT_SECONDS
from renraku.sqlite_inline import inline_creator, one_call_creator

log = logging.getLogger("renraku.db")

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "renraku_after_commit"
_BEFORE_COMMIT = "renraku_before_commit"
_COMMITTED_AT = "renraku_committed_at"


def async_url(database_url: str) -> URL:
    """Map a plain `sqlite:///` or `postgresql://` URL onto its async driver."""
    url = make_url(database_url)
    if url.drivername in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
        return url.set(drivername="sqlite+aiosqlite")
    if url.drivername in ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg"):
        return url.set(drivername="postgresql+asyncpg")
    raise ValueError("DATABASE_URL must be a sqlite:/// or postgresql:// URL")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _prepare_sqlite_file(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


# The sqlite_begin mode of read sessions: no explicit transaction at all.
READ_STATEMENTS = "none"
# Marks a read session (Database.session): it may not write, so a write in a read path fails
# loudly instead of being rolled back unnoticed (or, on SQLite without BEGIN, kept).
READ_ONLY = "renraku_read_only"


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a read session may not write; use Database.transaction")


def _refuse_dml(state: ORMExecuteState) -> None:
    writes = state.is_insert or state.is_update or state.is_delete
    if writes and state.session.info.get(READ_ONLY):
        raise RuntimeError("a read session may not write; use Database.transaction")


event.listen(Session, "before_flush", _refuse_flush)
event.listen(Session, "do_orm_execute", _refuse_dml)


# SQLite copies its write-ahead log back into the database file (a checkpoint, with an fsync) once
# the log passes a size. Left to SQLite, the commit that crosses it pays for the copy (about one
# commit in a hundred under a steady stream of posts, several milliseconds each): instead, every
# CHECKPOINT_EVERY commits a checkpoint runs on a connection of its own, beside the writers, and
# SQLite's own one is kept as a backstop at a size the log should never reach.
CHECKPOINT_EVERY = 100
AUTOCHECKPOINT_PAGES = 20_000


# How long SQLite's lock held by another process (a command, another worker) is waited for.
BUSY_SECONDS = 10.0


def _on_sqlite_connect(dbapi_connection: Any, _record: Any, *, busy_ms: int) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (so BEGIN IMMEDIATE works).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _on_sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode == READ_STATEMENTS:
        return
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for DATABASE_URL, with Renraku's SQLite settings applied."""
    url = async_url(database_url)
    if url.drivername.startswith("sqlite"):
        _prepare_sqlite_file(url)
        # No cap on connections: a writer waiting on SQLite's lock holds one, and a request
        # that opens a second session (its gate's) while the cap is reached would wait for a
        # connection held by writers waiting on that request's own lock.
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", -1)
        if _is_plain_file(url):
            # A statement is one call on aiosqlite's thread, not four (renraku/sqlite_inline.py).
            kwargs.setdefault("async_creator", one_call_creator(str(url.database)))
        engine = create_async_engine(url, **kwargs)
        busy_ms = int(BUSY_SECONDS * 1000)
        event.listen(engine.sync_engine, "connect", partial(_on_sqlite_connect, busy_ms=busy_ms))
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        return engine
    # Bounded by the server's connection limit (two workers stay under PostgreSQL's default 100),
    # with room for requests that hold a second session briefly.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 30)
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine.pool, "checkout", partial(_ping_if_idle, engine.sync_engine))
    event.listen(engine.sync_engine.pool, "checkin", _note_checkin)
    return engine


# A connection handed back this recently is taken to be alive: pinging on every checkout (the
# pool's pre_ping) cost a round trip per session, a tenth of a post's time. One idle longer is
# pinged first, so a server restarted while the pool slept costs no request; one that died within
# the window fails its request, and the disconnect empties the pool for the next.
PING_IDLE_SECONDS = 10.0
_CHECKED_IN = "renraku_checked_in"


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(engine: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    checked_in = record.info.get(_CHECKED_IN)
    if checked_in is None or time.monotonic() - checked_in < PING_IDLE_SECONDS:
        return  # new, or in use a moment ago
    try:
        alive = engine.dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise DisconnectionError("connection lost while idle") from error
    if not alive:
        raise DisconnectionError("connection lost while idle")


def _is_plain_file(url: URL) -> bool:
    """A SQLite database in a file, named without options (which a connection made by
    renraku/sqlite_inline.py would not apply)."""
    return url.database not in (None, "", ":memory:") and not url.query


def create_lookup_engine(database_url: str) -> AsyncEngine | None:
    """On SQLite, the engine of `Database.lookup`: its statements run on the event loop's
    thread (renraku/sqlite_inline.py) and never wait on SQLite's busy handler. None elsewhere
    (asyncpg is asynchronous itself)."""
    url = async_url(database_url)
    if not url.drivername.startswith("sqlite") or not _is_plain_file(url):
        return None
    _prepare_sqlite_file(url)
    engine = create_async_engine(
        url, async_creator=inline_creator(str(url.database)), pool_size=2, max_overflow=-1
    )
    event.listen(engine.sync_engine, "connect", partial(_on_sqlite_connect, busy_ms=0))
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


class Database:
    """One engine and the way to open sessions and transactions on it (on SQLite, a second
    engine for lookups)."""

    def __init__(self, engine: AsyncEngine, lookups: AsyncEngine | None = None) -> None:
        self.engine = engine
        self._lookups = lookups or engine
        self._closed = False
        # SQLite takes one writer at a time: this process's writers queue here, in order, rather
        # than each holding a connection that polls the file lock (a burst of writers then gave
        # up at the busy timeout). Other processes' writers still meet the busy timeout.
        self._writers = asyncio.Lock() if is_sqlite(engine) else None
        self._writing: asyncio.Task[Any] | None = None
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, database_url: str) -> Database:
        return cls(create_engine(database_url), create_lookup_engine(database_url))

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session: no commit; what it reads is consistent within one statement."""
        self._check_open()
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            session.info[READ_ONLY] = True
            if is_sqlite(self.engine):
                # No BEGIN: each statement reads on its own, as promised above, and a read
                # session saves a round trip through the driver's thread.
                await session.connection(execution_options={"sqlite_begin": READ_STATEMENTS})
            yield session

    @contextlib.asynccontextmanager
    async def lookup(self) -> AsyncIterator[AsyncSession]:
        """A read session for a few reads by key (a token's session and user): on SQLite on
        the event loop's thread, which for reads this small costs less than the hops to
        aiosqlite's. Never for reads whose size grows with the data, nor for writes."""
        self._check_open()
        async with AsyncSession(self._lookups, expire_on_commit=False) as session:
            session.info[READ_ONLY] = True
            if is_sqlite(self._lookups):
                await session.connection(execution_options={"sqlite_begin": READ_STATEMENTS})
            else:  # no BEGIN and ROLLBACK around one read: two round trips fewer
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: commit or roll back, then run the after-commit hooks."""
        self._check_open()
        if self._writers is not None and self._writing is asyncio.current_task():
            # It would wait for the lock its own task holds, for ever: fail loudly instead.
            raise RuntimeError("a write transaction inside another one on SQLite")
        hooks: list[AfterCommit] = []
        async with (
            self._writers or contextlib.nullcontext(),
            AsyncSession(self.engine, expire_on_commit=False) as session,
        ):
            if self._writers is not None:
                self._writing = asyncio.current_task()
            try:
                if is_sqlite(self.engine):
                    await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                session.info[_AFTER_COMMIT] = hooks
                last_steps: list[AfterCommit] = []
                session.info[_BEFORE_COMMIT] = last_steps
                try:
                    yield session
                    # Steps may queue more steps (and after-commit hooks): run until none is left.
                    while last_steps:
                        await last_steps.pop(0)()
                    started = time.perf_counter()
                    await session.commit()
                    session.info[_COMMITTED_AT] = time.time()
                    COMMIT_SECONDS.observe(time.perf_counter() - started)
                except BaseException:
                    await session.rollback()
                    raise
            finally:
                self._writing = None
        for hook in hooks:
            await hook()
        if self._writers is not None:
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0:
                self._start_checkpoint()

    def _start_checkpoint(self) -> None:
        if self._checkpoint is None or self._checkpoint.done():
            self._checkpoint = asyncio.create_task(self._run_checkpoint(), name="renraku-wal")

    async def _run_checkpoint(self) -> None:
        """Copy what the write-ahead log holds into the database file, without waiting for
        readers or writers (PASSIVE: what a reader still needs stays for the next one)."""
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(sqlite_begin=READ_STATEMENTS)
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # SQLite's own checkpoint still runs at AUTOCHECKPOINT_PAGES
            log.warning("checkpoint failed: %s", type(exc).__name__)

    def _check_open(self) -> None:
        # Work still running after shutdown would otherwise open a new pool (and, on SQLite,
        # create an empty file where a removed database was).
        if self._closed:
            raise RuntimeError("the database has been closed")

    async def dispose(self) -> None:
        self._closed = True
        checkpoint, self._checkpoint = self._checkpoint, None
        if checkpoint is not None and not checkpoint.done():
            with contextlib.suppress(Exception):
                await checkpoint
        await self.engine.dispose()
        if self._lookups is not self.engine:
            await self._lookups.dispose()


# One PostgreSQL advisory lock serialises the appends that must follow commit order, the audit
# chain's and the feed event log's, to the end of the transaction (SQLite's writers are serial
# already). One lock rather than one each: a transaction that appends to both took two, a round
# trip each, and held the first until its commit anyway.
APPEND_LOCK = 0x52454E52414B55
_APPEND_LOCK_HELD = "renraku_append_lock_held"


async def hold_append_lock(session: AsyncSession) -> None:
    """Take the append lock for the rest of the caller's transaction (once: later calls in the
    same transaction cost nothing)."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    if session.info.get(_APPEND_LOCK_HELD):
        return
    connection = await session.connection()
    await connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK})
    session.info[_APPEND_LOCK_HELD] = True


def publish_on_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `hook` once the transaction that `session` belongs to has committed (never before)."""
    _hooks(session, _AFTER_COMMIT, "publish_on_commit").append(hook)


def before_commit(session: AsyncSession, step: AfterCommit) -> None:
    """Run `step` at the end of the transaction, after the caller's work and just before the
    commit (a failing step rolls the transaction back)."""
    _hooks(session, _BEFORE_COMMIT, "before_commit").append(step)


def committed_at(session: AsyncSession) -> float:
    """When the transaction of `session` committed (epoch seconds), for its after-commit hooks:
    taken as its COMMIT returned, before the session let go of its connection."""
    value: float = session.info[_COMMITTED_AT]
    return value


def _hooks(session: AsyncSession, key: str, name: str) -> list[AfterCommit]:
    hooks: list[AfterCommit] | None = session.info.get(key)
    if hooks is None:
        raise RuntimeError(f"{name} needs a session opened by Database.transaction()")
    return hooks
