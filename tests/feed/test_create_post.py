"""createPost and Patient.timeline: the first post of a visit, retried, read back by the team."""

from __future__ import annotations

from renraku.ids import encode_id
from renraku.runtime import Runtime
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import patient_pk

CREATE = """
mutation($input: CreatePostInput!) {
  createPost(input: $input) {
    id clientId category body urgent visibleToFamily
    vitals { temperature systolic diastolic spo2 flagged }
  }
}
"""
TIMELINE = """
query($id: ID!) {
  patient(id: $id) { timeline(first: 10) { edges { node { id body } } pageInfo { hasNextPage } } }
}
"""


async def test_post_is_stored_once_and_read_by_the_team(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    nurse = await gql.login("nurse.sato")
    post = {
        "patientId": pid,
        "clientId": "visit-0001",
        "category": "VITALS",
        "body": "訪問しました。",
        "vitals": {"temperature": 38.2, "systolic": 150, "diastolic": 85, "spo2": 97},
    }
    first = await nurse.execute(CREATE, {"input": post})
    assert "errors" not in first, first
    created = first["data"]["createPost"]
    assert created["vitals"]["flagged"] == ["systolic", "temperature"]
    again = await nurse.execute(CREATE, {"input": post})
    assert again["data"]["createPost"]["id"] == created["id"]

    doctor = await gql.login("dr.suzuki")
    timeline = await doctor.execute(TIMELINE, {"id": pid})
    # Newest first: the new post opens the timeline, above the demo notebook's posts.
    shown = [e["node"]["id"] for e in timeline["data"]["patient"]["timeline"]["edges"]]
    assert shown[0] == created["id"] and shown.count(created["id"]) == 1
    family = await gql.login("family.ito")
    hidden = await family.execute(TIMELINE, {"id": pid})
    family_sees = [e["node"]["id"] for e in hidden["data"]["patient"]["timeline"]["edges"]]
    assert created["id"] not in family_sees


async def test_manager_sees_patient_but_not_timeline(gql: GraphQLClient, runtime: Runtime) -> None:
    pid = encode_id("Patient", await patient_pk(runtime, "pt-ito-haru"))
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(TIMELINE, {"id": pid})
    assert result["data"]["patient"]["timeline"] is None
    assert error_codes(result) == ["FORBIDDEN"]
