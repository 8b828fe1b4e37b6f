"""`renraku seed synthetic` against a raw insert of the same rows, in the same run.

Ours: generation + bulk load + audit record, into a fresh migrated database, as the command runs
it. Baseline: the same rows, generated to memory beforehand, inserted with nothing else going on
(executemany on SQLite, COPY on PostgreSQL) into another fresh database. The ratio is baseline
time over ours: 1.0 means generating the world costs nothing on top of writing it. The world has
notebook posts (5 per patient unless --posts says otherwise), each with its feed event, and their
read receipts.

    .venv/bin/python bench/seed.py                 # 41,000 patients / 23,000 professionals
    .venv/bin/python bench/seed.py --full          # 410,000 / 230,000 (ten times the reference)
    .venv/bin/python bench/seed.py --posts 0       # the people and teams alone
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from _common import fresh_database
from renraku.db import Database
from renraku.seed.batches import Batch, Formats, StartIds
from renraku.seed.bulk import SQLITE_BULK_PRAGMAS, insert_sql
from renraku.seed.rows import generate
from renraku.seed.synthetic import SyntheticSpec, seed_synthetic
from renraku.seed.world import build_world

POSTS_PER_PATIENT = 5


def raw_sqlite(path: str, batches: list[Batch]) -> None:
    """executemany of plain INSERTs in one transaction, with the loader's PRAGMAs."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        for name, value in SQLITE_BULK_PRAGMAS.items():
            conn.execute(f"PRAGMA {name}={value}")
        conn.execute("BEGIN IMMEDIATE")
        for batch in batches:
            conn.executemany(insert_sql(batch), batch.rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def raw_postgresql(url: str, batches: list[Batch]) -> None:
    """COPY of every batch in one transaction."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for batch in batches:
                await conn.copy_records_to_table(
                    batch.table, records=batch.rows, columns=list(batch.columns)
                )
    finally:
        await conn.close()


async def run(kind: str, spec: SyntheticSpec, workdir: Path) -> None:
    async with fresh_database(kind, workdir) as url:
        db = Database.from_url(url)
        began = time.perf_counter()
        result = await seed_synthetic(db, spec)
        ours = time.perf_counter() - began
        dialect = db.engine.dialect
        await db.dispose()

    began = time.perf_counter()
    world = build_world(spec)
    batches = list(generate(world, StartIds(), Formats(dialect), new_codes=set(world.codes)))
    generation = time.perf_counter() - began
    rows = sum(len(b.rows) for b in batches)
    assert rows == result.rows, (rows, result.rows)

    async with fresh_database(kind, workdir) as url:
        began = time.perf_counter()
        if kind == "sqlite":
            await asyncio.to_thread(raw_sqlite, make_url(url).database or "", batches)
        else:
            await raw_postgresql(url, batches)
        baseline = time.perf_counter() - began

    print(
        f"{kind:<11} {rows:>10,} {ours:>8.1f} {rows / ours:>12,.0f} {baseline:>8.1f} "
        f"{rows / baseline:>12,.0f} {baseline / ours:>6.2f}   ({generation:.1f} s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=41_000)
    parser.add_argument("--professionals", type=int, default=23_000)
    parser.add_argument("--full", action="store_true", help="410,000 / 230,000 (ten times)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--posts", type=int, help="posts in all (default: 5 per patient)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    patients, professionals = args.patients, args.professionals
    if args.full:
        patients, professionals = 410_000, 230_000
    posts = POSTS_PER_PATIENT * patients if args.posts is None else args.posts
    spec = SyntheticSpec(
        patients=patients, professionals=professionals, seed=args.seed, posts=posts
    )
    kinds = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(
        f"seed synthetic: {patients:,} patients, {professionals:,} professionals, "
        f"{posts:,} posts, seed {spec.seed}"
    )
    print(
        f"{'backend':<11} {'rows':>10} {'ours s':>8} {'ours rows/s':>12} {'raw s':>8} "
        f"{'raw rows/s':>12} {'ratio':>6}   (generation alone)"
    )
    with tempfile.TemporaryDirectory() as workdir:
        for kind in kinds:
            await run(kind, spec, Path(workdir))


if __name__ == "__main__":
    asyncio.run(main())
