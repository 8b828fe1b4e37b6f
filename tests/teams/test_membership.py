"""`addTeamMember` and `endTeamMembership`: changes take effect on the very next request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, update

from renraku.runtime import Runtime
from renraku.teams.models import TeamMembership
from renraku.timeutil import utcnow
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import (
    MISSING_PATIENT,
    PATIENT,
    audit_actions,
    error,
    last_audit_id,
    patient_id,
    patient_pk,
    snapshot,
    user_id,
    user_pk,
    visible_names,
)

ADD = """
mutation($p: ID!, $u: ID!, $role: TeamRole!, $until: DateTime) {
  addTeamMember(patientId: $p, userId: $u, role: $role, until: $until) {
    role since until user { username } }
}
"""
END = """
mutation($p: ID!, $u: ID!, $reason: String!) {
  endTeamMembership(patientId: $p, userId: $u, reason: $reason) { role until user { username } }
}
"""
TEAM = "query($id: ID!) { patient(id: $id) { careTeam { members { role user { username } } } } }"
ITO, ITO_NAME = "pt-ito-haru", "伊藤 ハル"  # coordinator cm.tanaka; nurse.takahashi not on it


async def team_of(client: GraphQLClient, pid: str) -> dict[str, str]:
    result = await client.execute(TEAM, {"id": pid})
    assert "errors" not in result, result
    members = result["data"]["patient"]["careTeam"]["members"]
    return {m["user"]["username"]: m["role"] for m in members}


@pytest.mark.parametrize("username", ["cm.tanaka", "manager.gamagori"])
async def test_coordinator_or_manager_adds_a_member_who_then_sees_the_patient(
    gql: GraphQLClient, runtime: Runtime, username: str
) -> None:
    client = await gql.login(username)
    nurse = await gql.login("nurse.takahashi")
    assert ITO_NAME not in await visible_names(nurse)
    pid, uid = await patient_id(runtime, ITO), await user_id(runtime, "nurse.takahashi")
    before = await last_audit_id(runtime)
    result = await client.execute(ADD, {"p": pid, "u": uid, "role": "MEMBER"})
    assert "errors" not in result, result
    assert result["data"]["addTeamMember"]["user"]["username"] == "nurse.takahashi"
    assert ITO_NAME in await visible_names(nurse)
    [record] = await audit_actions(runtime, before)
    assert record.action == "teams.member_added"
    assert record.object_ids == [await patient_pk(runtime, ITO)]
    assert record.detail["user_id"] == await user_pk(runtime, "nurse.takahashi")


async def test_a_new_coordinator_demotes_the_previous_one(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.gamagori")
    pid = await patient_id(runtime, ITO)
    result = await manager.execute(
        ADD, {"p": pid, "u": await user_id(runtime, "nurse.sato"), "role": "COORDINATOR"}
    )
    assert "errors" not in result, result
    team = await team_of(manager, pid)
    assert [u for u, role in team.items() if role == "COORDINATOR"] == ["nurse.sato"]
    assert team["cm.tanaka"] == "MEMBER"
    # The demoted coordinator may no longer manage the team; the new one may.
    former = await gql.login("cm.tanaka")
    uid = await user_id(runtime, "nurse.takahashi")
    refused = await former.execute(ADD, {"p": pid, "u": uid, "role": "MEMBER"})
    assert error(refused) == ("FORBIDDEN", None)
    current = await gql.login("nurse.sato")
    accepted = await current.execute(ADD, {"p": pid, "u": uid, "role": "MEMBER"})
    assert "errors" not in accepted, accepted


async def test_family_accounts_join_as_family_only(gql: GraphQLClient, runtime: Runtime) -> None:
    manager = await gql.login("manager.gamagori")
    pid = await patient_id(runtime, "pt-nakano-shigeru")
    family = await user_id(runtime, "family.ito")
    before = await snapshot(runtime)
    wrong = await manager.execute(ADD, {"p": pid, "u": family, "role": "MEMBER"})
    assert error(wrong) == ("BAD_USER_INPUT", "role")
    nurse = await user_id(runtime, "nurse.takahashi")
    wrong2 = await manager.execute(ADD, {"p": pid, "u": nurse, "role": "FAMILY"})
    assert error(wrong2) == ("BAD_USER_INPUT", "role")
    planner = await user_id(runtime, "planner.gamagori")
    wrong3 = await manager.execute(ADD, {"p": pid, "u": planner, "role": "MEMBER"})
    assert error(wrong3) == ("BAD_USER_INPUT", "role")
    assert await snapshot(runtime) == before
    ok = await manager.execute(ADD, {"p": pid, "u": family, "role": "FAMILY"})
    assert ok["data"]["addTeamMember"]["role"] == "FAMILY"


@pytest.mark.parametrize("username", ["dr.inoue", "family.okada", "manager.nishio"])
async def test_accounts_of_another_municipality_are_not_found(
    gql: GraphQLClient, runtime: Runtime, username: str
) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid, uid = await patient_id(runtime, ITO), await user_id(runtime, username)
    before = await snapshot(runtime)
    role = "FAMILY" if username.startswith("family") else "MEMBER"
    result = await coordinator.execute(ADD, {"p": pid, "u": uid, "role": role})
    assert error(result) == ("NOT_FOUND", None)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("nurse.sato", "FORBIDDEN"),
        ("family.ito", "FORBIDDEN"),
        ("nurse.takahashi", "NOT_FOUND"),
        ("manager.nishio", "NOT_FOUND"),
        ("operator", "NOT_FOUND"),
    ],
)
async def test_others_cannot_add_or_remove_members(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    client = await gql.login(username)
    pid = await patient_id(runtime, ITO)
    before = await snapshot(runtime)
    added = await client.execute(
        ADD, {"p": pid, "u": await user_id(runtime, "helper.nakamura"), "role": "MEMBER"}
    )
    ended = await client.execute(
        END, {"p": pid, "u": await user_id(runtime, "pharm.kato"), "reason": "x"}
    )
    assert error(added) == (code, None)
    assert error(ended) == (code, None)
    assert await snapshot(runtime) == before


async def test_malformed_ids_are_not_found(gql: GraphQLClient, runtime: Runtime) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid, uid = await patient_id(runtime, ITO), await user_id(runtime, "nurse.takahashi")
    before = await snapshot(runtime)
    for p, u in [("%%%", uid), (MISSING_PATIENT, uid), (pid, "%%%"), (pid, pid), (uid, uid)]:
        result = await coordinator.execute(ADD, {"p": p, "u": u, "role": "MEMBER"})
        assert error(result) == ("NOT_FOUND", None)
        ended = await coordinator.execute(END, {"p": p, "u": u, "reason": "x"})
        assert error(ended) == ("NOT_FOUND", None)
    assert await snapshot(runtime) == before


async def test_removal_takes_effect_on_the_next_request(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    nurse = await gql.login("nurse.sato")
    pid = await patient_id(runtime, ITO)
    assert (await nurse.execute(PATIENT, {"id": pid}))["data"]["patient"] is not None
    before = await last_audit_id(runtime)
    result = await coordinator.execute(
        END, {"p": pid, "u": await user_id(runtime, "nurse.sato"), "reason": "担当交代"}
    )
    assert "errors" not in result, result
    assert result["data"]["endTeamMembership"]["until"] is not None
    after = await nurse.execute(PATIENT, {"id": pid})
    assert error(after) == ("NOT_FOUND", None)
    assert ITO_NAME not in await visible_names(nurse)
    assert "nurse.sato" not in await team_of(coordinator, pid)
    [record] = await audit_actions(runtime, before)
    assert (record.action, record.reason) == ("teams.member_removed", "担当交代")
    # Ending a membership that is no longer there finds nothing.
    again = await coordinator.execute(
        END, {"p": pid, "u": await user_id(runtime, "nurse.sato"), "reason": "x"}
    )
    assert error(again) == ("NOT_FOUND", None)


@pytest.mark.parametrize("reason", ["", "   ", "r" * 401, "\u200b\x00\u202e"])
async def test_removal_needs_a_sensible_reason(
    gql: GraphQLClient, runtime: Runtime, reason: str
) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid = await patient_id(runtime, ITO)
    before = await snapshot(runtime)
    result = await coordinator.execute(
        END, {"p": pid, "u": await user_id(runtime, "nurse.sato"), "reason": reason}
    )
    assert error(result) == ("BAD_USER_INPUT", "reason")
    assert await snapshot(runtime) == before


async def test_a_membership_whose_end_date_passed_has_expired(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    nurse = await gql.login("nurse.takahashi")
    pid = await patient_id(runtime, ITO)
    until = (utcnow() + timedelta(days=7)).isoformat()
    uid = await user_pk(runtime, "nurse.takahashi")
    result = await coordinator.execute(
        ADD,
        {
            "p": pid,
            "u": await user_id(runtime, "nurse.takahashi"),
            "role": "MEMBER",
            "until": until,
        },
    )
    assert "errors" not in result, result
    assert ITO_NAME in await visible_names(nurse)
    # A week goes by: move the end date into the past, as time would.
    async with runtime.db.transaction() as session:
        await session.exec(
            update(TeamMembership)
            .where(col(TeamMembership.user_id) == uid)
            .where(col(TeamMembership.patient_id) == await patient_pk(runtime, ITO))
            .values(ends_at=utcnow() - timedelta(seconds=1))
        )
    assert ITO_NAME not in await visible_names(nurse)
    assert error(await nurse.execute(PATIENT, {"id": pid})) == ("NOT_FOUND", None)
    assert "nurse.takahashi" not in await team_of(coordinator, pid)


@pytest.mark.parametrize(
    "until",
    [
        (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "next tuesday",
    ],
    # Fixed ids: xdist workers must collect the same names.
    ids=["past", "without zone", "not a time"],
)
async def test_end_date_must_be_a_future_time_with_zone(
    gql: GraphQLClient, runtime: Runtime, until: str
) -> None:
    coordinator = await gql.login("cm.tanaka")
    before = await snapshot(runtime)
    result = await coordinator.execute(
        ADD,
        {
            "p": await patient_id(runtime, ITO),
            "u": await user_id(runtime, "nurse.takahashi"),
            "role": "MEMBER",
            "until": until,
        },
    )
    assert error(result)[0] == "BAD_USER_INPUT"
    assert await snapshot(runtime) == before


async def test_adding_someone_already_there_in_that_role_is_refused(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    before = await snapshot(runtime)
    result = await coordinator.execute(
        ADD,
        {
            "p": await patient_id(runtime, ITO),
            "u": await user_id(runtime, "nurse.sato"),
            "role": "MEMBER",
        },
    )
    assert error(result) == ("BAD_USER_INPUT", "userId")
    assert await snapshot(runtime) == before
