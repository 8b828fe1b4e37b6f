"""`renraku seed synthetic`: a deterministic, plausible world, bulk-loaded on both backends."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date

import pytest
from sqlmodel import col, select

from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.accounts.service import actor_for
from renraku.audit.chain import verify
from renraku.audit.models import AuditRecord
from renraku.cli import main
from renraku.db import Database
from renraku.errors import BadInput
from renraku.geo import contains
from renraku.kinds import OrganisationKind, Profession, TeamRole, UserKind
from renraku.seed.batches import table_of
from renraku.seed.synthetic import SeedResult, SyntheticSpec, seed_synthetic
from renraku.teams.models import Consent, Patient, PatientContact, RiskProfile, TeamMembership
from renraku.teams.service import list_patients
from tests.seed.helpers import SEEDED_TABLES, count, counts, dump, migrated, seed
from tests.support.databases import Backend

SPEC = SyntheticSpec(patients=300, professionals=150, seed=7, today=date(2026, 3, 1))


@pytest.fixture(scope="module")
async def seeded(backend: Backend) -> AsyncIterator[tuple[Database, SeedResult]]:
    async with migrated(backend) as url:
        result = await seed(url, SPEC)
        db = Database.from_url(url)
        yield db, result
        await db.dispose()


async def test_the_world_has_what_was_asked_for(seeded: tuple[Database, SeedResult]) -> None:
    db, result = seeded
    assert await count(db, Patient) == result.counts["patient"] == 300
    assert await count(db, RiskProfile) == await count(db, PatientContact) == 300
    assert await count(db, Consent) == 600
    async with db.session() as session:
        users = (await session.exec(select(User))).all()
        organisations = {o.id: o for o in (await session.exec(select(Organisation))).all()}
        members = (await session.exec(select(OrganisationMember))).all()
        codes = set((await session.exec(select(Municipality.code))).all())
    assert len(users) == 150
    assert all(u.kind == UserKind.PROFESSIONAL and u.password_hash is None for u in users)
    assert not any(u.is_demo or u.totp_secret for u in users)
    professions = Counter(u.profession for u in users)
    assert professions[Profession.HOME_HELPER] > professions[Profession.DOCTOR]
    assert professions[Profession.NURSE] > professions[Profession.DOCTOR]
    assert {o.kind for o in organisations.values()} == set(OrganisationKind)
    assert {o.municipality_code for o in organisations.values()} <= codes
    # Each professional belongs to exactly one organisation, in their own municipality.
    workplace: dict[int | None, Organisation] = {
        m.user_id: organisations[m.organisation_id] for m in members
    }
    assert len(members) == len(workplace) == len(users)
    assert all(workplace[u.id].municipality_code == u.municipality_code for u in users)


async def test_the_same_seed_gives_the_same_rows_and_another_seed_does_not(
    backend: Backend, seeded: tuple[Database, SeedResult]
) -> None:
    first, _ = seeded
    async with migrated(backend) as again_url, migrated(backend) as other_url:
        await seed(again_url, SPEC)
        await seed(other_url, replace(SPEC, seed=8))
        again, other = Database.from_url(again_url), Database.from_url(other_url)
        try:
            for table in SEEDED_TABLES:
                assert await dump(again, table) == await dump(first, table), table.name
            patients = table_of(Patient)
            assert await dump(other, patients) != await dump(first, patients)
        finally:
            await again.dispose()
            await other.dispose()


async def test_every_patient_lives_inside_their_municipality(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    async with db.session() as session:
        patients = (await session.exec(select(Patient))).all()
    assert patients
    outside = [p.id for p in patients if not contains(p.municipality_code, p.latitude, p.longitude)]
    assert outside == []


async def test_every_team_has_4_to_15_local_members_and_one_care_manager_coordinator(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    async with db.session() as session:
        rows = (
            await session.exec(
                select(TeamMembership, User, Patient)
                .join(User, col(User.id) == TeamMembership.user_id)
                .join(Patient, col(Patient.id) == TeamMembership.patient_id)
            )
        ).all()
    teams: dict[int, list[tuple[TeamMembership, User, Patient]]] = defaultdict(list)
    for row in rows:
        teams[row[0].patient_id].append(row)
    assert len(teams) == 300
    for team in teams.values():
        assert 4 <= len(team) <= 15
        assert len({user.id for _, user, _ in team}) == len(team)
        coordinators = [user for m, user, _ in team if m.role == TeamRole.COORDINATOR]
        assert [c.profession for c in coordinators] == [Profession.CARE_MANAGER]
        assert all(u.municipality_code == p.municipality_code for _, u, p in team)


async def test_one_audit_record_for_the_run_and_the_chain_verifies(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, result = seeded
    async with db.session() as session:
        records = (await session.exec(select(AuditRecord))).all()
        verified = await verify(session)
    assert [r.action for r in records] == ["seed.synthetic"]
    assert records[0].object_ids == []
    assert records[0].detail["seed"] == SPEC.seed
    assert records[0].detail["rows"] == result.counts
    assert verified.ok and verified.checked == 1


async def test_a_team_member_sees_exactly_their_patients_through_the_service(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    async with db.session() as session:
        members = (await session.exec(select(TeamMembership))).all()
        teams: dict[int, set[int]] = defaultdict(set)
        for m in members:
            teams[m.user_id].add(m.patient_id)
        busiest = max(teams, key=lambda user_id: (len(teams[user_id]), user_id))
        for user_id in (busiest, min(teams)):
            user = await session.get(User, user_id)
            assert user is not None
            seen: set[int] = set()
            after = None
            while True:
                page = await list_patients(
                    session, actor=actor_for(user), first=100, after=after, search=None
                )
                seen |= {p.id for p, _ in page.items if p.id is not None}
                if not page.has_next_page:
                    break
                after = page.items[-1][1]
            assert seen == teams[user_id]


@pytest.mark.parametrize(
    "args",
    [
        ["--patients", "-1", "--professionals", "10"],
        ["--patients", "5000001", "--professionals", "10"],
        ["--patients", "10", "--professionals", "3000001"],
        ["--patients", "10", "--professionals", "3"],
        ["--patients", "10", "--professionals", "10", "--seed", "-1"],
        ["--patients", "10", "--professionals", "10", "--seed", str(2**64)],
    ],
)
async def test_impossible_sizes_are_refused_and_nothing_is_written(
    seeded: tuple[Database, SeedResult], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    db, _ = seeded
    before = await counts(db)
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    assert await asyncio.to_thread(main, ["seed", "synthetic", *args]) == 2
    assert await counts(db) == before


@pytest.mark.parametrize("value", ["many", "1e9", "10; DROP TABLE patient", ""])
async def test_non_numbers_are_usage_errors(
    seeded: tuple[Database, SeedResult], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    db, _ = seeded
    before = await counts(db)
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    with pytest.raises(SystemExit) as exited:
        await asyncio.to_thread(
            main, ["seed", "synthetic", "--patients", value, "--professionals", "10"]
        )
    assert exited.value.code == 2
    assert await counts(db) == before


async def test_production_mode_refuses_synthetic_data(
    seeded: tuple[Database, SeedResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = seeded
    before = await counts(db)
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RENRAKU_MODE", "production")
    monkeypatch.setenv("RENRAKU_SECRET_KEY", "s" * 48)
    args = ["seed", "synthetic", "--patients", "10", "--professionals", "8"]
    assert await asyncio.to_thread(main, args) == 2
    assert await counts(db) == before


async def test_the_service_function_refuses_a_bad_spec_before_writing(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    before = await counts(db)
    with pytest.raises(BadInput) as refused:
        await seed_synthetic(db, replace(SPEC, patients=20, professionals=2))
    assert refused.value.field == "professionals"
    assert await counts(db) == before


async def test_the_command_seeds_on_top_of_existing_data_and_the_audit_chain_holds(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with migrated(backend) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        args = ["seed", "synthetic", "--patients", "40", "--professionals", "30", "--seed", "3"]
        assert await asyncio.to_thread(main, args) == 0
        # A second run adds a second world after the first: ids continue, nothing collides.
        assert await asyncio.to_thread(main, args) == 0
        out = capsys.readouterr().out
        assert "40 patients, 30 professionals" in out
        assert await asyncio.to_thread(main, ["audit", "verify"]) == 0
        db = Database.from_url(url)
        try:
            assert await count(db, Patient) == 80
            assert await count(db, User) == 60
            assert await count(db, AuditRecord) == 2
            # The database's own id sequence continues after the pre-assigned ids.
            organisations = await count(db, Organisation)
            async with db.transaction() as session:
                code = (await session.exec(select(Municipality.code))).first()
                assert code is not None
                extra = Organisation(
                    key="after-seed", name="x", kind="clinic", municipality_code=code
                )
                session.add(extra)
                await session.flush()
                assert extra.id == organisations + 1
        finally:
            await db.dispose()
