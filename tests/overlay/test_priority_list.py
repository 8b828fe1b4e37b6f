"""`priorityList`: everyone inside an incident in force, scored and explained, for its planners
only, and each read audited with its basis (DESIGN.md "Priority model")."""

from __future__ import annotations

from typing import Any

import pytest

from renraku.ids import decode_id, encode_id
from renraku.runtime import Runtime
from tests.audit.support import last_id, patient_pk, pk_of, records_after
from tests.overlay.helpers import END, demo_incident_id, patients_inside
from tests.support.graphql import GraphQLClient, error_codes

LIST = """
query($id: ID!, $first: Int, $after: String) {
  priorityList(incidentId: $id, first: $first, after: $after) {
    totalCount tierCounts
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      tier score vulnerability stale
      person { displayName address phone location { latitude longitude } }
      patient { id displayName }
      reasons { factor points text source params }
    } }
  }
}
"""
TIERS = ["P1", "P2", "P3", "RESOLVED"]


async def _whole(client: GraphQLClient, incident: str) -> dict[str, Any]:
    result = await client.execute(LIST, {"id": incident, "first": 100})
    assert "errors" not in result, result
    listed: dict[str, Any] = result["data"]["priorityList"]
    return listed


async def test_the_planner_sees_everyone_inside_ranked_with_a_reason_per_factor(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    listed = await _whole(planner, incident)
    nodes = [e["node"] for e in listed["edges"]]
    inside = await patients_inside(runtime, decode_id("Incident", incident))
    assert {pk_of(n["patient"]["id"]) for n in nodes} == inside
    assert listed["totalCount"] == len(nodes) == len(inside)
    assert listed["tierCounts"] == [[n["tier"] for n in nodes].count(t) for t in TIERS]
    # Ranked: tiers in order, and within a tier the higher score first.
    order = [(TIERS.index(n["tier"]), -n["score"]) for n in nodes]
    assert order == sorted(order)
    for node in nodes:
        assert node["person"]["displayName"] == node["patient"]["displayName"]
        factors = [r["factor"] for r in node["reasons"]]
        assert factors[:2] == ["hazard.level", "time.onset"]
        assert len(factors) == len(set(factors))  # one line per factor
        assert sum(r["points"] for r in node["reasons"]) == node["vulnerability"]
    # The demo's ventilator user (6 h battery) goes straight to P1 under the heavy-rain alert.
    by_name = {n["person"]["displayName"]: n for n in nodes}
    ventilated = next(p for p in demo["patients"] if p["key"] == "pt-nakano-shigeru")
    assert by_name[ventilated["display_name"]]["tier"] == "P1"
    assert "device.ventilator" in {
        r["factor"] for r in by_name[ventilated["display_name"]]["reasons"]
    }


async def test_pages_follow_on_without_repeating_or_skipping(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    whole = [e["node"]["patient"]["id"] for e in (await _whole(planner, incident))["edges"]]
    paged: list[str] = []
    after = None
    while True:
        result = await planner.execute(LIST, {"id": incident, "first": 2, "after": after})
        page = result["data"]["priorityList"]
        paged += [e["node"]["patient"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert paged == whole


async def test_each_read_is_audited_with_the_incident_basis(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    before = await last_id(runtime)
    listed = await _whole(planner, incident)
    (record,) = await records_after(runtime, before, username="planner.gamagori")
    ids = {pk_of(e["node"]["patient"]["id"]) for e in listed["edges"]}
    assert set(record.object_ids) == ids
    assert set(record.detail["basis"]["emergency"]) == ids
    assert "incident.priority" in record.detail["objects"]


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("manager.gamagori", "FORBIDDEN"),  # may read the incident, not the list
        ("planner.nishio", "NOT_FOUND"),  # another municipality's incident
        ("nurse.sato", "NOT_FOUND"),
        ("family.ito", "NOT_FOUND"),
        ("operator", "NOT_FOUND"),
    ],
)
async def test_nobody_but_its_planners_gets_the_list(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    client = await gql.login(username)
    incident = await demo_incident_id(runtime)
    result = await client.execute(LIST, {"id": incident})
    assert error_codes(result) == [code]
    assert result.get("data") is None


async def test_signed_out_or_malformed_asks_change_nothing(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    assert error_codes(await gql.execute(LIST, {"id": incident})) == ["UNAUTHENTICATED"]
    planner = await gql.login("planner.gamagori")
    for variables in (
        {"id": incident, "first": 1000},
        {"id": incident, "after": "not-a-cursor"},
        {"id": incident, "after": "W10"},
    ):
        assert error_codes(await planner.execute(LIST, variables)) == ["BAD_USER_INPUT"]
    for bad_id in ("", "x" * 5000, encode_id("Patient", 1), encode_id("Incident", 999_999)):
        assert error_codes(await planner.execute(LIST, {"id": bad_id})) == ["NOT_FOUND"]


async def test_an_ended_incident_has_no_list(gql: GraphQLClient, runtime: Runtime) -> None:
    planner = await gql.login("planner.gamagori")
    incident = await demo_incident_id(runtime)
    assert "errors" not in await planner.execute(END, {"id": incident})
    result = await planner.execute(LIST, {"id": incident})
    assert error_codes(result) == ["FORBIDDEN"]
    assert "not in force" in result["errors"][0]["message"]
    assert await patient_pk(runtime, "pt-nakano-shigeru")  # the people are still there
