"""`declareIncident`, `endIncident` and `incidents`: who may, what is refused, and what
planners see while an incident is active and the moment it ends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import update

from renraku.ids import decode_id, encode_id
from renraku.overlay.models import Incident
from renraku.runtime import Runtime
from tests.overlay.helpers import (
    DECLARE,
    END,
    GAMAGORI,
    INCIDENTS,
    NISHIO,
    NISHIO_HOME,
    demo_incident_id,
    incident_input,
    incident_rows,
    live_patients,
    patients_inside,
    square_text,
)
from tests.support.graphql import GraphQLClient, error_codes
from tests.support.visibility import expected_patient_names
from tests.teams.helpers import audit_actions, error, last_audit_id, patient_pk, visible_names

TSUZUKI = "pt-tsuzuki-hiroshi"  # 西尾市, not consenting to planner sharing


def _demo_patient(demo: dict[str, Any], key: str) -> dict[str, Any]:
    patient: dict[str, Any] = next(p for p in demo["patients"] if p["key"] == key)
    return patient


@pytest.mark.parametrize("username", ["planner.nishio", "manager.nishio"])
async def test_manager_or_planner_declares_and_the_planner_then_sees_the_patients_inside(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any], username: str
) -> None:
    patient = _demo_patient(demo, TSUZUKI)
    planner = await gql.login("planner.nishio")
    assert patient["display_name"] not in await visible_names(planner)
    before = await last_audit_id(runtime)

    declarer = await gql.login(username)
    result = await declarer.execute(
        DECLARE, {"input": incident_input(area=square_text(*patient["location"]))}
    )
    assert "errors" not in result, result
    declared = result["data"]["declareIncident"]
    assert declared["municipalityCode"] == NISHIO
    assert declared["active"] is True and declared["endedAt"] is None
    assert declared["patientCount"] == 1
    assert json.loads(declared["area"])["type"] == "Polygon"

    seen = await visible_names(planner)
    assert seen == expected_patient_names(demo, "planner.nishio") | {patient["display_name"]}
    records = await audit_actions(runtime, before)
    [record] = [r for r in records if r.action.startswith("overlay.")]
    assert record.action == "overlay.incident_declared"
    assert record.object_ids == [decode_id("Incident", declared["id"])]
    assert await patients_inside(runtime, record.object_ids[0]) == {
        await patient_pk(runtime, TSUZUKI)
    }


async def test_an_omitted_area_is_the_whole_municipality(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    manager = await gql.login("manager.nishio")
    result = await manager.execute(DECLARE, {"input": incident_input()})
    assert "errors" not in result, result
    assert result["data"]["declareIncident"]["area"] is None
    everyone = {p["display_name"] for p in demo["patients"] if p["municipality"] == NISHIO}
    assert result["data"]["declareIncident"]["patientCount"] == len(everyone)
    assert await visible_names(await gql.login("planner.nishio")) == everyone


@pytest.mark.parametrize(
    "username", ["dr.yamamoto", "cm.shimizu", "family.okada", "operator", "nurse.sato"]
)
async def test_anyone_but_the_manager_or_planner_is_forbidden_to_declare(
    gql: GraphQLClient, runtime: Runtime, username: str
) -> None:
    before = await incident_rows(runtime)
    client = await gql.login(username)
    result = await client.execute(DECLARE, {"input": incident_input()})
    assert error(result) == ("FORBIDDEN", None)
    assert result.get("data") is None
    assert await incident_rows(runtime) == before


async def test_signed_out_is_unauthenticated(gql: GraphQLClient, runtime: Runtime) -> None:
    before = await incident_rows(runtime)
    assert error_codes(await gql.execute(DECLARE, {"input": incident_input()})) == [
        "UNAUTHENTICATED"
    ]
    assert error_codes(await gql.execute(INCIDENTS)) == ["UNAUTHENTICATED"]
    incident = await demo_incident_id(runtime)
    assert error_codes(await gql.execute(END, {"id": incident})) == ["UNAUTHENTICATED"]
    assert await incident_rows(runtime) == before


async def test_ending_the_incident_takes_the_identifiable_view_away_at_once(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    planner = await gql.login("planner.gamagori")
    consenting = {
        p["display_name"]
        for p in demo["patients"]
        if p["municipality"] == GAMAGORI and p["consent"].get("planner_sharing")
    }
    during = await visible_names(planner)
    assert during == expected_patient_names(demo, "planner.gamagori")
    assert during - consenting  # the incident shows people who never consented

    incident = await demo_incident_id(runtime)
    result = await planner.execute(END, {"id": incident})
    assert "errors" not in result, result
    ended = result["data"]["endIncident"]
    assert ended["active"] is False and ended["endedAt"] is not None
    assert await visible_names(planner) == consenting
    for name in during - consenting:
        key = next(p["key"] for p in demo["patients"] if p["display_name"] == name)
        found = await planner.execute(
            "query($id: ID!) { patient(id: $id) { id } }",
            {"id": encode_id("Patient", await patient_pk(runtime, key))},
        )
        assert error_codes(found) == ["NOT_FOUND"]

    listed = await planner.execute(INCIDENTS, {"active": True})
    assert listed["data"]["incidents"] == []
    listed = await planner.execute(INCIDENTS, {"active": False})
    assert [e["id"] for e in listed["data"]["incidents"]] == [incident]
    again = await planner.execute(END, {"id": incident})
    assert error(again) == ("NOT_FOUND", None)


async def test_an_incident_past_its_end_time_is_no_longer_active(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    async with runtime.db.transaction() as session:
        await session.exec(
            update(Incident).values(ends_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    planner = await gql.login("planner.gamagori")
    consenting = {
        p["display_name"]
        for p in demo["patients"]
        if p["municipality"] == GAMAGORI and p["consent"].get("planner_sharing")
    }
    assert await visible_names(planner) == consenting
    result = await planner.execute(END, {"id": await demo_incident_id(runtime)})
    assert error(result) == ("NOT_FOUND", None)


async def test_the_manager_may_end_it_too(gql: GraphQLClient, runtime: Runtime) -> None:
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(END, {"id": await demo_incident_id(runtime)})
    assert "errors" not in result, result
    assert result["data"]["endIncident"]["active"] is False


@pytest.mark.parametrize(
    "username",
    ["planner.nishio", "manager.nishio", "dr.suzuki", "cm.tanaka", "family.ito", "operator"],
)
async def test_nobody_else_can_end_or_even_find_it(
    gql: GraphQLClient, runtime: Runtime, username: str
) -> None:
    before = await incident_rows(runtime)
    client = await gql.login(username)
    result = await client.execute(END, {"id": await demo_incident_id(runtime)})
    assert error(result) == ("NOT_FOUND", None)
    assert await incident_rows(runtime) == before


@pytest.mark.parametrize(
    "bad_id",
    [
        "",
        "not-an-id",
        encode_id("Incident", 999_999),
        encode_id("Patient", 1),
        "x" * 10_000,
        "' OR 1=1 --",
    ],
)
async def test_an_id_that_names_no_incident_is_not_found(
    gql: GraphQLClient, runtime: Runtime, bad_id: str
) -> None:
    before = await incident_rows(runtime)
    planner = await gql.login("planner.gamagori")
    result = await planner.execute(END, {"id": bad_id})
    assert error(result) == ("NOT_FOUND", None)
    assert await incident_rows(runtime) == before


async def test_each_municipality_lists_only_its_own_incidents(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    gamagori = await gql.login("planner.gamagori")
    listed = (await gamagori.execute(INCIDENTS))["data"]["incidents"]
    assert [(e["id"], e["municipalityCode"], e["active"]) for e in listed] == [
        (await demo_incident_id(runtime), GAMAGORI, True)
    ]
    inside = await patients_inside(runtime, decode_id("Incident", listed[0]["id"]))
    assert listed[0]["patientCount"] == len(inside) >= 3
    for username in ("planner.nishio", "manager.nishio"):
        client = await gql.login(username)
        assert (await client.execute(INCIDENTS))["data"]["incidents"] == []
    manager = await gql.login("manager.gamagori")
    assert len((await manager.execute(INCIDENTS, {"active": True}))["data"]["incidents"]) == 1


@pytest.mark.parametrize("username", ["dr.suzuki", "family.ito", "operator"])
async def test_others_may_not_list_incidents(gql: GraphQLClient, username: str) -> None:
    client = await gql.login(username)
    assert error(await client.execute(INCIDENTS)) == ("FORBIDDEN", None)


async def test_patients_created_in_the_whole_municipality_incident_count_in_it(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.nishio")
    result = await manager.execute(DECLARE, {"input": incident_input()})
    before = result["data"]["declareIncident"]["patientCount"]
    assert before == len(await live_patients(runtime, NISHIO))
    created = await manager.execute(
        "mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }",
        {
            "input": {
                "displayName": "試験 太郎",
                "latitude": NISHIO_HOME[0],
                "longitude": NISHIO_HOME[1],
            }
        },
    )
    assert "errors" not in created, created
    listed = (await manager.execute(INCIDENTS, {"active": True}))["data"]["incidents"]
    assert listed[0]["patientCount"] == before + 1
