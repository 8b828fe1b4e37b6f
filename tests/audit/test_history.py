"""Reading the log back: a patient's access history for its coordinator, and the municipality's
access report for its manager. Both are reads, audited in their turn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from renraku.runtime import Runtime
from tests.audit.support import (
    PATIENT_IN_FULL,
    PATIENTS,
    last_id,
    patient_gid,
    pk_of,
    records_after,
)
from tests.support.databases import one_database
from tests.support.graphql import DEMO, GraphQLClient, error_codes

HISTORY = """
query History($id: ID!, $first: Int, $after: String) {
  patient(id: $id) {
    accessHistory(first: $first, after: $after) {
      edges { cursor node {
        at action decision
        actor { displayName kind profession }
        basis { kind reason }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
REPORT = """
query Report($since: DateTime!, $until: DateTime) {
  accessReport(since: $since, until: $until) {
    municipalityCode since until
    counts { kind decision actorKind basis records patients }
    glassOpenings { at patientId reason actor { displayName kind profession } }
  }
}
"""
BREAK_GLASS = """
mutation($id: ID!, $reason: String!) { breakGlass(patientId: $id, reason: $reason) { id } }
"""
GLASS_REASON = "Called at night: fever and confusion, team unreachable"


def display_name(username: str) -> str:
    return str(next(a for a in DEMO["accounts"] if a["username"] == username)["display_name"])


def an_hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


async def _history(client: GraphQLClient, patient: str, **variables: Any) -> dict[str, Any]:
    return await client.execute(HISTORY, {"id": patient, **variables})


def _entries(result: dict[str, Any]) -> list[dict[str, Any]]:
    assert "errors" not in result, result
    return [e["node"] for e in result["data"]["patient"]["accessHistory"]["edges"]]


async def test_the_coordinator_sees_who_read_the_patient_and_why(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    patient = await patient_gid(runtime, "pt-ito-haru")
    nurse = await gql.login("nurse.sato")
    await nurse.execute(PATIENT_IN_FULL, {"id": patient})
    outsider = await gql.login("nurse.kimura")
    await outsider.execute(PATIENT_IN_FULL, {"id": patient})
    await runtime.read_auditor.flush()
    coordinator = await gql.login("cm.tanaka")
    entries = _entries(await _history(coordinator, patient, first=5))
    denied, read = entries[0], entries[1]  # newest first
    assert read["actor"] == {
        "displayName": display_name("nurse.sato"),
        "kind": "PROFESSIONAL",
        "profession": "NURSE",
    }
    assert (read["action"], read["decision"], read["basis"]) == (
        "read",
        "allow",
        {"kind": "member", "reason": None},
    )
    assert denied["actor"]["displayName"] == display_name("nurse.kimura")
    assert (denied["decision"], denied["basis"]["kind"]) == ("deny", "none")
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)


async def test_history_pages_newest_first_without_repeats(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    patient = await patient_gid(runtime, "pt-ito-haru")
    nurse = await gql.login("nurse.sato")
    for _ in range(5):
        await nurse.execute(PATIENT_IN_FULL, {"id": patient})
    await runtime.read_auditor.flush()
    coordinator = await gql.login("cm.tanaka")
    seen: list[str] = []
    after = None
    while True:
        result = await _history(coordinator, patient, first=2, after=after)
        connection = result["data"]["patient"]["accessHistory"]
        seen += [e["cursor"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) >= 6  # five reads and the seed record


@pytest.mark.parametrize(
    ("variables", "field"),
    [({"first": 101}, "first"), ({"first": -1}, "first"), ({"after": "%%%"}, "after")],
)
async def test_bad_paging_is_bad_input(
    gql: GraphQLClient, runtime: Runtime, variables: dict[str, Any], field: str
) -> None:
    coordinator = await gql.login("cm.tanaka")
    result = await _history(coordinator, await patient_gid(runtime, "pt-ito-haru"), **variables)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == field


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("nurse.sato", "FORBIDDEN"),  # a member of the team
        ("family.ito", "FORBIDDEN"),
        ("manager.gamagori", "FORBIDDEN"),
        ("planner.gamagori", "FORBIDDEN"),
        ("nurse.kimura", "NOT_FOUND"),  # not on the team
        ("cm.watanabe", "NOT_FOUND"),  # a coordinator of other patients
    ],
)
async def test_history_is_for_the_coordinator_only(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    client = await gql.login(username)
    result = await _history(client, await patient_gid(runtime, "pt-ito-haru"))
    assert error_codes(result) == [code]
    patient = result["data"]["patient"]
    assert patient is None or patient["accessHistory"] is None


async def test_viewing_history_is_itself_audited(gql: GraphQLClient, runtime: Runtime) -> None:
    patient = await patient_gid(runtime, "pt-ito-haru")
    coordinator = await gql.login("cm.tanaka")
    before = await last_id(runtime)
    await _history(coordinator, patient)
    (record,) = await records_after(runtime, before, username="cm.tanaka")
    assert "patient.audit" in record.detail["objects"]
    assert record.detail["basis"] == {"coordinator": [pk_of(patient)]}


async def test_break_the_glass_shows_with_its_stated_reason(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    patient = await patient_gid(runtime, "pt-ito-haru")
    clinician = await gql.login("nurse.kimura")
    opened = await clinician.execute(BREAK_GLASS, {"id": patient, "reason": GLASS_REASON})
    assert "errors" not in opened, opened
    before = await last_id(runtime)
    assert "errors" not in await clinician.execute(PATIENT_IN_FULL, {"id": patient})
    (record,) = await records_after(runtime, before, username="nurse.kimura")
    (basis,) = record.detail["basis"]
    assert basis.startswith("glass:")
    coordinator = await gql.login("cm.tanaka")
    entries = _entries(await _history(coordinator, patient, first=3))
    glass_read = next(e for e in entries if e["action"] == "read")
    assert glass_read["basis"] == {"kind": "glass", "reason": GLASS_REASON}
    assert any(e["action"] == "access.glass_opened" for e in entries)


async def test_the_manager_reports_on_their_municipality(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    patient = await patient_gid(runtime, "pt-ito-haru")
    nurse = await gql.login("nurse.sato")
    await nurse.execute(PATIENTS, {"first": 100})
    clinician = await gql.login("nurse.kimura")
    opened = await clinician.execute(BREAK_GLASS, {"id": patient, "reason": GLASS_REASON})
    assert "errors" not in opened, opened
    await runtime.read_auditor.flush()
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(REPORT, {"since": an_hour_ago()})
    assert "errors" not in result, result
    report = result["data"]["accessReport"]
    assert report["municipalityCode"] == "232149"
    counts = {(c["kind"], c["decision"], c["actorKind"], c["basis"]): c for c in report["counts"]}
    assert counts[("read", "allow", "professional", "member")]["records"] >= 1
    assert ("write", "allow", "professional", None) in counts  # the glass opening itself
    (opening,) = report["glassOpenings"]
    assert opening["patientId"] == patient
    assert opening["reason"] == GLASS_REASON
    assert opening["actor"] == {
        "displayName": display_name("nurse.kimura"),
        "kind": "PROFESSIONAL",
        "profession": "NURSE",
    }
    # Another municipality's manager sees none of it.
    other = await gql.login("manager.nishio")
    elsewhere = (await other.execute(REPORT, {"since": an_hour_ago()}))["data"]["accessReport"]
    assert elsewhere["municipalityCode"] == "232131"
    assert elsewhere["glassOpenings"] == []
    assert not any(c["actorKind"] == "professional" for c in elsewhere["counts"])


async def test_viewing_the_report_is_itself_audited(gql: GraphQLClient, runtime: Runtime) -> None:
    patient = await patient_gid(runtime, "pt-ito-haru")
    clinician = await gql.login("nurse.kimura")
    await clinician.execute(BREAK_GLASS, {"id": patient, "reason": GLASS_REASON})
    manager = await gql.login("manager.gamagori")
    before = await last_id(runtime)
    assert "errors" not in await manager.execute(REPORT, {"since": an_hour_ago()})
    (record,) = await records_after(runtime, before, username="manager.gamagori")
    assert "audit.report" in record.detail["objects"]
    assert record.object_ids == [pk_of(patient)]


@pytest.mark.parametrize(
    "username", ["cm.tanaka", "nurse.sato", "planner.gamagori", "family.ito", "operator"]
)
async def test_the_report_is_for_municipality_managers_only(
    gql: GraphQLClient, username: str
) -> None:
    client = await gql.login(username)
    result = await client.execute(REPORT, {"since": an_hour_ago()})
    assert error_codes(result) == ["FORBIDDEN"]
    assert result["data"] is None


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"since": "2026-01-01T00:00:00"}, "since"),  # no time zone
        ({"since": an_hour_ago(), "until": "2000-01-01T00:00:00+00:00"}, "until"),
    ],
)
async def test_a_bad_report_window_is_bad_input(
    gql: GraphQLClient, variables: dict[str, Any], field: str
) -> None:
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(REPORT, variables)
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == field


@one_database
async def test_signed_out_report_is_unauthenticated(gql: GraphQLClient) -> None:
    result = await gql.execute(REPORT, {"since": an_hour_ago()})
    assert error_codes(result) == ["UNAUTHENTICATED"]
