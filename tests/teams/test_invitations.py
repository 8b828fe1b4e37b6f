"""Invitations: the coordinator or manager invites, only the invitee accepts or declines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select, update

from renraku.ids import decode_id, encode_id
from renraku.runtime import Runtime
from renraku.teams.models import Invitation
from renraku.timeutil import utcnow
from tests.support.graphql import GraphQLClient
from tests.teams.helpers import (
    audit_actions,
    error,
    last_audit_id,
    patient_id,
    patient_pk,
    snapshot,
    user_id,
    visible_names,
)

INVITE = """
mutation($p: ID!, $u: ID!, $role: TeamRole!) {
  inviteToTeam(patientId: $p, userId: $u, role: $role) {
    id role createdAt expiresAt invitee { username } invitedBy { username } }
}
"""
MINE = "{ myInvitations { id role expiresAt invitedBy { username } } }"
ACCEPT = "mutation($id: ID!) { acceptInvitation(id: $id) { role user { username } } }"
DECLINE = "mutation($id: ID!) { declineInvitation(id: $id) { id } }"
ITO, ITO_NAME = "pt-ito-haru", "伊藤 ハル"


async def invite(
    runtime: Runtime, client: GraphQLClient, username: str = "nurse.takahashi", role: str = "MEMBER"
) -> str:
    result = await client.execute(
        INVITE,
        {"p": await patient_id(runtime, ITO), "u": await user_id(runtime, username), "role": role},
    )
    assert "errors" not in result, result
    invitation_id: str = result["data"]["inviteToTeam"]["id"]
    return invitation_id


@pytest.mark.parametrize("inviter", ["cm.tanaka", "manager.gamagori"])
async def test_invitee_sees_the_invitation_and_joins_by_accepting(
    gql: GraphQLClient, runtime: Runtime, inviter: str
) -> None:
    client = await gql.login(inviter)
    nurse = await gql.login("nurse.takahashi")
    before = await last_audit_id(runtime)
    result = await client.execute(
        INVITE,
        {
            "p": await patient_id(runtime, ITO),
            "u": await user_id(runtime, "nurse.takahashi"),
            "role": "MEMBER",
        },
    )
    invitation = result["data"]["inviteToTeam"]
    assert invitation["invitee"] == {"username": "nurse.takahashi"}
    assert invitation["invitedBy"] == {"username": inviter}
    mine = (await nurse.execute(MINE))["data"]["myInvitations"]
    assert [i["id"] for i in mine] == [invitation["id"]]
    # Invited is not yet on the team.
    assert ITO_NAME not in await visible_names(nurse)

    accepted = await nurse.execute(ACCEPT, {"id": invitation["id"]})
    assert accepted["data"]["acceptInvitation"] == {
        "role": "MEMBER",
        "user": {"username": "nurse.takahashi"},
    }
    assert ITO_NAME in await visible_names(nurse)
    assert (await nurse.execute(MINE))["data"]["myInvitations"] == []
    actions = [r.action for r in await audit_actions(runtime, before)]
    assert actions == ["teams.invitation_created", "teams.invitation_accepted"]


async def test_the_token_is_stored_only_as_a_hash_and_expires_after_the_configured_days(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    invitation_id = await invite(runtime, coordinator)
    async with runtime.db.session() as session:
        row = await session.get(Invitation, decode_id("Invitation", invitation_id))
    assert row is not None
    assert len(row.token_hash) == 64 and int(row.token_hash, 16) >= 0
    lifetime = row.expires_at - row.created_at
    assert lifetime == timedelta(days=runtime.settings.invitation_days)


async def test_only_the_invitee_may_accept_or_decline(gql: GraphQLClient, runtime: Runtime) -> None:
    coordinator = await gql.login("cm.tanaka")
    invitation_id = await invite(runtime, coordinator)
    before = await snapshot(runtime)
    for username in ("nurse.sato", "cm.tanaka", "manager.gamagori", "helper.nakamura"):
        other = await gql.login(username)
        assert (await other.execute(MINE))["data"]["myInvitations"] == []
        assert error(await other.execute(ACCEPT, {"id": invitation_id})) == ("NOT_FOUND", None)
        assert error(await other.execute(DECLINE, {"id": invitation_id})) == ("NOT_FOUND", None)
    assert await snapshot(runtime) == before


async def test_declined_invitation_can_no_longer_be_accepted(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    nurse = await gql.login("nurse.takahashi")
    invitation_id = await invite(runtime, coordinator)
    declined = await nurse.execute(DECLINE, {"id": invitation_id})
    assert declined["data"]["declineInvitation"]["id"] == invitation_id
    before = await snapshot(runtime)
    assert error(await nurse.execute(ACCEPT, {"id": invitation_id})) == ("NOT_FOUND", None)
    assert error(await nurse.execute(DECLINE, {"id": invitation_id})) == ("NOT_FOUND", None)
    assert await snapshot(runtime) == before
    assert ITO_NAME not in await visible_names(nurse)


async def test_accepted_invitation_cannot_be_accepted_twice(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    nurse = await gql.login("nurse.takahashi")
    invitation_id = await invite(runtime, coordinator)
    assert "errors" not in await nurse.execute(ACCEPT, {"id": invitation_id})
    before = await snapshot(runtime)
    assert error(await nurse.execute(ACCEPT, {"id": invitation_id})) == ("NOT_FOUND", None)
    assert await snapshot(runtime) == before


@pytest.mark.parametrize("state", ["expired", "revoked"])
async def test_expired_or_revoked_invitations_are_not_found(
    gql: GraphQLClient, runtime: Runtime, state: str
) -> None:
    coordinator = await gql.login("cm.tanaka")
    nurse = await gql.login("nurse.takahashi")
    invitation_id = await invite(runtime, coordinator)
    values = (
        {"expires_at": utcnow() - timedelta(seconds=1)}
        if state == "expired"
        else {"revoked_at": utcnow()}
    )
    async with runtime.db.transaction() as session:
        await session.exec(
            update(Invitation)
            .where(col(Invitation.id) == decode_id("Invitation", invitation_id))
            .values(**values)
        )
    before = await snapshot(runtime)
    assert (await nurse.execute(MINE))["data"]["myInvitations"] == []
    assert error(await nurse.execute(ACCEPT, {"id": invitation_id})) == ("NOT_FOUND", None)
    assert await snapshot(runtime) == before
    assert ITO_NAME not in await visible_names(nurse)


async def test_removing_a_member_revokes_their_open_invitation(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    nurse = await gql.login("nurse.sato")
    # Already a member; invited to become coordinator; then removed.
    invitation_id = await invite(runtime, coordinator, "nurse.sato", "COORDINATOR")
    ended = await coordinator.execute(
        "mutation($p: ID!, $u: ID!) { endTeamMembership(patientId: $p, userId: $u, "
        'reason: "異動") { role } }',
        {"p": await patient_id(runtime, ITO), "u": await user_id(runtime, "nurse.sato")},
    )
    assert "errors" not in ended, ended
    assert error(await nurse.execute(ACCEPT, {"id": invitation_id})) == ("NOT_FOUND", None)
    assert ITO_NAME not in await visible_names(nurse)


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("nurse.sato", "FORBIDDEN"),
        ("family.ito", "FORBIDDEN"),
        ("nurse.takahashi", "NOT_FOUND"),
        ("manager.nishio", "NOT_FOUND"),
        ("planner.nishio", "NOT_FOUND"),
    ],
)
async def test_others_cannot_invite(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    client = await gql.login(username)
    before = await snapshot(runtime)
    result = await client.execute(
        INVITE,
        {
            "p": await patient_id(runtime, ITO),
            "u": await user_id(runtime, "helper.nakamura"),
            "role": "MEMBER",
        },
    )
    assert error(result) == (code, None)
    assert await snapshot(runtime) == before


async def test_invitations_follow_the_membership_rules(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid = await patient_id(runtime, ITO)
    before = await snapshot(runtime)
    cases = [
        ("dr.inoue", "MEMBER", ("NOT_FOUND", None)),  # another municipality's professional
        ("family.ito", "MEMBER", ("BAD_USER_INPUT", "role")),
        ("nurse.sato", "MEMBER", ("BAD_USER_INPUT", "userId")),  # already a member
    ]
    for username, role, expected in cases:
        result = await coordinator.execute(
            INVITE, {"p": pid, "u": await user_id(runtime, username), "role": role}
        )
        assert error(result) == expected, username
    assert await snapshot(runtime) == before
    await invite(runtime, coordinator)
    again = await coordinator.execute(
        INVITE, {"p": pid, "u": await user_id(runtime, "nurse.takahashi"), "role": "MEMBER"}
    )
    assert error(again) == ("BAD_USER_INPUT", "userId")


@pytest.mark.parametrize("bad_id", ["%%%", encode_id("Invitation", 999_999), encode_id("User", 1)])
async def test_malformed_or_missing_invitation_ids_are_not_found(
    gql: GraphQLClient, runtime: Runtime, bad_id: str
) -> None:
    nurse = await gql.login("nurse.takahashi")
    assert error(await nurse.execute(ACCEPT, {"id": bad_id})) == ("NOT_FOUND", None)
    assert error(await nurse.execute(DECLINE, {"id": bad_id})) == ("NOT_FOUND", None)


async def test_invitation_to_an_archived_patient_is_gone(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    nurse = await gql.login("nurse.takahashi")
    invitation_id = await invite(runtime, coordinator)
    manager = await gql.login("manager.gamagori")
    archived = await manager.execute(
        "mutation($id: ID!) { archivePatient(id: $id, reason: MOVE) { id } }",
        {"id": await patient_id(runtime, ITO)},
    )
    assert "errors" not in archived, archived
    assert (await nurse.execute(MINE))["data"]["myInvitations"] == []
    assert error(await nurse.execute(ACCEPT, {"id": invitation_id})) == ("NOT_FOUND", None)
    async with runtime.db.session() as session:
        row = (
            await session.exec(
                select(Invitation).where(Invitation.patient_id == await patient_pk(runtime, ITO))
            )
        ).one()
    assert row.accepted_at is None


TEAM_INVITATIONS = """
query($p: ID!) { teamInvitations(patientId: $p) { id role invitee { username } } }
"""
NOTICES = "{ myNotices(first: 20) { edges { node { kind patientId data } } } }"


async def test_the_coordinator_lists_the_teams_open_invitations_and_the_invitee_is_told(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    coordinator = await gql.login("cm.tanaka")
    invitation = await invite(runtime, coordinator)
    pid = await patient_id(runtime, ITO)
    listed = await coordinator.execute(TEAM_INVITATIONS, {"p": pid})
    assert listed["data"]["teamInvitations"] == [
        {"id": invitation, "role": "MEMBER", "invitee": {"username": "nurse.takahashi"}}
    ]
    nurse = await gql.login("nurse.takahashi")
    notices = (await nurse.execute(NOTICES))["data"]["myNotices"]["edges"]
    told = [n["node"] for n in notices if n["node"]["kind"] == "team_invitation"]
    # The notice names the invitation, never the patient: that is learnt on accepting.
    assert told == [
        {
            "kind": "team_invitation",
            "patientId": None,
            "data": {"invitationId": invitation, "role": "member"},
        }
    ]
    assert "errors" not in await nurse.execute(ACCEPT, {"id": invitation})
    assert (await coordinator.execute(TEAM_INVITATIONS, {"p": pid}))["data"][
        "teamInvitations"
    ] == []


@pytest.mark.parametrize(
    ("username", "code"),
    [("nurse.sato", "FORBIDDEN"), ("family.ito", "FORBIDDEN"), ("nurse.kimura", "NOT_FOUND")],
)
async def test_only_those_who_may_invite_list_the_invitations(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    await invite(runtime, await gql.login("cm.tanaka"))
    client = await gql.login(username)
    result = await client.execute(TEAM_INVITATIONS, {"p": await patient_id(runtime, ITO)})
    assert error(result) == (code, None)


JOINABLE = """
query($p: ID!, $role: TeamRole!, $q: String!) {
  joinableUsers(patientId: $p, role: $role, search: $q) { username }
}
"""


async def test_the_coordinator_finds_professionals_of_the_municipality_not_on_the_team(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    coordinator = await gql.login("cm.tanaka")
    pid = await patient_id(runtime, ITO)
    found = await coordinator.execute(JOINABLE, {"p": pid, "role": "MEMBER", "q": "nurse"})
    names = {u["username"] for u in found["data"]["joinableUsers"]}
    ito = next(p for p in demo["patients"] if p["key"] == ITO)
    gamagori_nurses = {
        a["username"]
        for a in demo["accounts"]
        if a["username"].startswith("nurse.") and a.get("municipality") == ito["municipality"]
    }
    assert names == gamagori_nurses - set(ito["team"])
    assert "nurse.takahashi" in names and "nurse.kimura" not in names  # 西尾市's
    family = await coordinator.execute(JOINABLE, {"p": pid, "role": "FAMILY", "q": "family"})
    assert {u["username"] for u in family["data"]["joinableUsers"]} <= {
        a["username"] for a in demo["accounts"] if a["kind"] in ("family", "patient")
    }
    # A pattern's wildcards are plain characters; one letter is too short.
    assert (await coordinator.execute(JOINABLE, {"p": pid, "role": "MEMBER", "q": "%_"}))["data"][
        "joinableUsers"
    ] == []
    assert error(await coordinator.execute(JOINABLE, {"p": pid, "role": "MEMBER", "q": "n"})) == (
        "BAD_USER_INPUT",
        "search",
    )


@pytest.mark.parametrize(
    ("username", "code"),
    [("nurse.sato", "FORBIDDEN"), ("family.ito", "FORBIDDEN"), ("nurse.kimura", "NOT_FOUND")],
)
async def test_only_those_who_may_invite_search(
    gql: GraphQLClient, runtime: Runtime, username: str, code: str
) -> None:
    client = await gql.login(username)
    pid = await patient_id(runtime, ITO)
    result = await client.execute(JOINABLE, {"p": pid, "role": "MEMBER", "q": "nurse"})
    assert error(result) == (code, None)
