"""The demo accounts table `renraku demo` prints: who to sign in as, and what each may see."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from renraku.access.scopes import visible_patients
from renraku.accounts.models import User
from renraku.accounts.service import actor_for
from renraku.db import Database
from renraku.seed.demo import load_demo
from renraku.settings import Settings
from renraku.teams.models import Patient

SEES = {
    "professional": "patients on their care teams",
    "family": "their family member",
    "patient": "themself",
    "municipality": "their municipality's patients (no clinical content)",
    "planner": "patients inside an active emergency, or who consented to sharing",
    "operator": "no patient data",
}


async def demo_accounts(settings: Settings) -> list[tuple[str, str, str, str, int]]:
    """(username, role, municipality, what they see, patients visible) for every demo account."""
    world = load_demo()
    db = Database.from_url(settings.database_url)
    rows: list[tuple[str, str, str, str, int]] = []
    try:
        async with db.session() as session:
            for spec in world["accounts"]:
                user = (
                    await session.exec(select(User).where(User.username == spec["username"]))
                ).one()
                actor = actor_for(user)
                count = (
                    await session.exec(
                        select(func.count()).select_from(Patient).where(visible_patients(actor))
                    )
                ).one()
                role = spec.get("profession") or spec["kind"]
                rows.append(
                    (
                        spec["username"],
                        role,
                        spec.get("municipality", "-"),
                        SEES[spec["kind"]],
                        count,
                    )
                )
    finally:
        await db.dispose()
    return rows


async def print_demo_accounts(settings: Settings, *, url: str) -> None:
    world = load_demo()
    rows = await demo_accounts(settings)
    width = max(len(r[0]) for r in rows)
    print()
    print(f"Renraku demo: open {url} and sign in with any account below.")
    print(f"Password for every demo account: {world['demo']['password']}")
    print()
    print(f"{'username'.ljust(width)}  {'role':<22} {'city':<7} {'sees':>5}  what")
    for username, role, city, sees, count in rows:
        print(f"{username.ljust(width)}  {role:<22} {city:<7} {count:>5}  {sees}")
    print()
