"""`createPatient`: a municipality's team manager adds a patient inside their municipality."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from renraku.ids import decode_id
from renraku.runtime import Runtime
from renraku.teams.models import Patient, PatientContact, RiskProfile
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import (
    GAMAGORI,
    INSIDE_GAMAGORI,
    INSIDE_NISHIO,
    audit_actions,
    error,
    last_audit_id,
    snapshot,
    visible_names,
)

CREATE = """
mutation($input: CreatePatientInput!) {
  createPatient(input: $input) { id displayName kana municipalityCode birthDate sex
    location { latitude longitude } phone contacts { name relation phone isKeyPerson } }
}
"""


def new_patient(**overrides: Any) -> dict[str, Any]:
    lat, lon = INSIDE_GAMAGORI
    values: dict[str, Any] = {
        "displayName": "試験 花子",
        "kana": "しけん はなこ",
        "birthDate": "1940-02-03",
        "sex": "FEMALE",
        "address": "愛知県蒲郡市西浦町1番地",
        "latitude": lat,
        "longitude": lon,
        "phone": "0533-00-9999",
        "keyPerson": {"name": "試験 一郎", "relation": "長男", "phone": "090-0000-9999"},
        "contacts": [{"name": "試験 次郎", "relation": "次男", "phone": "080-0000-9999"}],
        "risk": {
            "careLevel": "CARE_3",
            "mobility": "WHEELCHAIR",
            "dementia": True,
            "living": "ALONE",
            "devices": [{"kind": "OXYGEN", "batteryHours": 5.5}, {"kind": "SUCTION"}],
            "floor": 3,
            "landslideZone": "ZONE",
            "floodDepthM": 0.5,
            "tsunamiZone": True,
            "airConditioning": False,
            "supporter": "試験 一郎",
        },
        "externalRef": "gamagori-2026-0001",
    }
    values.update(overrides)
    return values


async def test_manager_creates_a_patient_with_contacts_and_risk(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.gamagori")
    before = await last_audit_id(runtime)
    result = await manager.execute(CREATE, {"input": new_patient()})
    assert "errors" not in result, result
    created = result["data"]["createPatient"]
    assert created["displayName"] == "試験 花子"
    assert created["municipalityCode"] == GAMAGORI
    assert created["sex"] == "female"
    assert created["birthDate"] == "1940-02-03"
    assert [c["isKeyPerson"] for c in created["contacts"]] == [True, False]
    assert "試験 花子" in await visible_names(manager)

    pk = decode_id("Patient", created["id"])
    async with runtime.db.session() as session:
        risk = await session.get(RiskProfile, pk)
        row = await session.get(Patient, pk)
    assert risk is not None and row is not None
    assert (risk.care_level, risk.mobility, risk.living, risk.floor) == (
        "care_3",
        "wheelchair",
        "alone",
        3,
    )
    assert risk.devices == [{"kind": "oxygen", "battery_hours": 5.5}, {"kind": "suction"}]
    assert risk.sensory_impairment is False  # left out: the default
    assert row.external_ref == "gamagori-2026-0001"
    records = await audit_actions(runtime, before)
    assert [(r.action, r.object_ids) for r in records] == [("teams.patient_created", [pk])]
    # Nobody is on the new team yet: a professional does not see the patient.
    doctor = await gql.login("dr.suzuki")
    assert "試験 花子" not in await visible_names(doctor)


async def test_risk_profile_may_be_left_out(gql: GraphQLClient, runtime: Runtime) -> None:
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(
        CREATE, {"input": new_patient(risk=None, contacts=[], keyPerson=None, externalRef=None)}
    )
    assert "errors" not in result, result
    async with runtime.db.session() as session:
        risk = await session.get(
            RiskProfile, decode_id("Patient", result["data"]["createPatient"]["id"])
        )
    assert risk is not None and risk.care_level == "none" and risk.devices == []


@pytest.mark.parametrize(
    "username", ["dr.suzuki", "cm.tanaka", "family.ito", "planner.gamagori", "operator"]
)
async def test_only_municipality_managers_may_create_patients(
    gql: GraphQLClient, runtime: Runtime, username: str
) -> None:
    client = await gql.login(username)
    before = await snapshot(runtime)
    result = await client.execute(CREATE, {"input": new_patient()})
    assert result["data"] is None
    assert error(result) == ("FORBIDDEN", None)
    assert await snapshot(runtime) == before


async def test_manager_cannot_place_a_patient_in_another_municipality(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.nishio")
    before = await snapshot(runtime)
    result = await manager.execute(CREATE, {"input": new_patient()})  # a point in Gamagori
    assert error(result) == ("BAD_USER_INPUT", "latitude")
    assert await snapshot(runtime) == before
    lat, lon = INSIDE_NISHIO
    ok = await manager.execute(CREATE, {"input": new_patient(latitude=lat, longitude=lon)})
    assert ok["data"]["createPatient"]["municipalityCode"] == "232131"


async def test_signed_out_cannot_create(gql: GraphQLClient, runtime: Runtime) -> None:
    before = await snapshot(runtime)
    result = await gql.execute(CREATE, {"input": new_patient()})
    assert error(result) == ("UNAUTHENTICATED", None)
    assert await snapshot(runtime) == before


BAD_INPUTS = [
    ({"displayName": "   "}, "displayName"),
    ({"displayName": "長" * 201}, "displayName"),
    ({"displayName": "\u200b\u202e\x00\u3164"}, "displayName"),  # nothing visible
    ({"kana": "か" * 201}, "kana"),
    ({"address": "a" * 401}, "address"),
    ({"phone": "0533<script>"}, "phone"),
    ({"phone": "1" * 41}, "phone"),
    ({"latitude": 91.0}, "latitude"),
    ({"longitude": -180.5}, "longitude"),
    ({"latitude": 35.6812, "longitude": 139.7671}, "latitude"),  # Tokyo station
    ({"birthDate": "2999-01-01"}, "birthDate"),
    ({"birthDate": "1850-01-01"}, "birthDate"),
    ({"keyPerson": {"name": "", "relation": "長男"}}, "keyPerson.name"),
    ({"keyPerson": {"name": "x", "phone": "abc"}}, "keyPerson.phone"),
    ({"contacts": [{"name": "x", "relation": "r" * 61}]}, "contacts.0.relation"),
    ({"contacts": [{"name": f"c{i}"} for i in range(21)]}, "contacts"),
    ({"externalRef": "x" * 81}, "externalRef"),
    ({"externalRef": "has space"}, "externalRef"),
    ({"externalRef": "pt-ito-haru"}, "externalRef"),  # already used by a demo patient
    ({"risk": {"floor": 101}}, "risk.floor"),
    ({"risk": {"floor": -6}}, "risk.floor"),
    ({"risk": {"floodDepthM": -0.1}}, "risk.floodDepthM"),
    ({"risk": {"floodDepthM": 31}}, "risk.floodDepthM"),
    (
        {"risk": {"devices": [{"kind": "OXYGEN", "batteryHours": -1}]}},
        "risk.devices.0.batteryHours",
    ),
    (
        {"risk": {"devices": [{"kind": "OXYGEN", "batteryHours": 1e6}]}},
        "risk.devices.0.batteryHours",
    ),
    ({"risk": {"devices": [{"kind": "OXYGEN"}] * 11}}, "risk.devices"),
    ({"risk": {"supporter": "s" * 201}}, "risk.supporter"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUTS)
async def test_invalid_input_is_refused_naming_the_field_and_stores_nothing(
    gql: GraphQLClient, runtime: Runtime, overrides: dict[str, Any], field: str
) -> None:
    manager = await gql.login("manager.gamagori")
    before = await snapshot(runtime)
    result = await manager.execute(CREATE, {"input": new_patient(**overrides)})
    assert result["data"] is None
    assert error(result) == ("BAD_USER_INPUT", field)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"sex": "ROBOT"},
        {"risk": {"careLevel": "CARE_9"}},
        {"birthDate": "not-a-date"},
        {"latitude": "north"},
    ],
)
async def test_malformed_values_are_bad_input(
    gql: GraphQLClient, runtime: Runtime, overrides: dict[str, Any]
) -> None:
    manager = await gql.login("manager.gamagori")
    before = await snapshot(runtime)
    result = await manager.execute(CREATE, {"input": new_patient(**overrides)})
    assert result["data"] is None
    assert [e["extensions"]["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]
    assert await snapshot(runtime) == before


async def test_contacts_are_stored_in_order_with_the_key_person_first(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(CREATE, {"input": new_patient()})
    pk = decode_id("Patient", result["data"]["createPatient"]["id"])
    async with runtime.db.session() as session:
        rows = (
            await session.exec(select(PatientContact).where(PatientContact.patient_id == pk))
        ).all()
    assert [(c.name, c.is_key_person) for c in rows] == [("試験 一郎", True), ("試験 次郎", False)]
