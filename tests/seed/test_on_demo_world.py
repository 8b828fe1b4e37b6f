"""Synthetic data loaded on top of the demo world leaves the demo world as it was."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select

from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.audit.chain import verify
from renraku.audit.models import AuditRecord
from renraku.db import Database
from renraku.seed.synthetic import SyntheticSpec, seed_synthetic
from renraku.teams.service import list_patients


async def _visible(db: Database, username: str) -> set[int]:
    async with db.session() as session:
        user = (await session.exec(select(User).where(User.username == username))).one()
        page = await list_patients(
            session, actor=actor_for(user), first=100, after=None, search=None
        )
    return {p.id for p, _ in page.items if p.id is not None}


async def test_demo_accounts_see_what_they_saw_and_the_chain_still_verifies(
    database_url: str, demo: dict[str, Any]
) -> None:
    db = Database.from_url(database_url)
    try:
        usernames = [a["username"] for a in demo["accounts"] if a["kind"] == "professional"]
        before = {u: await _visible(db, u) for u in usernames}
        async with db.session() as session:
            last_audit = (
                await session.exec(select(AuditRecord).order_by(col(AuditRecord.id).desc()))
            ).first()
        spec = SyntheticSpec(patients=120, professionals=60, seed=5, today=date(2026, 3, 1))
        result = await seed_synthetic(db, spec)
        assert result.counts["patient"] == 120
        assert {u: await _visible(db, u) for u in usernames} == before
        async with db.session() as session:
            records = (
                await session.exec(
                    select(AuditRecord).where(
                        col(AuditRecord.id) > (last_audit.id if last_audit else 0)
                    )
                )
            ).all()
            assert [r.action for r in records] == ["seed.synthetic"]
            assert (await verify(session)).ok
    finally:
        await db.dispose()
