"""Shared by the care-team tests: demo ids, GraphQL documents, and a snapshot of every teams row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import col, select

from renraku.accounts.models import User
from renraku.audit.models import AuditRecord
from renraku.ids import encode_id
from renraku.runtime import Runtime
from renraku.tables import table_of
from renraku.teams.models import (
    Consent,
    Invitation,
    Patient,
    PatientContact,
    RiskProfile,
    TeamMembership,
)
from tests.support.graphql import GraphQLClient

# A point inside each demo municipality (the homes of demo patients).
GAMAGORI = "232149"
INSIDE_GAMAGORI = (34.7755, 137.1800)
INSIDE_NISHIO = (34.8620, 137.0580)

TEAM_MODELS = (
    Patient,
    PatientContact,
    RiskProfile,
    Consent,
    TeamMembership,
    Invitation,
    AuditRecord,
)

PATIENTS = "query { patients(first: 100) { edges { node { id displayName } } } }"
PATIENT = "query($id: ID!) { patient(id: $id) { id displayName } }"
MISSING_PATIENT = encode_id("Patient", 999_999)


async def patient_pk(runtime: Runtime, key: str) -> int:
    async with runtime.db.session() as session:
        found = (await session.exec(select(Patient.id).where(Patient.external_ref == key))).first()
    assert found is not None, key
    return found


async def patient_id(runtime: Runtime, key: str) -> str:
    """The GraphQL id of the demo patient with this key."""
    return encode_id("Patient", await patient_pk(runtime, key))


async def user_pk(runtime: Runtime, username: str) -> int:
    async with runtime.db.session() as session:
        found = (await session.exec(select(User.id).where(User.username == username))).first()
    assert found is not None, username
    return found


async def user_id(runtime: Runtime, username: str) -> str:
    return encode_id("User", await user_pk(runtime, username))


# Reads and refused attempts are audited too, per request, by a writer in the background
# (access/gate.py, audit/reads.py); these helpers look at the records of changes only.
READ_AUDIT_ACTIONS = ("read", "write")


async def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the care-team tables and the audit log of changes, to show nothing changed."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with runtime.db.session() as session:
        for model in TEAM_MODELS:
            table = table_of(model)
            query = core_select(table).order_by(*table.primary_key.columns)
            if model is AuditRecord:
                query = query.where(table.c.action.not_in(READ_AUDIT_ACTIONS))
            result = await (await session.connection()).execute(query)
            rows[table.name] = [tuple(r) for r in result.all()]
    return rows


async def audit_actions(runtime: Runtime, after_id: int = 0) -> list[AuditRecord]:
    """The records of changes after `after_id`, oldest first."""
    async with runtime.db.session() as session:
        result = await session.exec(
            select(AuditRecord)
            .where(
                col(AuditRecord.id) > after_id,
                col(AuditRecord.action).not_in(READ_AUDIT_ACTIONS),
            )
            .order_by(col(AuditRecord.id))
        )
        return list(result.all())


async def last_audit_id(runtime: Runtime) -> int:
    records = await audit_actions(runtime)
    return records[-1].id or 0 if records else 0


async def visible_names(client: GraphQLClient) -> set[str]:
    result = await client.execute(PATIENTS)
    assert "errors" not in result, result
    return {e["node"]["displayName"] for e in result["data"]["patients"]["edges"]}


def error(result: dict[str, Any]) -> tuple[str, str | None]:
    """The one error's code and field, and that no data came with it."""
    assert len(result.get("errors", [])) == 1, result
    extensions = result["errors"][0].get("extensions", {})
    return extensions.get("code"), extensions.get("field")
