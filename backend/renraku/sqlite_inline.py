"""SQLite lookups by key, called on the event loop's own thread.

aiosqlite runs every call on a thread of its own: each statement costs a few hops between that
thread and the event loop, more than a lookup by key takes (a request's session token: tens of
microseconds). `InlineConnection` is aiosqlite's connection with its queue of calls run on the
spot, for `Database.lookup` only. Write transactions stay on aiosqlite's thread: run here, they
were faster (createPost took 2.7 times the posts per second) but held the event loop for their
whole length, and the live feed's deliveries waited behind them (bench/feed.py's p99 from 3.8 to
6.9 ms). The connections made here never wait on SQLite's busy handler (busy_timeout 0): reads
in WAL mode do not meet another writer's lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import aiosqlite


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


class InlineConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]  # same put_nowait, no thread behind it

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return partial(fn, *args, **kwargs)()

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no thread to start


def inline_creator(path: str) -> Callable[[], Any]:
    """SQLAlchemy's `async_creator` for connections to the database file at `path`."""

    def connect() -> sqlite3.Connection:
        # Any thread may close it (the pool's clean-up); all use is on the loop's.
        return sqlite3.connect(path, timeout=0, check_same_thread=False)

    async def create() -> aiosqlite.Connection:
        return await InlineConnection(connect)

    return create
