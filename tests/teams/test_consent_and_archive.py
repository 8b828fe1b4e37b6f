"""`recordConsent` appends to the consent history; `archivePatient` takes a patient out of use."""

from __future__ import annotations

import pytest

from renraku.runtime import Runtime
from renraku.teams.models import Patient
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import (
    PATIENT,
    audit_actions,
    error,
    last_audit_id,
    patient_id,
    patient_pk,
    snapshot,
    visible_names,
)

RECORD = """
mutation($p: ID!, $kind: ConsentKind!, $granted: Boolean!, $note: String) {
  recordConsent(patientId: $p, kind: $kind, granted: $granted, note: $note) {
    kind granted note recordedAt recordedBy { username } }
}
"""
HISTORY = """
query($id: ID!) { patient(id: $id) {
  consents { kind granted }
  consentHistory { kind granted note recordedBy { username } } } }
"""
ARCHIVE = """
mutation($id: ID!, $reason: ArchiveReason!, $note: String) {
  archivePatient(id: $id, reason: $reason, note: $note) { id }
}
"""
ITO, ITO_NAME = "pt-ito-haru", "伊藤 ハル"


async def test_consent_is_appended_and_the_latest_is_in_force(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    manager = await gql.login("manager.gamagori")
    pid = await patient_id(runtime, ITO)
    before = await last_audit_id(runtime)
    first = await coordinator.execute(
        RECORD, {"p": pid, "kind": "PLANNER_SHARING", "granted": True, "note": "本人同意\n家族同席"}
    )
    assert first["data"]["recordConsent"]["recordedBy"] == {"username": "cm.tanaka"}
    second = await manager.execute(RECORD, {"p": pid, "kind": "PLANNER_SHARING", "granted": False})
    assert "errors" not in second, second

    result = await coordinator.execute(HISTORY, {"id": pid})
    patient = result["data"]["patient"]
    current = {c["kind"]: c["granted"] for c in patient["consents"]}
    assert current["planner_sharing"] is False
    planner = [c for c in patient["consentHistory"] if c["kind"] == "planner_sharing"]
    assert [(c["granted"], c["recordedBy"]) for c in planner][:2] == [
        (False, {"username": "manager.gamagori"}),
        (True, {"username": "cm.tanaka"}),
    ]
    assert planner[1]["note"] == "本人同意\n家族同席"
    records = await audit_actions(runtime, before)
    assert [r.action for r in records] == ["teams.consent_recorded"] * 2
    pk = await patient_pk(runtime, ITO)
    assert all(r.object_ids == [pk] for r in records)


async def test_members_read_the_history_family_may_not(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    pid = await patient_id(runtime, ITO)
    nurse = await gql.login("nurse.sato")
    assert "errors" not in await nurse.execute(HISTORY, {"id": pid})
    family = await gql.login("family.ito")
    result = await family.execute(
        "query($id: ID!) { patient(id: $id) { consentHistory { kind } } }", {"id": pid}
    )
    assert result["data"]["patient"]["consentHistory"] is None
    assert error(result) == ("FORBIDDEN", None)


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("nurse.sato", "FORBIDDEN"),
        ("family.ito", "FORBIDDEN"),
        ("nurse.takahashi", "NOT_FOUND"),
        ("manager.nishio", "NOT_FOUND"),
        ("operator", "NOT_FOUND"),
    ],
)
async def test_others_cannot_record_consent(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    client = await gql.login(username)
    before = await snapshot(runtime)
    result = await client.execute(
        RECORD, {"p": await patient_id(runtime, ITO), "kind": "NORMAL_SHARING", "granted": False}
    )
    assert error(result) == (code, None)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"note": "n" * 401}, ("BAD_USER_INPUT", "note")),
        ({"note": "\u202e" + "n" * 401}, ("BAD_USER_INPUT", "note")),
        ({"kind": "EVERYTHING"}, ("BAD_USER_INPUT", None)),
        ({"p": "%%%"}, ("NOT_FOUND", None)),
    ],
)
async def test_bad_consent_input_stores_nothing(
    gql: GraphQLClient, runtime: Runtime, variables: dict[str, str], expected: tuple[str, str]
) -> None:
    coordinator = await gql.login("cm.tanaka")
    before = await snapshot(runtime)
    values = {"p": await patient_id(runtime, ITO), "kind": "NORMAL_SHARING", "granted": True}
    result = await coordinator.execute(RECORD, values | variables)
    assert error(result) == expected
    assert await snapshot(runtime) == before


async def test_archived_patient_leaves_every_list_and_stays_unchangeable(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.gamagori")
    pid = await patient_id(runtime, ITO)
    viewers = [await gql.login(u) for u in ("nurse.sato", "cm.tanaka", "family.ito")]
    before = await last_audit_id(runtime)
    result = await manager.execute(ARCHIVE, {"id": pid, "reason": "DEATH", "note": "ご逝去"})
    assert result == {"data": {"archivePatient": {"id": pid}}}
    for client in [manager, *viewers]:
        assert ITO_NAME not in await visible_names(client)
        assert error(await client.execute(PATIENT, {"id": pid})) == ("NOT_FOUND", None)
    # Read-only until purged: every change answers as if the patient did not exist.
    frozen = await snapshot(runtime)
    coordinator = viewers[1]
    refused = [
        await coordinator.execute(
            'mutation($id: ID!) { updatePatient(id: $id, input: {displayName: "x"}) { id } }',
            {"id": pid},
        ),
        await coordinator.execute(RECORD, {"p": pid, "kind": "NORMAL_SHARING", "granted": False}),
        await manager.execute(ARCHIVE, {"id": pid, "reason": "OTHER"}),
    ]
    assert [error(r) for r in refused] == [("NOT_FOUND", None)] * 3
    assert await snapshot(runtime) == frozen
    async with runtime.db.session() as session:
        row = await session.get(Patient, await patient_pk(runtime, ITO))
    assert row is not None and row.archived_at is not None
    assert (row.archive_reason, row.archive_note, row.display_name) == ("death", "ご逝去", ITO_NAME)
    [record] = await audit_actions(runtime, before)
    assert (record.action, record.detail) == ("teams.patient_archived", {"reason": "death"})


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("cm.tanaka", "FORBIDDEN"),  # coordinators do not archive: the municipality does
        ("nurse.sato", "FORBIDDEN"),
        ("family.ito", "FORBIDDEN"),
        ("nurse.takahashi", "NOT_FOUND"),
        ("manager.nishio", "NOT_FOUND"),
    ],
)
async def test_only_the_municipality_manager_archives(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    client = await gql.login(username)
    before = await snapshot(runtime)
    result = await client.execute(ARCHIVE, {"id": await patient_id(runtime, ITO), "reason": "MOVE"})
    assert error(result) == (code, None)
    assert await snapshot(runtime) == before


async def test_archive_note_is_checked(gql: GraphQLClient, runtime: Runtime) -> None:
    manager = await gql.login("manager.gamagori")
    before = await snapshot(runtime)
    result = await manager.execute(
        ARCHIVE, {"id": await patient_id(runtime, ITO), "reason": "MOVE", "note": "x" * 401}
    )
    assert error(result) == ("BAD_USER_INPUT", "note")
    assert await snapshot(runtime) == before
