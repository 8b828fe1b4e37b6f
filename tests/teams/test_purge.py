"""`renraku admin purge`: patients archived longer ago than the retention period go, with all
their rows; younger archives and live patients stay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, col, select, update

from renraku import cli
from renraku.audit.chain import verify
from renraku.runtime import Runtime
from renraku.teams.models import (
    Consent,
    Invitation,
    Patient,
    PatientContact,
    RiskProfile,
    TeamMembership,
)
from renraku.teams.retention import check_purge
from renraku.timeutil import utcnow
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import (
    audit_actions,
    last_audit_id,
    patient_id,
    patient_pk,
    snapshot,
    user_id,
)

OLD, YOUNG, LIVE = "pt-ito-haru", "pt-okamoto-fumi", "pt-kawai-toshio"
PER_PATIENT: list[tuple[type[SQLModel], str]] = [
    (PatientContact, "patient_id"),
    (RiskProfile, "patient_id"),
    (Consent, "patient_id"),
    (TeamMembership, "patient_id"),
    (Invitation, "patient_id"),
    (Patient, "id"),
]


async def rows_about(runtime: Runtime, pk: int) -> dict[str, int]:
    counts = {}
    async with runtime.db.session() as session:
        for model, column in PER_PATIENT:
            query = select(func.count()).select_from(model).where(getattr(model, column) == pk)
            counts[model.__name__] = (await session.exec(query)).one()
    return counts


async def archive(gql: GraphQLClient, runtime: Runtime, key: str, days_ago: int) -> int:
    """Archive the demo patient through the API, then move its archiving `days_ago` back."""
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(
        "mutation($id: ID!) { archivePatient(id: $id, reason: DEATH) { id } }",
        {"id": await patient_id(runtime, key)},
    )
    assert "errors" not in result, result
    pk = await patient_pk(runtime, key)
    async with runtime.db.transaction() as session:
        await session.exec(
            update(Patient)
            .where(col(Patient.id) == pk)
            .values(archived_at=utcnow() - timedelta(days=days_ago))
        )
    return pk


@pytest.fixture
async def archived(gql: GraphQLClient, runtime: Runtime) -> dict[str, int]:
    """OLD archived past retention (with an open invitation), YOUNG archived within it."""
    coordinator = await gql.login("cm.tanaka")
    invited = await coordinator.execute(
        "mutation($p: ID!, $u: ID!) { inviteToTeam(patientId: $p, userId: $u, role: MEMBER) "
        "{ id } }",
        {"p": await patient_id(runtime, OLD), "u": await user_id(runtime, "nurse.takahashi")},
    )
    assert "errors" not in invited, invited
    days = runtime.settings.retention_days
    return {
        OLD: await archive(gql, runtime, OLD, days + 1),
        YOUNG: await archive(gql, runtime, YOUNG, days - 1),
        LIVE: await patient_pk(runtime, LIVE),
    }


async def test_purge_removes_only_patients_past_retention_with_all_their_rows(
    runtime: Runtime, archived: dict[str, int]
) -> None:
    old_rows = await rows_about(runtime, archived[OLD])
    assert all(old_rows.values()), old_rows  # contacts, risk, consent, team, invitation, patient
    kept = {k: await rows_about(runtime, archived[k]) for k in (YOUNG, LIVE)}
    before = await last_audit_id(runtime)

    result = await check_purge(
        runtime.db, retention_days=runtime.settings.retention_days, dry_run=False
    )

    assert result.patient_ids == [archived[OLD]]
    assert set((await rows_about(runtime, archived[OLD])).values()) == {0}
    assert {k: await rows_about(runtime, archived[k]) for k in (YOUNG, LIVE)} == kept
    [record] = await audit_actions(runtime, before)
    assert (record.action, record.actor_kind, record.object_ids) == (
        "teams.patients_purged",
        "system",
        [archived[OLD]],
    )
    async with runtime.db.session() as session:
        assert (await verify(session)).ok


async def test_dry_run_names_the_patients_and_changes_nothing(
    runtime: Runtime, archived: dict[str, int]
) -> None:
    before = await snapshot(runtime)
    result = await check_purge(
        runtime.db, retention_days=runtime.settings.retention_days, dry_run=True
    )
    assert result.patient_ids == [archived[OLD]]
    assert await snapshot(runtime) == before


async def test_nothing_to_purge_writes_no_audit_record(runtime: Runtime) -> None:
    before = await snapshot(runtime)
    result = await check_purge(runtime.db, retention_days=0, dry_run=False)
    assert result.patient_ids == []
    assert await snapshot(runtime) == before


@pytest.fixture
def _keep_logging() -> Iterator[None]:
    # cli.main configures the process's logging; give the test runner its handlers back.
    root, uvicorn_access = logging.getLogger(), logging.getLogger("uvicorn.access")
    handlers, level, disabled = root.handlers[:], root.level, uvicorn_access.disabled
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    uvicorn_access.disabled = disabled


@pytest.mark.usefixtures("_keep_logging")
async def test_the_command_purges_with_the_configured_retention(
    runtime: Runtime,
    archived: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("RENRAKU_RETENTION_DAYS", str(runtime.settings.retention_days))
    before = await snapshot(runtime)
    # cli.main runs its own event loop, so it gets a thread of its own.
    assert await asyncio.to_thread(cli.main, ["admin", "purge", "--dry-run"]) == 0
    assert f"Would purge 1 patients archived over {runtime.settings.retention_days} days ago" in (
        capsys.readouterr().out
    )
    assert await snapshot(runtime) == before

    assert await asyncio.to_thread(cli.main, ["admin", "purge"]) == 0
    assert capsys.readouterr().out.strip().endswith(f": {archived[OLD]}")
    assert (await rows_about(runtime, archived[OLD]))["Patient"] == 0
    assert (await rows_about(runtime, archived[YOUNG]))["Patient"] == 1

    # A shorter retention reaches the younger archive too; live patients never go.
    monkeypatch.setenv("RENRAKU_RETENTION_DAYS", "0")
    assert await asyncio.to_thread(cli.main, ["admin", "purge"]) == 0
    assert (await rows_about(runtime, archived[YOUNG]))["Patient"] == 0
    assert (await rows_about(runtime, archived[LIVE]))["Patient"] == 1
