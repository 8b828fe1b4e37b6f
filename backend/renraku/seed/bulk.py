"""Bulk loading: batches of rows straight into the tables, in one transaction.

PostgreSQL takes them by COPY and SQLite by executemany, both on the raw driver connection under
SQLAlchemy's. Batches are generated in line, one before each write: generating the next one in a
worker thread was measured slower on SQLite (its executemany needs the GIL for every row, and the
generator thread starved it) and no faster on PostgreSQL (the server's work dominates).
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import Table, cast, func, select
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.ext.asyncio import AsyncConnection
from tqdm import tqdm

from renraku.db import is_sqlite
from renraku.seed.batches import ID_TABLES, Batch, StartIds

# For the load only: the transaction is all or nothing, so skipping the fsync between its pages
# risks nothing that a crash would not roll back anyway; a bigger cache keeps the indexes in memory.
SQLITE_BULK_PRAGMAS = {"synchronous": "OFF", "cache_size": "-262144"}


@contextlib.asynccontextmanager
async def bulk_transaction(conn: AsyncConnection) -> AsyncIterator[Any]:
    """Begin a write transaction on `conn`; yield its raw driver connection; commit on exit."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    if not is_sqlite(conn.engine):
        async with conn.begin():
            # SQLAlchemy's asyncpg adapter opens its transaction at the first statement: open it
            # now, so the COPYs on the raw connection belong to it.
            await conn.execute(select(1))
            yield raw
        return
    saved = {}
    for name, value in SQLITE_BULK_PRAGMAS.items():
        cursor = await raw.execute(f"PRAGMA {name}")
        saved[name] = (await cursor.fetchone())[0]
        await cursor.close()
        await raw.execute(f"PRAGMA {name}={value}")
    try:
        await conn.execution_options(sqlite_begin="IMMEDIATE")
        async with conn.begin():
            yield raw
    finally:
        for name, value in saved.items():
            await raw.execute(f"PRAGMA {name}={int(value)}")


def _largest_taken(conn: AsyncConnection, table: Table) -> Any:
    """The largest id in `table`, and on PostgreSQL also the last its sequence handed out."""
    largest = select(func.max(table.c.id)).scalar_subquery()
    if is_sqlite(conn.engine):
        return largest
    issued = func.pg_sequence_last_value(cast(_sequence(table), REGCLASS))
    return func.greatest(largest, issued)


def _sequence(table: Table) -> Any:
    return func.pg_get_serial_sequence(table.name, "id")


async def start_ids(conn: AsyncConnection) -> StartIds:
    """The largest id taken in each table: the pre-assigned ids follow it."""
    found = {}
    for field, table in ID_TABLES.items():
        found[field] = int((await conn.execute(select(_largest_taken(conn, table)))).scalar() or 0)
    return StartIds(**found)


async def reset_sequences(conn: AsyncConnection) -> None:
    """Move PostgreSQL's id sequences past the pre-assigned ids (never back)."""
    if is_sqlite(conn.engine):
        return
    for table in ID_TABLES.values():
        # setval(NULL) leaves a sequence alone: an empty table that never used it stays so.
        await conn.execute(select(func.setval(_sequence(table), _largest_taken(conn, table))))


async def write_batches(
    conn: AsyncConnection,
    raw: Any,
    batches: Iterator[Batch],
    *,
    totals: dict[str, int],
    progress: bool,
) -> Counter[str]:
    """Write every batch through `raw`; rows written per table. One progress bar per table."""
    sqlite = is_sqlite(conn.engine)
    written: Counter[str] = Counter()
    bar: tqdm[Any] | None = None
    try:
        for batch in batches:
            if bar is None or batch.table not in written:
                if bar is not None:
                    bar.close()
                bar = tqdm(
                    total=totals.get(batch.table),
                    desc=batch.table,
                    unit=" rows",
                    unit_scale=True,
                    file=sys.stderr,
                    disable=not progress,
                )
            if sqlite:
                await insert_sqlite(raw, batch)
            else:
                await copy_postgresql(raw, batch)
            bar.update(len(batch.rows))
            written[batch.table] += len(batch.rows)
    finally:
        if bar is not None:
            bar.close()
    return written


def insert_sql(batch: Batch) -> str:
    marks = ", ".join("?" * len(batch.columns))
    # Table and column names come from the models, never from input.
    return f'INSERT INTO "{batch.table}" ({", ".join(batch.columns)}) VALUES ({marks})'  # noqa: S608


async def insert_sqlite(raw: Any, batch: Batch) -> None:
    cursor = await raw.executemany(insert_sql(batch), batch.rows)
    await cursor.close()


async def copy_postgresql(raw: Any, batch: Batch) -> None:
    await raw.copy_records_to_table(batch.table, records=batch.rows, columns=list(batch.columns))
