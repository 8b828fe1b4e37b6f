"""`renraku seed demo`: load seed/demo.toml, idempotently (running it twice changes nothing)."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.accounts.secrets import hash_password
from renraku.audit import changes
from renraku.broker import Broker, MemoryBroker
from renraku.db import Database
from renraku.geo import municipalities
from renraku.kinds import ConsentKind, TeamRole
from renraku.overlay.areas import parse_area
from renraku.overlay.incidents import do_declare_incident
from renraku.overlay.models import Incident, active_incident
from renraku.package_data import DEMO_WORLD, package_folder
from renraku.seed.demo_alerts import load_demo_alerts
from renraku.seed.demo_posts import load_demo_posts
from renraku.teams.models import Consent, Patient, PatientContact, RiskProfile, TeamMembership
from renraku.timeutil import utcnow


def demo_file() -> Path:
    return package_folder(DEMO_WORLD) / "demo.toml"


def load_demo(path: Path | None = None) -> dict[str, Any]:
    with (path or demo_file()).open("rb") as handle:
        return tomllib.load(handle)


async def ensure_municipality(session: AsyncSession, code: str) -> Municipality:
    """The municipality row for `code`, created from the bundled open data if absent."""
    existing = await session.get(Municipality, code)
    if existing is not None:
        return existing
    info = municipalities()[code]
    row = Municipality(
        code=code,
        name=info.name,
        name_kana=info.name_kana,
        name_en=info.name_en,
        prefecture=info.prefecture,
    )
    session.add(row)
    await session.flush()
    return row


async def _organisations(session: AsyncSession, world: dict[str, Any]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for spec in world.get("organisations", []):
        row = (
            await session.exec(select(Organisation).where(Organisation.key == spec["key"]))
        ).first()
        if row is None:
            row = Organisation(
                key=spec["key"],
                name=spec["name"],
                kind=spec["kind"],
                municipality_code=spec["municipality"],
            )
            session.add(row)
            await session.flush()
        assert row.id is not None
        ids[spec["key"]] = row.id
    return ids


async def _accounts(
    session: AsyncSession, world: dict[str, Any], organisations: dict[str, int]
) -> dict[str, int]:
    ids: dict[str, int] = {}
    hashes: dict[str, str] = {}
    for spec in world.get("accounts", []):
        row = (await session.exec(select(User).where(User.username == spec["username"]))).first()
        if row is None:
            password = spec["password"]
            if password not in hashes:
                hashes[password] = hash_password(password)
            row = User(
                username=spec["username"],
                display_name=spec["display_name"],
                display_name_kana=spec.get("display_name_kana", ""),
                kind=spec["kind"],
                profession=spec.get("profession"),
                municipality_code=spec.get("municipality"),
                password_hash=hashes[password],
                is_demo=True,
            )
            session.add(row)
            await session.flush()
            assert row.id is not None
            if spec.get("organisation"):
                session.add(
                    OrganisationMember(
                        organisation_id=organisations[spec["organisation"]], user_id=row.id
                    )
                )
        assert row.id is not None
        ids[spec["username"]] = row.id
    return ids


def _risk(patient_id: int, spec: dict[str, Any]) -> RiskProfile:
    return RiskProfile(
        patient_id=patient_id,
        care_level=spec.get("care_level", "none"),
        mobility=spec.get("mobility", "independent"),
        dementia=spec.get("dementia", False),
        sensory_impairment=spec.get("sensory_impairment", False),
        living=spec.get("living", "with_family"),
        devices=list(spec.get("devices", [])),
        floor=spec.get("floor", 1),
        landslide_zone=spec.get("landslide_zone", "none"),
        flood_depth_m=float(spec.get("flood_depth_m", 0.0)),
        tsunami_zone=spec.get("tsunami_zone", False),
        air_conditioning=spec.get("air_conditioning", True),
        supporter=spec.get("supporter", ""),
    )


async def _patient(
    session: AsyncSession, spec: dict[str, Any], users: dict[str, int]
) -> int | None:
    """Create one patient with team, contacts, risk and consent; None if it already exists."""
    found = (await session.exec(select(Patient).where(Patient.external_ref == spec["key"]))).first()
    if found is not None:
        return None
    now = utcnow()
    lat, lon = spec["location"]
    birth = spec.get("birth_date")
    patient = Patient(
        external_ref=spec["key"],
        display_name=spec["display_name"],
        kana=spec.get("kana", ""),
        birth_date=birth if isinstance(birth, date) else None,
        sex=spec.get("sex", "other"),
        address=spec.get("address", ""),
        latitude=float(lat),
        longitude=float(lon),
        municipality_code=spec["municipality"],
        phone=spec.get("phone", ""),
        last_visit_at=now - timedelta(days=int(spec.get("last_visit_days_ago", 0))),
    )
    session.add(patient)
    await session.flush()
    assert patient.id is not None
    pid = patient.id
    session.add(_risk(pid, spec.get("risk", {})))
    key_person = spec.get("key_person")
    if key_person:
        session.add(
            PatientContact(
                patient_id=pid,
                name=key_person["name"],
                relation=key_person.get("relation", ""),
                phone=key_person.get("phone", ""),
                is_key_person=True,
            )
        )
    for username in spec.get("team", []):
        role = TeamRole.COORDINATOR if username == spec.get("coordinator") else TeamRole.MEMBER
        session.add(
            TeamMembership(patient_id=pid, user_id=users[username], role=role, starts_at=now)
        )
    for username in spec.get("family", []):
        session.add(
            TeamMembership(
                patient_id=pid, user_id=users[username], role=TeamRole.FAMILY, starts_at=now
            )
        )
    consent = spec.get("consent", {})
    for kind in ConsentKind:
        if kind.value in consent:
            session.add(Consent(patient_id=pid, kind=kind.value, granted=bool(consent[kind.value])))
    return pid


async def _incidents(session: AsyncSession, world: dict[str, Any], folder: Path) -> int:
    """Declare each demo incident unless an active one with the same reason exists."""
    declared = 0
    for spec in world.get("emergencies", []):
        existing = (
            await session.exec(
                select(Incident.id).where(
                    Incident.municipality_code == spec["municipality"],
                    Incident.reason == spec["reason"],
                    active_incident(),
                )
            )
        ).first()
        if existing is not None:
            continue
        area_spec = spec.get("area", "municipality")
        area = (
            None
            if area_spec == "municipality"
            else parse_area((folder / area_spec).read_text(encoding="utf-8"))
        )
        await do_declare_incident(
            session,
            actor=None,
            municipality_code=spec["municipality"],
            area=area,
            reason=spec["reason"],
            ends_at=utcnow() + timedelta(hours=int(spec.get("hours", 24))),
        )
        declared += 1
    return declared


async def seed_demo(
    db: Database, path: Path | None = None, *, broker: Broker | None = None
) -> dict[str, int]:
    """Load the demo world; returns how many rows of each kind were created."""
    path = path or demo_file()
    world = load_demo(path)
    async with db.transaction() as session:
        codes = {m["code"] for m in world.get("municipalities", [])}
        codes |= {o["municipality"] for o in world.get("organisations", [])}
        for code in sorted(codes):
            await ensure_municipality(session, code)
        organisations = await _organisations(session, world)
        before_users = len((await session.exec(select(User.id))).all())
        users = await _accounts(session, world, organisations)
        created = [
            pid
            for spec in world.get("patients", [])
            if (pid := await _patient(session, spec, users))
        ]
        new_users = len(users) - before_users
        if created or new_users > 0:
            await changes.record(
                session,
                actor=None,
                action="seed.demo",
                object_type="patient",
                object_ids=created,
            )
        incidents = await _incidents(session, world, path.parent)
    # The posts' events are stored; a server's subscribers that miss the publish replay them.
    # The alert joins the declared incident of its municipality: one incident, not two.
    alerts = await load_demo_alerts(db, world, path.parent)
    posts = await load_demo_posts(db, broker or MemoryBroker(), world)
    return {
        "patients": len(created),
        "accounts": max(new_users, 0),
        "incidents": incidents,
        "alerts": alerts,
        "posts": posts,
    }
