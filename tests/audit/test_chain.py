"""The audit log is a hash chain: any edit, deletion or reordering is found and named."""

from __future__ import annotations

from sqlalchemy import text

from renraku.audit import chain
from renraku.audit.models import AuditRecord
from renraku.db import Database


async def _append_three(db: Database) -> None:
    for n in range(3):
        async with db.transaction() as session:
            await chain.append(
                session,
                actor_id=n,
                actor_kind="professional",
                action="test.read",
                object_type="patient",
                object_ids=[n, n + 1],
            )


async def _verify(db: Database) -> chain.VerifyResult:
    async with db.session() as session:
        return await chain.verify(session)


async def test_seeded_chain_verifies(database_url: str) -> None:
    db = Database.from_url(database_url)
    try:
        await _append_three(db)
        result = await _verify(db)
        assert result.ok and result.checked >= 4  # the demo seed record and three more
    finally:
        await db.dispose()


async def test_edited_record_is_named(database_url: str) -> None:
    db = Database.from_url(database_url)
    try:
        await _append_three(db)
        async with db.transaction() as session:
            await (await session.connection()).execute(
                text("UPDATE auditrecord SET reason = 'edited' WHERE id = 3")
            )
        result = await _verify(db)
        assert not result.ok and result.first_bad_id == 3
    finally:
        await db.dispose()


async def test_deleted_record_is_named(database_url: str) -> None:
    db = Database.from_url(database_url)
    try:
        await _append_three(db)
        async with db.transaction() as session:
            await (await session.connection()).execute(text("DELETE FROM auditrecord WHERE id = 2"))
        result = await _verify(db)
        assert not result.ok and result.first_bad_id == 2
    finally:
        await db.dispose()


async def test_reordered_records_are_found(database_url: str) -> None:
    db = Database.from_url(database_url)
    try:
        await _append_three(db)
        async with db.transaction() as session:
            conn = await session.connection()
            # Swap the contents of records 2 and 3 while keeping ids in order.
            await conn.execute(text("UPDATE auditrecord SET id = 1000 WHERE id = 2"))
            await conn.execute(text("UPDATE auditrecord SET id = 2 WHERE id = 3"))
            await conn.execute(text("UPDATE auditrecord SET id = 3 WHERE id = 1000"))
        result = await _verify(db)
        assert not result.ok and result.first_bad_id == 2
    finally:
        await db.dispose()


async def test_rehashed_edit_still_breaks_the_next_link(database_url: str) -> None:
    """An attacker who recomputes the edited record's own hash still breaks its successor."""
    db = Database.from_url(database_url)
    try:
        await _append_three(db)
        async with db.transaction() as session:
            record = await session.get(AuditRecord, 2)
            assert record is not None
            record.reason = "forged"
            record.hash = chain.record_hash(record)
            session.add(record)
        result = await _verify(db)
        assert not result.ok and result.first_bad_id == 3
    finally:
        await db.dispose()
