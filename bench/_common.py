"""Helpers the benchmarks share: throwaway and cached databases, latency statistics."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.engine import make_url

import renraku.seed
from renraku.db import Database, is_sqlite
from renraku.migrate import migrations_dir, upgrade
from renraku.seed.synthetic import SyntheticSpec, seed_synthetic
from renraku.settings import Settings

POSTGRES = os.environ.get("RENRAKU_BENCH_POSTGRES", "postgresql://test:test@127.0.0.1:5432/test")


@asynccontextmanager
async def fresh_database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """A new, migrated, empty database; dropped afterwards."""
    name = f"renraku_bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        url = f"sqlite:///{workdir / (name + '.db')}"
    else:
        admin = await asyncpg.connect(POSTGRES)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        if kind == "postgresql":
            admin = await asyncpg.connect(POSTGRES)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which `share` (0..1) of `values` lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


RESULTS = Path(__file__).resolve().parent / "results"


def _world_fingerprint() -> str:
    """Changes whenever the schema or the generator does, so a stale cached world is not reused."""
    digest = hashlib.sha256()
    sources = sorted((migrations_dir() / "versions").glob("*.py"))
    sources += sorted(Path(renraku.seed.__file__).parent.glob("*.py"))
    for source in sources:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:10]


async def _seed(url: str, spec: SyntheticSpec) -> None:
    db = Database.from_url(url)
    try:
        began = time.perf_counter()
        result = await seed_synthetic(db, spec)
        print(f"  seeded {result.rows:,} rows in {time.perf_counter() - began:.1f} s", flush=True)
        if not is_sqlite(db.engine):
            # Stands in for autovacuum's ANALYZE, which a running server has had time to do.
            async with db.engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await db.dispose()


@asynccontextmanager
async def seeded_world(
    kind: str, spec: SyntheticSpec, *, tag: str, reuse: bool
) -> AsyncIterator[str]:
    """A database holding the synthetic world for `spec`.

    PostgreSQL: a throwaway database, dropped afterwards. SQLite: a file under bench/results/,
    kept for the next run with `reuse` (rebuilt when the schema or the generator changed).
    """
    RESULTS.mkdir(exist_ok=True)
    if kind == "postgresql":
        async with fresh_database(kind, RESULTS) as url:
            print("  building the world in a throwaway PostgreSQL database", flush=True)
            await _seed(url, spec)
            yield url
        return
    timelines = "_".join(str(n) for n in spec.big_timelines)
    prefix = f"{tag}-{spec.patients}-{spec.professionals}-p{spec.posts}-b{timelines}-s{spec.seed}-"
    path = RESULTS / f"{prefix}{_world_fingerprint()}.db"
    if reuse and path.exists():
        print(f"  reusing {path.relative_to(RESULTS.parent.parent)}", flush=True)
    else:
        for stale in RESULTS.glob(f"{prefix}*.db*"):
            stale.unlink()
        partial = path.with_name(path.stem + ".partial.db")
        print(f"  building the world in {path.relative_to(RESULTS.parent.parent)}", flush=True)
        await asyncio.to_thread(upgrade, f"sqlite:///{partial}")
        await _seed(f"sqlite:///{partial}", spec)
        # Fold the write-ahead log into the file before renaming it.
        conn = sqlite3.connect(partial)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        partial.rename(path)
    yield f"sqlite:///{path}"


def bench_settings(url: str) -> Settings:
    """Demo settings on `url`, signing audit checkpoints with a key kept under bench/results/."""
    RESULTS.mkdir(exist_ok=True)
    key = RESULTS / "audit-key.pem"
    if not key.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        key.write_bytes(pem)
        key.chmod(0o600)
    return Settings(database_url=url, audit_key_file=key)
