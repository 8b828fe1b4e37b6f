"""Planners see patients inside an active emergency of their municipality, or who consented."""

from __future__ import annotations

from typing import Any

from tests.support.graphql import GraphQLClient, error_codes
from tests.support.visibility import expected_patient_names

PATIENTS = "{ patients(first: 100) { edges { node { id displayName phone risk { careLevel } } } } }"


async def test_each_planner_sees_exactly_the_emergency_or_consenting_patients(
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
    assert len(first) >= 3  # the demo emergency holds several patients


async def test_planner_never_sees_the_care_team(gql: GraphQLClient) -> None:
    planner = await gql.login("planner.gamagori")
    result = await planner.execute(PATIENTS)
    patient_id = result["data"]["patients"]["edges"][0]["node"]["id"]
    team = await planner.execute(
        "query($id: ID!) { patient(id: $id) { careTeam { members { role } } } }", {"id": patient_id}
    )
    assert error_codes(team) == ["FORBIDDEN"]


async def test_planner_of_another_municipality_gets_not_found(gql: GraphQLClient) -> None:
    gamagori = await gql.login("planner.gamagori")
    result = await gamagori.execute(PATIENTS)
    patient_id = result["data"]["patients"]["edges"][0]["node"]["id"]
    nishio = await gql.login("planner.nishio")
    other = await nishio.execute("query($id: ID!) { patient(id: $id) { id } }", {"id": patient_id})
    assert error_codes(other) == ["NOT_FOUND"]
