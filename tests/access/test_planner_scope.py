"""Planners see patients inside an active incident of their municipality, or who consented."""

from __future__ import annotations

from typing import Any

from tests.support.graphql import GraphQLClient, error_codes
from tests.support.visibility import expected_patient_names

PATIENTS = "{ patients(first: 100) { edges { node { id displayName phone risk { careLevel } } } } }"


async def test_each_planner_sees_exactly_the_incident_or_consenting_patients(
    gql: GraphQLClient, demo: dict[str, Any]
) -> None:
    planners = [a["username"] for a in demo["accounts"] if a["kind"] == "planner"]
    for username in planners:
        client = await gql.login(username)
        result = await client.execute(PATIENTS)
        assert "errors" not in result, result
        names = {e["node"]["displayName"] for e in result["data"]["patients"]["edges"]}
        assert names == expected_patient_names(demo, username), username
    first = expected_patient_names(demo, planners[0])
    assert len(first) >= 3  # the demo incident holds several patients


async def test_planner_never_sees_the_care_team(gql: GraphQLClient) -> None:
    planner = await gql.login("planner.gamagori")
    result = await planner.execute(PATIENTS)
    patient_id = result["data"]["patients"]["edges"][0]["node"]["id"]
    team = await planner.execute(
        "query($id: ID!) { patient(id: $id) { careTeam { members { role } } } }", {"id": patient_id}
    )
    assert error_codes(team) == ["FORBIDDEN"]


async def test_a_planner_asking_for_the_care_team_still_gets_the_rest_of_the_patient(
    gql: GraphQLClient,
) -> None:
    planner = await gql.login("planner.gamagori")
    result = await planner.execute(PATIENTS)
    patient_id = result["data"]["patients"]["edges"][0]["node"]["id"]
    name = result["data"]["patients"]["edges"][0]["node"]["displayName"]
    team = await planner.execute(
        "query($id: ID!) { patient(id: $id) { careTeam { members { role } } displayName } }",
        {"id": patient_id},
    )
    # The one refused field is null, not the whole answer (careTeam is nullable for this).
    assert team["data"] == {"patient": {"careTeam": None, "displayName": name}}, team
    assert [(e["extensions"]["code"], e["path"]) for e in team["errors"]] == [
        ("FORBIDDEN", ["patient", "careTeam"])
    ]


async def test_planner_of_another_municipality_gets_not_found(gql: GraphQLClient) -> None:
    gamagori = await gql.login("planner.gamagori")
    result = await gamagori.execute(PATIENTS)
    patient_id = result["data"]["patients"]["edges"][0]["node"]["id"]
    nishio = await gql.login("planner.nishio")
    other = await nishio.execute("query($id: ID!) { patient(id: $id) { id } }", {"id": patient_id})
    assert error_codes(other) == ["NOT_FOUND"]


async def test_new_and_moved_patients_follow_the_incident_area(
    gql: GraphQLClient, demo: dict[str, Any]
) -> None:
    inside = next(
        p
        for p in demo["patients"]
        if p["display_name"] in expected_patient_names(demo, "planner.gamagori")
        and not p["consent"].get("planner_sharing")
    )
    outside = next(
        p
        for p in demo["patients"]
        if p["municipality"] == "232149"
        and p["display_name"] not in expected_patient_names(demo, "planner.gamagori")
    )
    manager = await gql.login("manager.gamagori")
    planner = await gql.login("planner.gamagori")
    lat, lon = inside["location"]
    created = await manager.execute(
        """mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }""",
        {"input": {"displayName": "試験 花子", "latitude": lat, "longitude": lon}},
    )
    assert "errors" not in created, created
    new_id = created["data"]["createPatient"]["id"]
    seen = await planner.execute("query($id: ID!) { patient(id: $id) { id } }", {"id": new_id})
    assert seen["data"]["patient"] == {"id": new_id}

    lat, lon = outside["location"]
    moved = await manager.execute(
        """mutation($id: ID!, $input: UpdatePatientInput!) {
             updatePatient(id: $id, input: $input) { id } }""",
        {"id": new_id, "input": {"latitude": lat, "longitude": lon}},
    )
    assert "errors" not in moved, moved
    gone = await planner.execute("query($id: ID!) { patient(id: $id) { id } }", {"id": new_id})
    assert error_codes(gone) == ["NOT_FOUND"]
