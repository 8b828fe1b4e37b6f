"""`updatePatient` and `updateRiskProfile`: the coordinator or the municipality's manager."""

from __future__ import annotations

from typing import Any

import pytest

from renraku.runtime import Runtime
from renraku.teams.models import Patient, RiskProfile
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import (
    INSIDE_NISHIO,
    MISSING_PATIENT,
    audit_actions,
    error,
    last_audit_id,
    patient_id,
    patient_pk,
    snapshot,
)

UPDATE = """
mutation($id: ID!, $input: UpdatePatientInput!) {
  updatePatient(id: $id, input: $input) { id displayName kana birthDate phone
    contacts { name isKeyPerson } }
}
"""
UPDATE_RISK = """
mutation($id: ID!, $input: RiskProfileInput!) {
  updateRiskProfile(patientId: $id, input: $input) {
    risk { careLevel floor devices { kind batteryHours } }
  }
}
"""
ITO = "pt-ito-haru"  # Gamagori; coordinator cm.tanaka; nurse.sato a member; family.ito family


@pytest.mark.parametrize("username", ["cm.tanaka", "manager.gamagori"])
async def test_coordinator_and_manager_update_the_record(
    gql: GraphQLClient, runtime: Runtime, username: str
) -> None:
    client = await gql.login(username)
    pid = await patient_id(runtime, ITO)
    before = await last_audit_id(runtime)
    result = await client.execute(UPDATE, {"id": pid, "input": {"displayName": "伊藤 はる"}})
    assert "errors" not in result, result
    assert result["data"]["updatePatient"]["displayName"] == "伊藤 はる"
    # Fields left out stay as they were, contacts included.
    assert result["data"]["updatePatient"]["kana"] == "いとう はる"
    assert len(result["data"]["updatePatient"]["contacts"]) == 1
    [record] = await audit_actions(runtime, before)
    assert (record.action, record.detail) == ("teams.patient_updated", {"fields": ["display_name"]})


async def test_null_clears_a_nullable_field_and_contacts_are_replaced(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid = await patient_id(runtime, ITO)
    result = await coordinator.execute(
        UPDATE,
        {
            "id": pid,
            "input": {
                "birthDate": None,
                "keyPerson": None,
                "contacts": [{"name": "近所 太郎", "relation": "隣人"}],
            },
        },
    )
    assert "errors" not in result, result
    patient = result["data"]["updatePatient"]
    assert patient["birthDate"] is None
    assert patient["contacts"] == [{"name": "近所 太郎", "isKeyPerson": False}]


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("nurse.sato", "FORBIDDEN"),  # on the team, but a member
        ("family.ito", "FORBIDDEN"),  # on the team as family
        ("nurse.takahashi", "NOT_FOUND"),  # a nurse not on this team
        ("manager.nishio", "NOT_FOUND"),  # the other municipality's manager
        ("planner.nishio", "NOT_FOUND"),
        ("operator", "NOT_FOUND"),
    ],
)
async def test_others_cannot_update_and_nothing_changes(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    client = await gql.login(username)
    pid = await patient_id(runtime, ITO)
    before = await snapshot(runtime)
    result = await client.execute(UPDATE, {"id": pid, "input": {"displayName": "x"}})
    risk = await client.execute(UPDATE_RISK, {"id": pid, "input": {"floor": 2}})
    for refused in (result, risk):
        assert error(refused) == (code, None)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize("bad_id", [MISSING_PATIENT, "%%%", "VXNlcjox", "A" * 65])
async def test_malformed_missing_and_other_type_ids_are_not_found(
    gql: GraphQLClient, runtime: Runtime, bad_id: str
) -> None:
    coordinator = await gql.login("cm.tanaka")
    before = await snapshot(runtime)
    for document in (UPDATE, UPDATE_RISK):
        result = await coordinator.execute(document, {"id": bad_id, "input": {}})
        assert error(result) == ("NOT_FOUND", None)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"displayName": None}, "displayName"),
        ({"displayName": "x" * 201}, "displayName"),
        ({"latitude": None}, "latitude"),
        ({"latitude": INSIDE_NISHIO[0], "longitude": INSIDE_NISHIO[1]}, "latitude"),
        ({"contacts": [{"name": "x", "phone": "+81 (0)90-1234-5678 ext. 9"}]}, "contacts.0.phone"),
        ({"displayName": "\u200b\u2060\ufeff"}, "displayName"),  # nothing visible
        ({"externalRef": "pt-nakano-shigeru"}, "externalRef"),
    ],
)
async def test_invalid_changes_are_refused_and_nothing_changes(
    gql: GraphQLClient, runtime: Runtime, changes: dict[str, Any], field: str
) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid = await patient_id(runtime, ITO)
    before = await snapshot(runtime)
    result = await coordinator.execute(UPDATE, {"id": pid, "input": changes})
    assert error(result) == ("BAD_USER_INPUT", field)
    assert await snapshot(runtime) == before


async def test_manager_may_change_the_phone_number(gql: GraphQLClient, runtime: Runtime) -> None:
    manager = await gql.login("manager.gamagori")
    pid = await patient_id(runtime, ITO)
    result = await manager.execute(UPDATE, {"id": pid, "input": {"phone": "0533-11-2222"}})
    assert result["data"]["updatePatient"]["phone"] == "0533-11-2222"


async def test_risk_update_changes_only_the_given_attributes(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid = await patient_id(runtime, ITO)
    result = await coordinator.execute(
        UPDATE_RISK,
        {"id": pid, "input": {"floor": 4, "devices": [{"kind": "VENTILATOR", "batteryHours": 8}]}},
    )
    assert "errors" not in result, result
    risk = result["data"]["updateRiskProfile"]["risk"]
    assert risk["floor"] == 4
    assert risk["careLevel"] == "CARE_4"  # unchanged from the demo file
    assert risk["devices"] == [{"kind": "ventilator", "batteryHours": 8.0}]


async def test_manager_may_update_the_risk_profile_without_reading_it(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.gamagori")
    pk = await patient_pk(runtime, ITO)
    pid = await patient_id(runtime, ITO)
    result = await manager.execute(
        "mutation($id: ID!) { updateRiskProfile(patientId: $id, input: {dementia: false}) "
        "{ __typename risk { dementia careLevel } } }",
        {"id": pid},
    )
    # The update goes through, but the response does not show the profile it may not read.
    assert result["data"] == {"updateRiskProfile": {"__typename": "Patient", "risk": None}}
    assert [e["extensions"]["code"] for e in result["errors"]] == ["FORBIDDEN"]
    async with runtime.db.session() as session:
        row = await session.get(RiskProfile, pk)
    assert row is not None and row.dementia is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"floor": 1000}, "floor"),
        ({"floodDepthM": -2}, "floodDepthM"),
        ({"devices": [{"kind": "OXYGEN", "batteryHours": 241}]}, "devices.0.batteryHours"),
        ({"supporter": "支" * 201}, "supporter"),
    ],
)
async def test_invalid_risk_values_are_refused(
    gql: GraphQLClient, runtime: Runtime, changes: dict[str, Any], field: str
) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid = await patient_id(runtime, ITO)
    before = await snapshot(runtime)
    result = await coordinator.execute(UPDATE_RISK, {"id": pid, "input": changes})
    assert error(result) == ("BAD_USER_INPUT", field)
    assert await snapshot(runtime) == before


async def test_update_writes_the_patient_row(gql: GraphQLClient, runtime: Runtime) -> None:
    coordinator = await gql.login("cm.tanaka")
    pk = await patient_pk(runtime, ITO)
    await coordinator.execute(
        UPDATE, {"id": await patient_id(runtime, ITO), "input": {"address": "愛知県蒲郡市西浦町1"}}
    )
    async with runtime.db.session() as session:
        row = await session.get(Patient, pk)
    assert row is not None and row.address == "愛知県蒲郡市西浦町1"
