"""What `renraku demo` prints: what loading the demo world added, and the accounts to sign in as,
where they work and what they see."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select

from renraku.access.scopes import visible_patients
from renraku.accounts.models import Municipality, User
from renraku.accounts.service import actor_for
from renraku.db import Database
from renraku.seed.demo import load_demo
from renraku.settings import Settings
from renraku.teams.models import Patient

# The role shown for an account that has no profession, by its kind.
ROLES = {
    "family": "family member",
    "patient": "patient",
    "municipality": "municipal staff",
    "planner": "emergency planner",
    "operator": "operator",
}


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    role: str
    municipality: str  # its name as people write it, "" for an account of no municipality
    sees: str


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 patient`, `2 patients`."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def sees(kind: str, visible: int) -> str:
    """What an account of `kind` sees, given how many patients it sees."""
    patients = counted(visible, "patient")
    return {
        "professional": f"{patients} on their care teams",
        "family": f"{patients}: their family member",
        "patient": "their own notebook",
        "municipality": f"{patients} of their municipality, without clinical content",
        "planner": f"{patients} inside an active incident or who consented to sharing",
        "operator": "no patient data",
    }[kind]


def loaded_sentence(created: dict[str, int]) -> str:
    """One sentence from seed_demo's counts, naming only what it added."""
    added = [
        counted(created[key], noun, plural)
        for key, noun, plural in (
            ("patients", "patient", None),
            ("accounts", "account", None),
            ("posts", "notebook post", None),
            ("incidents", "incident", "incidents"),
            ("alerts", "alert", None),
        )
        if created[key]
    ]
    if not added:
        return "The demo world is loaded (it already was)."
    listed = ", ".join(added[:-1]) + " and " + added[-1] if len(added) > 1 else added[0]
    return f"The demo world is loaded: {listed} added."


async def demo_accounts(settings: Settings) -> list[DemoAccount]:
    """Every account of the demo world, in the order of seed/demo.toml."""
    world = load_demo()
    db = Database.from_url(settings.database_url)
    accounts: list[DemoAccount] = []
    try:
        async with db.session() as session:
            for spec in world["accounts"]:
                user = (
                    await session.exec(select(User).where(User.username == spec["username"]))
                ).one()
                visible = (
                    await session.exec(
                        select(func.count())
                        .select_from(Patient)
                        .where(visible_patients(actor_for(user)))
                    )
                ).one()
                place = (
                    await session.get(Municipality, user.municipality_code)
                    if user.municipality_code
                    else None
                )
                accounts.append(
                    DemoAccount(
                        username=user.username,
                        role=(spec.get("profession") or "").replace("_", " ")
                        or ROLES[spec["kind"]],
                        municipality=_name(place),
                        sees=sees(spec["kind"], visible),
                    )
                )
    finally:
        await db.dispose()
    return accounts


def _name(place: Municipality | None) -> str:
    if place is None:
        return ""
    return f"{place.name} ({place.name_en})" if place.name_en else place.name


async def print_demo_accounts(settings: Settings, *, url: str) -> None:
    password = load_demo()["demo"]["password"]
    accounts = await demo_accounts(settings)
    width = max(len(a.username) for a in accounts)
    role_width = max(len(a.role) for a in accounts)
    print()
    print(f"Renraku demo: open {url} and sign in as any account below.")
    print(f"Every demo account has the password {password}.")
    # Grouped by municipality in the order they first appear: the names are wide characters,
    # which would not line up in a column.
    places = list(dict.fromkeys(a.municipality for a in accounts))
    for place in places:
        print()
        print(f"In {place}:" if place else "Not in a municipality:")
        for account in accounts:
            if account.municipality == place:
                print(
                    f"  {account.username.ljust(width)}  {account.role.ljust(role_width)}  "
                    f"sees {account.sees}"
                )
    print()
