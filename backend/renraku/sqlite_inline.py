"""SQLite connections: each statement one call on aiosqlite's thread, and lookups by key on the
event loop's own thread.

aiosqlite runs every call on a thread of its own, and each call costs a round trip between that
thread and the event loop (a wake-up on each side, and the awaiting request resumed). Through
SQLAlchemy a statement took four of them: the cursor made, the statement run, its rows fetched,
the cursor closed, and a fifth for the ROLLBACK the pool issues when a connection is handed back.
`OneCallConnection` (every engine on a file) runs a statement and reads its rows in one call:
the cursor is made and closed on the loop's thread (no SQLite work: the statement is finished
by then), the rows are served from memory, and COMMIT or ROLLBACK with no transaction open is
skipped, as the sqlite3 module itself would skip it. What runs on SQLite and in which order does
not change; createPost went from 38 calls to 11.

`InlineConnection` is that connection with its queue of calls run on the spot, for
`Database.lookup` only: a lookup by key (a request's session token) takes tens of microseconds,
less than a round trip. Write transactions stay on aiosqlite's thread: run here, they were faster
(createPost took 2.7 times the posts per second) but held the event loop for their whole length,
and the live feed's deliveries waited behind them (bench/feed.py's p99 from 3.8 to 6.9 ms). The
connections made for lookups never wait on SQLite's busy handler (busy_timeout 0): reads in WAL
mode do not meet another writer's lock.

The sqlite3 connections are opened with check_same_thread off (as SQLAlchemy opens them for a
file): the loop's thread only makes and closes cursors on them, and only while no call of theirs
is running on aiosqlite's thread (SQLAlchemy awaits each call before the next).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Generator, Iterable
from functools import partial
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager

# Rows read in the statement's own call; a longer result reads the rest with one call more.
PREFETCH_ROWS = 1000


def _run(cursor: sqlite3.Cursor, sql: str, parameters: Any) -> tuple[deque[Any] | None, bool]:
    """On aiosqlite's thread: run the statement and read up to PREFETCH_ROWS of its rows; the
    rows (None for a statement without any) and whether more may follow."""
    cursor.execute(sql, parameters)
    if cursor.description is None:
        return None, False
    rows = cursor.fetchmany(PREFETCH_ROWS)
    return deque(rows), len(rows) == PREFETCH_ROWS


class OneCallCursor(aiosqlite.Cursor):
    """aiosqlite's cursor with the statement and its rows read in one call."""

    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._ahead: deque[Any] | None = None  # rows read with the statement, not yet taken
        self._more = False  # rows may remain beyond them, unread

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> aiosqlite.Cursor:
        self._ahead, self._more = None, False
        self._ahead, self._more = await self._execute(  # type: ignore[no-untyped-call]
            _run, self._cursor, sql, [] if parameters is None else parameters
        )
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> aiosqlite.Cursor:
        self._ahead, self._more = None, False
        return await super().executemany(sql, parameters)

    async def executescript(self, sql_script: str) -> aiosqlite.Cursor:
        self._ahead, self._more = None, False
        return await super().executescript(sql_script)

    async def fetchone(self) -> sqlite3.Row | None:
        if self._ahead is None:
            return await super().fetchone()
        if self._ahead:
            row: sqlite3.Row = self._ahead.popleft()
            return row
        return await super().fetchone() if self._more else None

    async def fetchmany(self, size: int | None = None) -> Iterable[sqlite3.Row]:
        if self._ahead is None:
            return await super().fetchmany(size)
        wanted = self._cursor.arraysize if size is None else size
        rows = [self._ahead.popleft() for _ in range(min(wanted, len(self._ahead)))]
        if len(rows) < wanted and self._more:
            rows.extend(await super().fetchmany(wanted - len(rows)))
        return rows

    async def fetchall(self) -> Iterable[sqlite3.Row]:
        if self._ahead is None:
            return await super().fetchall()
        rows = list(self._ahead)
        self._ahead.clear()
        if self._more:
            rows.extend(await super().fetchall())
            self._more = False
        return rows

    async def close(self) -> None:
        self._ahead = None
        if self._more:  # its statement is still running: reset on aiosqlite's thread
            self._more = False
            await super().close()
        else:
            self._cursor.close()


class OneCallConnection(aiosqlite.Connection):
    """aiosqlite's connection making OneCallCursors, and skipping COMMIT and ROLLBACK when no
    transaction is open (sqlite3 skips them too: only the round trip is saved)."""

    @contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        return OneCallCursor(self, self._conn.cursor())

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


class _RunNow:
    """aiosqlite's queue of calls for its thread, each call made as it is queued."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(OneCallConnection):
    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]  # same put_nowait, no thread behind it

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return partial(fn, *args, **kwargs)()

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no thread to start


def one_call_creator(path: str) -> Callable[[], Any]:
    """SQLAlchemy's `async_creator` for OneCallConnections to the database file at `path`,
    opened as SQLAlchemy opens one from a `sqlite:///` URL."""

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path, check_same_thread=False)

    async def create() -> aiosqlite.Connection:
        connection = OneCallConnection(connect, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy's own connect makes it
        return await connection

    return create


def inline_creator(path: str) -> Callable[[], Any]:
    """SQLAlchemy's `async_creator` for connections to the database file at `path`."""

    def connect() -> sqlite3.Connection:
        # Any thread may close it (the pool's clean-up); all use is on the loop's.
        return sqlite3.connect(path, timeout=0, check_same_thread=False)

    async def create() -> aiosqlite.Connection:
        return await InlineConnection(connect)

    return create
