"""`offboardProfessional`: a municipality manager takes a professional off every team of the
municipality in one step; other municipalities' teams are not theirs to touch."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select as core_select
from sqlmodel import select

from renraku.ids import encode_id
from renraku.notices.models import Notice
from renraku.runtime import Runtime
from renraku.tables import table_of
from renraku.teams.models import Invitation, TeamMembership
from tests.support.graphql import GraphQLClient, error_codes
from tests.teams.helpers import (
    audit_actions,
    error,
    last_audit_id,
    patient_id,
    patient_pk,
    user_id,
    user_pk,
    visible_names,
)

OFFBOARD = """
mutation($u: ID!, $reason: String) {
  offboardProfessional(userId: $u, reason: $reason) {
    user { username }
    teamsAffected { patientId coordinator { username } }
    endedMemberships revokedInvitations }
}
"""
INVITE = """
mutation($p: ID!, $u: ID!) { inviteToTeam(patientId: $p, userId: $u, role: MEMBER) { id } }
"""
MINE = "{ myInvitations { id } }"
ACTION = "teams.professional_offboarded"
NOTICE = "member_offboarded"


def _teams(demo: dict[str, Any], username: str, municipality: str) -> list[dict[str, Any]]:
    return [
        p for p in demo["patients"] if username in p["team"] and p["municipality"] == municipality
    ]


async def _rows(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Memberships, invitations, notices and offboarding records: what offboarding may change."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with runtime.db.session() as session:
        for model in (TeamMembership, Invitation, Notice):
            table = table_of(model)
            result = await (await session.connection()).execute(
                core_select(table).order_by(*table.primary_key.columns)
            )
            rows[table.name] = [tuple(r) for r in result.all()]
    rows["audit"] = [
        (r.id, r.object_ids) for r in await audit_actions(runtime) if r.action == ACTION
    ]
    return rows


async def test_the_manager_takes_a_professional_off_every_team_of_the_municipality(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    # dr.yamamoto of 西尾市 is also on one team in 蒲郡市, which 西尾市's manager leaves alone.
    nishio_teams = _teams(demo, "dr.yamamoto", "232131")
    gamagori_teams = _teams(demo, "dr.yamamoto", "232149")
    assert nishio_teams and gamagori_teams
    doctor = await gql.login("dr.yamamoto")
    manager = await gql.login("manager.nishio")
    before = await last_audit_id(runtime)

    result = await manager.execute(
        OFFBOARD, {"u": await user_id(runtime, "dr.yamamoto"), "reason": "退職"}
    )
    assert "errors" not in result, result
    done = result["data"]["offboardProfessional"]
    assert done["user"] == {"username": "dr.yamamoto"}
    assert done["endedMemberships"] == len(nishio_teams)
    assert done["revokedInvitations"] == 0
    assert {t["patientId"]: t["coordinator"]["username"] for t in done["teamsAffected"]} == {
        await patient_id(runtime, p["key"]): p["coordinator"] for p in nishio_teams
    }
    assert await visible_names(doctor) == {p["display_name"] for p in gamagori_teams}

    [record] = [r for r in await audit_actions(runtime, before) if r.action == ACTION]
    assert record.object_ids == sorted([await patient_pk(runtime, p["key"]) for p in nishio_teams])
    assert record.reason == "退職"
    assert record.detail["user_id"] == await user_pk(runtime, "dr.yamamoto")

    async with runtime.db.session() as session:
        notices = (await session.exec(select(Notice).where(Notice.kind == NOTICE))).all()
    doctor_pk = await user_pk(runtime, "dr.yamamoto")
    expected = [
        (await user_pk(runtime, p["coordinator"]), await patient_pk(runtime, p["key"]))
        for p in nishio_teams
    ]
    assert sorted((n.user_id, n.patient_id) for n in notices) == sorted(expected)
    assert all(n.data == {"user_id": doctor_pk} for n in notices)


async def test_open_invitations_of_the_municipality_are_revoked(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    not_on = next(
        p
        for p in demo["patients"]
        if p["municipality"] == "232131" and "dr.yamamoto" not in p["team"]
    )
    manager = await gql.login("manager.nishio")
    invited = await manager.execute(
        INVITE,
        {"p": await patient_id(runtime, not_on["key"]), "u": await user_id(runtime, "dr.yamamoto")},
    )
    assert "errors" not in invited, invited
    doctor = await gql.login("dr.yamamoto")
    assert len((await doctor.execute(MINE))["data"]["myInvitations"]) == 1

    result = await manager.execute(OFFBOARD, {"u": await user_id(runtime, "dr.yamamoto")})
    assert "errors" not in result, result
    assert result["data"]["offboardProfessional"]["revokedInvitations"] == 1
    assert (await doctor.execute(MINE))["data"]["myInvitations"] == []
    accepted = await doctor.execute(
        "mutation($id: ID!) { acceptInvitation(id: $id) { role } }",
        {"id": invited["data"]["inviteToTeam"]["id"]},
    )
    assert error_codes(accepted) == ["NOT_FOUND"]
    assert not_on["display_name"] not in await visible_names(doctor)


async def test_offboarding_the_coordinator_leaves_the_team_without_one(
    gql: GraphQLClient, runtime: Runtime, demo: dict[str, Any]
) -> None:
    coordinated = [p for p in demo["patients"] if p["coordinator"] == "cm.yamada"]
    manager = await gql.login("manager.nishio")
    result = await manager.execute(OFFBOARD, {"u": await user_id(runtime, "cm.yamada")})
    assert "errors" not in result, result
    affected = result["data"]["offboardProfessional"]["teamsAffected"]
    assert {t["patientId"] for t in affected} >= {
        await patient_id(runtime, p["key"]) for p in coordinated
    }
    assert all(t["coordinator"] is None for t in affected)
    async with runtime.db.session() as session:
        # Nobody coordinates these teams now, so nobody is told; the manager has the list.
        assert (await session.exec(select(Notice).where(Notice.kind == NOTICE))).all() == []


async def test_a_professional_without_teams_is_offboarded_with_nothing_to_end(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    manager = await gql.login("manager.nishio")
    uid = await user_id(runtime, "dr.yamamoto")
    assert "errors" not in await manager.execute(OFFBOARD, {"u": uid})
    again = await manager.execute(OFFBOARD, {"u": uid})
    assert "errors" not in again, again
    assert again["data"]["offboardProfessional"]["teamsAffected"] == []
    assert again["data"]["offboardProfessional"]["endedMemberships"] == 0


@pytest.mark.parametrize(
    ("actor", "target"),
    [
        ("manager.gamagori", "dr.yamamoto"),  # a professional of another municipality
        ("manager.gamagori", "nurse.kimura"),
        ("manager.nishio", "family.okada"),  # not a professional
        ("manager.nishio", "planner.nishio"),
        ("manager.nishio", "manager.nishio"),  # oneself
        ("planner.nishio", "dr.yamamoto"),  # not a manager
        ("cm.shimizu", "dr.yamamoto"),  # coordinates a team dr.yamamoto is on
        ("dr.inoue", "dr.yamamoto"),
        ("family.okada", "dr.yamamoto"),
        ("operator", "dr.yamamoto"),
    ],
)
async def test_anyone_or_anything_else_is_not_found_and_nothing_changes(
    gql: GraphQLClient, runtime: Runtime, actor: str, target: str
) -> None:
    before = await _rows(runtime)
    client = await gql.login(actor)
    result = await client.execute(OFFBOARD, {"u": await user_id(runtime, target)})
    assert error(result) == ("NOT_FOUND", None)
    assert result.get("data") is None
    assert await _rows(runtime) == before


@pytest.mark.parametrize(
    "bad_id",
    ["", "garbage", encode_id("User", 999_999), encode_id("Patient", 1), "u" * 10_000],
)
async def test_an_id_that_names_no_user_is_not_found(
    gql: GraphQLClient, runtime: Runtime, bad_id: str
) -> None:
    before = await _rows(runtime)
    manager = await gql.login("manager.nishio")
    assert error(await manager.execute(OFFBOARD, {"u": bad_id})) == ("NOT_FOUND", None)
    assert await _rows(runtime) == before


@pytest.mark.parametrize(
    "reason", ["理由" * 201, "\u202e" + "退職" * 201], ids=["too long", "too long once cleaned"]
)
async def test_a_bad_reason_is_refused_and_nothing_changes(
    gql: GraphQLClient, runtime: Runtime, reason: str
) -> None:
    before = await _rows(runtime)
    manager = await gql.login("manager.nishio")
    result = await manager.execute(
        OFFBOARD, {"u": await user_id(runtime, "dr.yamamoto"), "reason": reason}
    )
    assert error(result) == ("BAD_USER_INPUT", "reason")
    assert await _rows(runtime) == before


async def test_signed_out_is_unauthenticated(gql: GraphQLClient, runtime: Runtime) -> None:
    before = await _rows(runtime)
    result = await gql.execute(OFFBOARD, {"u": await user_id(runtime, "dr.yamamoto")})
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert await _rows(runtime) == before
