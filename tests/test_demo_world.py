"""seed/demo.toml is loaded faithfully and idempotently."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import select

from renraku.accounts.models import User
from renraku.db import Database
from renraku.geo import contains
from renraku.seed.demo import seed_demo
from renraku.teams.models import Patient, TeamMembership


async def _counts(db: Database) -> tuple[int, int, int]:
    async with db.session() as session:
        users = (await session.exec(select(func.count()).select_from(User))).one()
        patients = (await session.exec(select(func.count()).select_from(Patient))).one()
        members = (await session.exec(select(func.count()).select_from(TeamMembership))).one()
    return users, patients, members


async def test_seeding_twice_changes_nothing(database_url: str, demo: dict[str, Any]) -> None:
    db = Database.from_url(database_url)
    try:
        before = await _counts(db)
        assert before[0] == len(demo["accounts"])
        assert before[1] == len(demo["patients"])
        assert await seed_demo(db) == {
            "patients": 0,
            "accounts": 0,
            "incidents": 0,
            "alerts": 0,
            "posts": 0,
        }
        assert await _counts(db) == before
    finally:
        await db.dispose()


def test_demo_patients_live_inside_their_municipality(demo: dict[str, Any]) -> None:
    for patient in demo["patients"]:
        lat, lon = patient["location"]
        assert contains(patient["municipality"], lat, lon), patient["key"]


def test_demo_file_has_one_manager_and_planner_per_municipality(demo: dict[str, Any]) -> None:
    codes = {m["code"] for m in demo["municipalities"]}
    for kind in ("municipality", "planner"):
        owners = [a["municipality"] for a in demo["accounts"] if a["kind"] == kind]
        assert sorted(owners) == sorted(codes), kind
    first_planner = next(a for a in demo["accounts"] if a["kind"] == "planner")
    assert first_planner["municipality"] == demo["emergencies"][0]["municipality"]
