"""Every read of patient data leaves one audit record per request, carrying the ids it touched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlmodel import col, select

from renraku.audit import chain
from renraku.audit.models import AuditRecord
from renraku.ids import encode_id
from renraku.runtime import Runtime
from tests.audit.support import (
    PATIENT,
    PATIENT_IN_FULL,
    PATIENTS,
    last_id,
    patient_gid,
    patient_pk,
    pk_of,
    records_after,
)
from tests.support.concurrent import side_by_side
from tests.support.graphql import GraphQLClient, error_codes


async def test_a_patients_page_is_one_read_record_with_every_id_on_it(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    before = await last_id(runtime)
    result = await nurse.execute(PATIENTS, {"first": 100})
    ids = {pk_of(e["node"]["id"]) for e in result["data"]["patients"]["edges"]}
    assert len(ids) > 1
    (record,) = await records_after(runtime, before, username="nurse.sato")
    assert (record.action, record.decision, record.actor_kind) == ("read", "allow", "professional")
    assert record.object_type == "patient"
    assert set(record.object_ids) == ids
    assert record.detail["operation"] == "Page"
    assert "patients.list" in record.detail["objects"]
    basis = record.detail["basis"]
    assert set(basis) <= {"coordinator", "member"}
    assert sorted(i for group in basis.values() for i in group) == sorted(ids)
    assert record.reason == ",".join(sorted(basis))


async def test_a_patient_with_risk_and_care_team_is_one_record(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    patient = await patient_gid(runtime, "pt-ito-haru")
    before = await last_id(runtime)
    result = await nurse.execute(PATIENT_IN_FULL, {"id": patient})
    assert "errors" not in result, result
    (record,) = await records_after(runtime, before, username="nurse.sato")
    assert record.object_ids == [pk_of(patient)]
    assert record.decision == "allow"
    assert {"patient", "patient.risk", "team"} <= set(record.detail["objects"])
    assert record.detail["basis"] == {"member": [pk_of(patient)]}


async def test_an_outsiders_attempt_is_a_deny_record(gql: GraphQLClient, runtime: Runtime) -> None:
    outsider = await gql.login("nurse.kimura")  # a nurse of another municipality
    patient = await patient_gid(runtime, "pt-ito-haru")
    before = await last_id(runtime)
    result = await outsider.execute(PATIENT, {"id": patient})
    assert error_codes(result) == ["NOT_FOUND"]
    (record,) = await records_after(runtime, before, username="nurse.kimura")
    assert (record.action, record.decision) == ("read", "deny")
    assert record.object_ids == [pk_of(patient)]
    assert record.detail["denied"] == {"patient.read": [pk_of(patient)]}
    assert record.detail["basis"] == {"none": [pk_of(patient)]}


@pytest.mark.parametrize(
    "patient_id",
    [encode_id("Patient", 999_999), "%%%", encode_id("User", 1), "A" * 10_000],
    ids=["missing", "malformed", "other-type", "oversized"],
)
async def test_ids_that_name_no_patient_leave_no_record(
    gql: GraphQLClient, runtime: Runtime, patient_id: str
) -> None:
    nurse = await gql.login("nurse.sato")
    before = await last_id(runtime)
    result = await nurse.execute(PATIENT, {"id": patient_id})
    assert error_codes(result) == ["NOT_FOUND"]
    assert await records_after(runtime, before, username="nurse.sato") == []


async def test_a_forbidden_field_is_denied_beside_the_allowed_read(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.gamagori")
    patient = await patient_gid(runtime, "pt-ito-haru")
    before = await last_id(runtime)
    result = await manager.execute(PATIENT_IN_FULL, {"id": patient})
    assert error_codes(result) == ["FORBIDDEN"]
    allowed, denied = await records_after(runtime, before, username="manager.gamagori")
    assert (allowed.decision, denied.decision) == ("allow", "deny")
    assert allowed.detail["basis"] == denied.detail["basis"] == {"manager": [pk_of(patient)]}
    assert denied.detail["denied"] == {"patient.risk.read": [pk_of(patient)]}
    assert "patient.risk" not in allowed.detail["objects"]


async def test_a_refused_change_is_a_deny_record_of_a_write(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")  # a member, not the coordinator
    patient = await patient_gid(runtime, "pt-ito-haru")
    before = await last_id(runtime)
    result = await nurse.execute(
        "mutation($id: ID!) { archivePatient(id: $id, reason: MOVE) { id } }", {"id": patient}
    )
    assert error_codes(result) == ["FORBIDDEN"]
    (record,) = await records_after(runtime, before, username="nurse.sato")
    assert (record.action, record.decision) == ("write", "deny")
    assert record.detail["denied"] == {"patient.archive": [pk_of(patient)]}
    assert record.detail["basis"] == {"member": [pk_of(patient)]}


@pytest.mark.parametrize(
    ("username", "bases"),
    [
        ("nurse.sato", {"coordinator", "member"}),
        ("family.ito", {"family"}),
        ("manager.gamagori", {"manager"}),
        ("planner.gamagori", {"emergency", "consent"}),
    ],
)
async def test_each_kind_of_reader_is_recorded_with_its_basis(
    gql: GraphQLClient, runtime: Runtime, username: str, bases: set[str]
) -> None:
    client = await gql.login(username)
    before = await last_id(runtime)
    result = await client.execute(PATIENTS, {"first": 100})
    ids = {pk_of(e["node"]["id"]) for e in result["data"]["patients"]["edges"]}
    (record,) = await records_after(runtime, before, username=username)
    assert set(record.object_ids) == ids
    assert set(record.detail["basis"]) <= bases


async def test_the_planner_basis_names_emergency_and_consent_apart(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    planner = await gql.login("planner.gamagori")
    before = await last_id(runtime)
    await planner.execute(PATIENTS, {"first": 100})
    (record,) = await records_after(runtime, before, username="planner.gamagori")
    inside = await patient_pk(runtime, "pt-ito-haru")  # in the demo emergency area
    consented = await patient_pk(runtime, "pt-goto-isamu")  # outside it, consented
    assert inside in record.detail["basis"]["emergency"]
    assert record.detail["basis"]["consent"] == [consented]


async def test_no_read_record_holds_patient_data(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    before = await last_id(runtime)
    for username in ("nurse.sato", "manager.gamagori", "nurse.kimura"):
        client = await gql.login(username)
        page = await client.execute(PATIENTS, {"first": 100})
        for edge in (page.get("data") or {}).get("patients", {}).get("edges", []):
            await client.execute(PATIENT_IN_FULL, {"id": edge["node"]["id"]})
        await client.execute(PATIENT, {"id": await patient_gid(runtime, "pt-ito-haru")})
    await runtime.read_auditor.flush()
    async with runtime.db.session() as session:
        records = (await session.exec(select(AuditRecord))).all()
    text = json.dumps(
        [[r.reason, r.detail] for r in records if r.id and r.id > before], ensure_ascii=False
    )
    for patient in demo["patients"]:
        for value in (patient["display_name"], patient.get("address"), patient.get("phone")):
            if value:
                assert value not in text
        for part in patient["display_name"].split():
            assert part not in text


async def test_fifty_concurrent_requests_make_fifty_records(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    nurse = await gql.login("nurse.sato")
    patient = await patient_gid(runtime, "pt-ito-haru")
    before = await last_id(runtime)
    results = await asyncio.wait_for(
        side_by_side(*(nurse.execute(PATIENT_IN_FULL, {"id": patient}) for _ in range(50))),
        timeout=120,
    )
    assert all("errors" not in r for r in results)
    records = await records_after(runtime, before, username="nurse.sato")
    assert len(records) == 50
    assert all(r.object_ids == [pk_of(patient)] for r in records)
    async with runtime.db.session() as session:
        assert (await chain.verify(session)).ok


async def test_signed_out_requests_leave_no_read_record(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    before = await last_id(runtime)
    result = await gql.execute(PATIENTS)
    assert error_codes(result) == ["UNAUTHENTICATED"]
    await runtime.read_auditor.flush()
    async with runtime.db.session() as session:
        rows = await session.exec(select(AuditRecord).where(col(AuditRecord.id) > before))
        assert rows.all() == []


async def test_a_read_recorded_after_shutdown_is_refused_and_starts_no_writer(
    runtime: Runtime,
) -> None:
    before = await last_id(runtime)
    await runtime.read_auditor.close()
    entry = chain.Entry(actor_id=None, actor_kind="system", action="read", object_type="patient")
    with pytest.raises(RuntimeError, match="closed"):
        await runtime.read_auditor.record(entry)
    await runtime.read_auditor.flush()
    assert await last_id(runtime) == before
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "renraku-read-audit"]
