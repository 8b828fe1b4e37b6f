"""The safety-check board: the care team sets a status from a phone, the planner sees it on the
priority list and per district, and nobody else can set, assign or learn anything."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from renraku.audit.models import AuditRecord
from renraku.ids import encode_id
from renraku.overlay.models import SafetyCheck, SafetyUpdate
from renraku.overlay.safety import district_of, overdue
from renraku.runtime import Runtime
from renraku.timeutil import utcnow
from tests.audit.support import patient_gid, user_pk
from tests.overlay.helpers import END, demo_incident_id
from tests.support.graphql import GraphQLClient, error_codes

SET = """
mutation($input: SetSafetyStatusInput!) {
  setSafetyStatus(input: $input) { status place note updatedAt updatedBy { username } }
}
"""
ASSIGN = """
mutation($incident: ID!, $patient: ID!, $user: ID) {
  assignSafetyCheck(incidentId: $incident, patientId: $patient, userId: $user) {
    status assignee { username }
  }
}
"""
BOARD = """
query($id: ID!) {
  priorityList(incidentId: $id, first: 100) {
    edges { node { tier overdue patient { id } safety { status place assignee { username } } } }
  }
  safetyProgress(incidentId: $id) { district total reached safe needsHelp evacuated hospitalised }
}
"""
MINE = """
{ mySafetyChecks { incidentId incidentLevel assignedToMe patient { id } check { status } } }
"""


async def _stored(runtime: Runtime) -> tuple[int, int, int]:
    async with runtime.db.session() as session:
        checks = (await session.exec(select(func.count()).select_from(SafetyCheck))).one()
        updates = (await session.exec(select(func.count()).select_from(SafetyUpdate))).one()
        audit = (await session.exec(select(func.count()).select_from(AuditRecord))).one()
    return checks, updates, audit


def _status(incident: str, patient: str, status: str, **more: Any) -> dict[str, dict[str, Any]]:
    return {"input": {"incidentId": incident, "patientId": patient, "status": status, **more}}


async def test_a_nurse_sets_a_status_and_the_planner_sees_it_resolved_on_the_board(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    ito = await patient_gid(runtime, "pt-ito-haru")
    nurse = await gql.login("nurse.sato")
    result = await nurse.execute(
        SET, _status(incident, ito, "EVACUATED", place="形原公民館", note="家族と避難")
    )
    assert "errors" not in result, result
    assert result["data"]["setSafetyStatus"]["status"] == "EVACUATED"
    assert result["data"]["setSafetyStatus"]["updatedBy"] == {"username": "nurse.sato"}

    planner = await gql.login("planner.gamagori")
    board = (await planner.execute(BOARD, {"id": incident}))["data"]
    nodes = {e["node"]["patient"]["id"]: e["node"] for e in board["priorityList"]["edges"]}
    assert nodes[ito]["safety"]["status"] == "EVACUATED"
    assert nodes[ito]["safety"]["place"] == "形原公民館"
    assert nodes[ito]["tier"] == "RESOLVED"
    assert list(nodes)[-1] == ito  # the resolved come last
    assert all(n["safety"]["status"] == "UNKNOWN" for k, n in nodes.items() if k != ito)
    progress = board["safetyProgress"]
    assert sum(d["total"] for d in progress) == len(nodes)
    assert sum(d["reached"] for d in progress) == sum(d["evacuated"] for d in progress) == 1
    assert {d["district"] for d in progress} <= {"形原町", "金平町", "西浦町", "三谷町", ""}


async def test_a_retried_send_with_its_client_id_changes_nothing(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    kawai = await patient_gid(runtime, "pt-kawai-toshio")
    nurse = await gql.login("nurse.sato")
    variables = _status(incident, kawai, "SAFE", clientId="phone-1:safety-7")
    assert "errors" not in await nurse.execute(SET, variables)
    before = await _stored(runtime)
    again = await nurse.execute(SET, variables)
    assert again["data"]["setSafetyStatus"]["status"] == "SAFE"
    assert await _stored(runtime) == before
    # Someone else's send cannot reuse it.
    doctor = await gql.login("dr.suzuki")
    taken = await doctor.execute(
        SET, _status(incident, kawai, "NEEDS_HELP", clientId="phone-1:safety-7")
    )
    assert error_codes(taken) == ["BAD_USER_INPUT"]
    assert await _stored(runtime) == before


@pytest.mark.parametrize(
    ("status", "more", "field"),
    [
        ("EVACUATED", {}, "place"),  # where to must be said
        ("EVACUATED", {"place": "\u200b\u200b"}, "place"),
        ("UNKNOWN", {}, "status"),
        ("SAFE", {"note": "x" * 401}, "note"),
        ("SAFE", {"place": "x" * 201}, "place"),
        ("SAFE", {"clientId": "x" * 65}, "clientId"),
        ("SAFE", {"clientId": "a\nb"}, "clientId"),
    ],
)
async def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    gql: GraphQLClient, runtime: Runtime, status: str, more: dict[str, str], field: str
) -> None:
    incident = await demo_incident_id(runtime)
    ito = await patient_gid(runtime, "pt-ito-haru")
    nurse = await gql.login("nurse.sato")
    before = await _stored(runtime)
    result = await nurse.execute(SET, _status(incident, ito, status, **more))
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"].get("field") == field
    assert await _stored(runtime) == before


@pytest.mark.parametrize(
    ("username", "patient", "code"),
    [
        ("family.ito", "pt-ito-haru", "FORBIDDEN"),  # on the team as family: reads, never sets
        ("nurse.takahashi", "pt-ito-haru", "NOT_FOUND"),  # not on her team
        ("nurse.takahashi", "pt-goto-isamu", "NOT_FOUND"),  # her patient, outside the incident
        ("manager.gamagori", "pt-ito-haru", "FORBIDDEN"),
        ("planner.nishio", "pt-ito-haru", "NOT_FOUND"),
        ("operator", "pt-ito-haru", "NOT_FOUND"),
    ],
)
async def test_nobody_else_can_set_a_status(
    gql: GraphQLClient, runtime: Runtime, username: str, patient: str, code: str
) -> None:
    incident = await demo_incident_id(runtime)
    client = await gql.login(username)
    before = await _stored(runtime)
    result = await client.execute(
        SET, _status(incident, await patient_gid(runtime, patient), "SAFE")
    )
    assert error_codes(result) == [code]
    assert result.get("data") is None
    checks, updates, _audit = await _stored(runtime)
    assert (checks, updates) == before[:2]


async def test_signed_out_or_after_the_incident_ends_nothing_is_set(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    ito = await patient_gid(runtime, "pt-ito-haru")
    before = await _stored(runtime)
    assert error_codes(await gql.execute(SET, _status(incident, ito, "SAFE"))) == [
        "UNAUTHENTICATED"
    ]
    planner = await gql.login("planner.gamagori")
    assert "errors" not in await planner.execute(END, {"id": incident})
    nurse = await gql.login("nurse.sato")
    assert error_codes(await nurse.execute(SET, _status(incident, ito, "SAFE"))) == ["NOT_FOUND"]
    checks, updates, _audit = await _stored(runtime)
    assert (checks, updates) == before[:2]


async def test_the_planner_assigns_the_call_and_the_nurse_finds_it_in_her_list(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    ito = await patient_gid(runtime, "pt-ito-haru")
    sato = encode_id("User", await user_pk(runtime, "nurse.sato"))
    planner = await gql.login("planner.gamagori")
    result = await planner.execute(ASSIGN, {"incident": incident, "patient": ito, "user": sato})
    assert result["data"]["assignSafetyCheck"] == {
        "status": "UNKNOWN",
        "assignee": {"username": "nurse.sato"},
    }
    nurse = await gql.login("nurse.sato")
    mine = (await nurse.execute(MINE))["data"]["mySafetyChecks"]
    by_patient = {m["patient"]["id"]: m for m in mine}
    assert by_patient[ito]["assignedToMe"] is True
    assert {m["incidentId"] for m in mine} == {incident}
    # Her other patients inside the incident are listed too, not assigned to her.
    kawai = await patient_gid(runtime, "pt-kawai-toshio")
    assert by_patient[kawai]["assignedToMe"] is False
    # Nobody outside the incident, nobody of other teams.
    assert await patient_gid(runtime, "pt-okamoto-fumi") not in by_patient


@pytest.mark.parametrize(
    ("username", "assignee", "code"),
    [
        ("planner.gamagori", "family.ito", "BAD_USER_INPUT"),  # family do not make the call
        ("planner.gamagori", "nurse.kimura", "BAD_USER_INPUT"),  # not on the team
        ("planner.gamagori", "planner.nishio", "BAD_USER_INPUT"),  # another municipality
        ("nurse.sato", "nurse.sato", "FORBIDDEN"),  # a member does not assign
        ("family.ito", "nurse.sato", "FORBIDDEN"),
        ("nurse.kimura", "nurse.sato", "NOT_FOUND"),
    ],
)
async def test_the_call_goes_only_to_someone_who_may_make_it(
    gql: GraphQLClient, runtime: Runtime, username: str, assignee: str, code: str
) -> None:
    incident = await demo_incident_id(runtime)
    ito = await patient_gid(runtime, "pt-ito-haru")
    user = encode_id("User", await user_pk(runtime, assignee))
    client = await gql.login(username)
    before = await _stored(runtime)
    result = await client.execute(ASSIGN, {"incident": incident, "patient": ito, "user": user})
    assert error_codes(result) == [code]
    checks, updates, _audit = await _stored(runtime)
    assert (checks, updates) == before[:2]


async def test_the_coordinator_may_assign_and_the_audit_keeps_no_note(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    incident = await demo_incident_id(runtime)
    ito = await patient_gid(runtime, "pt-ito-haru")
    coordinator = await gql.login("cm.tanaka")
    helper = encode_id("User", await user_pk(runtime, "helper.kobayashi"))
    result = await coordinator.execute(
        ASSIGN, {"incident": incident, "patient": ito, "user": helper}
    )
    assert result["data"]["assignSafetyCheck"]["assignee"] == {"username": "helper.kobayashi"}
    helper_client = await gql.login("helper.kobayashi")
    note = "玄関の鍵は隣家が預かっている"
    assert "errors" not in await helper_client.execute(
        SET, _status(incident, ito, "NEEDS_HELP", note=note)
    )
    async with runtime.db.session() as session:
        records = (
            await session.exec(
                select(AuditRecord).where(AuditRecord.action == "overlay.safety_set")
            )
        ).all()
    assert records and all(note not in str(r.detail) for r in records)


def test_district_is_the_town_of_the_address() -> None:
    assert district_of("愛知県蒲郡市形原町38番地1") == "形原町"
    assert district_of("愛知県西尾市一色町松木島5番地") == "一色町"
    assert district_of("愛知県額田郡幸田町大字菱池字元林1") == "菱池"
    assert district_of("") == ""


def test_a_p1_nobody_checked_is_overdue_after_the_configured_time() -> None:
    long_ago = utcnow() - timedelta(minutes=61)
    assert overdue(None, tier="P1", started=long_ago, minutes=60)
    assert not overdue(None, tier="P2", started=long_ago, minutes=60)
    assert not overdue(None, tier="P1", started=utcnow(), minutes=60)
    checked = SafetyCheck(incident_id=1, patient_id=1, status="contacted")
    assert not overdue(checked, tier="P1", started=long_ago, minutes=60)


REPORT = """
query($id: ID!) {
  incidentReport(incidentId: $id) {
    drill level listed reached reachedWithinHour medianMinutesToReach
    byStatus { status count } districts { district total reached }
  }
}
"""


async def test_an_ended_incident_leaves_a_report_of_counts_for_its_municipality(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    incident = await demo_incident_id(runtime)
    nurse = await gql.login("nurse.sato")
    for key, status in (("pt-ito-haru", "SAFE"), ("pt-kawai-toshio", "HOSPITALISED")):
        patient = await patient_gid(runtime, key)
        assert "errors" not in await nurse.execute(SET, _status(incident, patient, status))
    planner = await gql.login("planner.gamagori")
    assert "errors" not in await planner.execute(END, {"id": incident})
    manager = await gql.login("manager.gamagori")
    result = await manager.execute(REPORT, {"id": incident})
    assert "errors" not in result, result
    found = result["data"]["incidentReport"]
    assert (found["drill"], found["level"], found["listed"], found["reached"]) == (False, 3, 5, 2)
    counts = {c["status"]: c["count"] for c in found["byStatus"]}
    assert (counts["SAFE"], counts["HOSPITALISED"], counts["UNKNOWN"]) == (1, 1, 3)
    assert found["reachedWithinHour"] == 2 and found["medianMinutesToReach"] is not None
    assert sum(d["total"] for d in found["districts"]) == 5
    assert sum(d["reached"] for d in found["districts"]) == 2
    names = {p["display_name"] for p in demo["patients"]}
    assert not any(name in str(found) for name in names)
    for username, code in (("nurse.sato", "NOT_FOUND"), ("planner.nishio", "NOT_FOUND")):
        other = await gql.login(username)
        assert error_codes(await other.execute(REPORT, {"id": incident})) == [code]


ASSIGNABLE = """
query($incident: ID!, $patient: ID!) {
  assignableUsers(incidentId: $incident, patientId: $patient) { username }
}
"""


async def test_the_planner_lists_whom_the_call_may_go_to(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    incident = await demo_incident_id(runtime)
    ito = await patient_gid(runtime, "pt-ito-haru")
    planner = await gql.login("planner.gamagori")
    listed = await planner.execute(ASSIGNABLE, {"incident": incident, "patient": ito})
    names = {u["username"] for u in listed["data"]["assignableUsers"]}
    team = next(p for p in demo["patients"] if p["key"] == "pt-ito-haru")["team"]
    assert names == {*team, "planner.gamagori", "manager.gamagori"}
    for username, code in (("nurse.sato", "FORBIDDEN"), ("planner.nishio", "NOT_FOUND")):
        other = await gql.login(username)
        result = await other.execute(ASSIGNABLE, {"incident": incident, "patient": ito})
        assert error_codes(result) == [code], username
