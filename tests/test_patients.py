"""`patients` and `patient` answer exactly what each demo account may see."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.databases import one_database
from tests.support.graphql import GraphQLClient, error_codes
from tests.support.visibility import expected_patient_names

PATIENTS = """
query($first: Int, $after: String, $search: String) {
  patients(first: $first, after: $after, search: $search) {
    edges { cursor node { id displayName } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_every_demo_account_sees_exactly_its_patients(
    gql: GraphQLClient, demo: dict[str, Any]
) -> None:
    for account in demo["accounts"]:
        client = await gql.login(account["username"])
        result = await client.execute(PATIENTS, {"first": 100})
        assert "errors" not in result, (account["username"], result)
        names = {e["node"]["displayName"] for e in result["data"]["patients"]["edges"]}
        assert names == expected_patient_names(demo, account["username"]), account["username"]


async def test_paging_walks_every_patient_once(gql: GraphQLClient, demo: dict[str, Any]) -> None:
    client = await gql.login("dr.suzuki")
    seen: list[str] = []
    after = None
    while True:
        result = await client.execute(PATIENTS, {"first": 2, "after": after})
        page = result["data"]["patients"]
        seen += [e["node"]["displayName"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == len(expected_patient_names(demo, "dr.suzuki"))


async def test_search_filters_within_visible_patients(
    gql: GraphQLClient, demo: dict[str, Any]
) -> None:
    client = await gql.login("nurse.sato")
    mine = sorted(expected_patient_names(demo, "nurse.sato"))
    surname = mine[0].split()[0]
    result = await client.execute(PATIENTS, {"search": surname})
    names = [e["node"]["displayName"] for e in result["data"]["patients"]["edges"]]
    assert names and all(surname in n for n in names)
    others = [p["display_name"] for p in demo["patients"] if p["display_name"] not in mine]
    hidden = await client.execute(PATIENTS, {"search": others[0].split()[0]})
    assert all(e["node"]["displayName"] in mine for e in hidden["data"]["patients"]["edges"])


@pytest.mark.parametrize("first", [-1, 101])
async def test_page_size_out_of_range_is_bad_input(gql: GraphQLClient, first: int) -> None:
    client = await gql.login("nurse.sato")
    result = await client.execute(PATIENTS, {"first": first})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == "first"


async def test_malformed_cursor_is_bad_input(gql: GraphQLClient) -> None:
    client = await gql.login("nurse.sato")
    result = await client.execute(PATIENTS, {"after": "not-a-cursor"})
    assert error_codes(result) == ["BAD_USER_INPUT"]


PATIENT = "query($id: ID!) { patient(id: $id) { id displayName } }"


async def _id_of(client: GraphQLClient, name: str) -> str:
    result = await client.execute(PATIENTS, {"search": name.split()[0], "first": 100})
    found: str = next(
        e["node"]["id"]
        for e in result["data"]["patients"]["edges"]
        if e["node"]["displayName"] == name
    )
    return found


async def test_other_teams_patient_is_not_found_like_a_missing_one(
    gql: GraphQLClient, demo: dict[str, Any]
) -> None:
    doctor = await gql.login("dr.suzuki")
    nurse = await gql.login("nurse.sato")
    not_hers = sorted(
        expected_patient_names(demo, "dr.suzuki") - expected_patient_names(demo, "nurse.sato")
    )[0]
    hidden_id = await _id_of(doctor, not_hers)
    hidden = await nurse.execute(PATIENT, {"id": hidden_id})
    missing = await nurse.execute(PATIENT, {"id": "UGF0aWVudDo5OTk5OTk"})  # Patient:999999
    malformed = await nurse.execute(PATIENT, {"id": "%%%"})
    other_type = await nurse.execute(PATIENT, {"id": "VXNlcjox"})  # User:1
    for result in (hidden, missing, malformed, other_type):
        assert result["data"] == {"patient": None}
        assert error_codes(result) == ["NOT_FOUND"]
        assert result["errors"][0]["message"] == hidden["errors"][0]["message"]


async def test_manager_sees_patient_but_not_its_risk_profile(gql: GraphQLClient) -> None:
    manager = await gql.login("manager.gamagori")
    patient_id = (await manager.execute(PATIENTS, {"first": 1}))["data"]["patients"]["edges"][0][
        "node"
    ]["id"]
    result = await manager.execute(
        "query($id: ID!) { patient(id: $id) { displayName risk { careLevel } } }",
        {"id": patient_id},
    )
    assert result["data"]["patient"]["risk"] is None
    assert error_codes(result) == ["FORBIDDEN"]


async def test_team_member_reads_risk_and_care_team(
    gql: GraphQLClient, demo: dict[str, Any]
) -> None:
    nurse = await gql.login("nurse.sato")
    spec = next(p for p in demo["patients"] if "nurse.sato" in p["team"])
    patient_id = await _id_of(nurse, spec["display_name"])
    result = await nurse.execute(
        """query($id: ID!) { patient(id: $id) {
             risk { careLevel mobility devices { kind batteryHours } }
             careTeam { members { role user { username } } } } }""",
        {"id": patient_id},
    )
    assert "errors" not in result, result
    patient = result["data"]["patient"]
    assert patient["risk"]["careLevel"] == spec["risk"]["care_level"].upper()
    members = {m["user"]["username"]: m["role"] for m in patient["careTeam"]["members"]}
    assert set(members) == set(spec["team"]) | set(spec.get("family", []))
    assert members[spec["coordinator"]] == "COORDINATOR"


@one_database
async def test_signed_out_is_unauthenticated(gql: GraphQLClient) -> None:
    result = await gql.execute(PATIENTS)
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert result["data"] is None
