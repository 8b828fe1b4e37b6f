"""Team changes reach the notebook's event log: joining, a coordinator replaced, leaving, an
accepted invitation and offboarding each append MEMBERSHIP_CHANGED in the same transaction."""

from __future__ import annotations

from renraku.ids import decode_id
from renraku.runtime import Runtime
from tests.feed.post_support import Clients, clients, events_of, last_event_id, patient_gid
from tests.teams.helpers import user_id, user_pk

__all__ = ["clients"]

ADD = """mutation($p: ID!, $u: ID!, $role: TeamRole!) {
  addTeamMember(patientId: $p, userId: $u, role: $role) { role } }"""
END = """mutation($p: ID!, $u: ID!) {
  endTeamMembership(patientId: $p, userId: $u, reason: "担当変更") { role } }"""
INVITE = """mutation($p: ID!, $u: ID!) {
  inviteToTeam(patientId: $p, userId: $u, role: MEMBER) { id } }"""
ACCEPT = "mutation($id: ID!) { acceptInvitation(id: $id) { role } }"
OFFBOARD = """mutation($u: ID!) {
  offboardProfessional(userId: $u, reason: "退職") { endedMemberships } }"""


async def _changes(runtime: Runtime, after: int) -> list[tuple[int, int | None, int | None, str]]:
    return [
        (e.patient_id, e.subject_user_id, e.actor_id, e.audience)
        for e in await events_of(runtime, after=after, kind="feed.membership_changed")
    ]


async def test_adding_replacing_and_removing_members_are_events(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await patient_gid(runtime, "pt-ito-haru")
    patient = decode_id("Patient", pid)
    coordinator = await clients("cm.tanaka")
    me = await user_pk(runtime, "cm.tanaka")
    takahashi = await user_pk(runtime, "nurse.takahashi")
    mark = await last_event_id(runtime)
    added = await coordinator.execute(
        ADD, {"p": pid, "u": await user_id(runtime, "nurse.takahashi"), "role": "MEMBER"}
    )
    assert "errors" not in added, added
    assert await _changes(runtime, mark) == [(patient, takahashi, me, "team")]

    mark = await last_event_id(runtime)
    manager = await clients("manager.gamagori")
    boss = await user_pk(runtime, "manager.gamagori")
    promoted = await manager.execute(
        ADD, {"p": pid, "u": await user_id(runtime, "nurse.takahashi"), "role": "COORDINATOR"}
    )
    assert "errors" not in promoted, promoted
    # The new coordinator, and the one demoted to member.
    assert await _changes(runtime, mark) == [
        (patient, takahashi, boss, "team"),
        (patient, me, boss, "team"),
    ]

    mark = await last_event_id(runtime)
    ended = await manager.execute(END, {"p": pid, "u": await user_id(runtime, "nurse.takahashi")})
    assert "errors" not in ended, ended
    assert await _changes(runtime, mark) == [(patient, takahashi, boss, "team")]


async def test_a_refused_change_appends_no_event(clients: Clients, runtime: Runtime) -> None:
    pid = await patient_gid(runtime, "pt-ito-haru")
    mark = await last_event_id(runtime)
    nurse = await clients("nurse.sato")  # a member: may not manage the team
    refused = await nurse.execute(
        ADD, {"p": pid, "u": await user_id(runtime, "nurse.takahashi"), "role": "MEMBER"}
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await events_of(runtime, after=mark) == []


async def test_an_accepted_invitation_is_an_event_by_the_one_who_joined(
    clients: Clients, runtime: Runtime
) -> None:
    pid = await patient_gid(runtime, "pt-sugiura-kazuko")
    coordinator = await clients("cm.tanaka")
    invited = await coordinator.execute(
        INVITE, {"p": pid, "u": await user_id(runtime, "nurse.sato")}
    )
    assert "errors" not in invited, invited
    mark = await last_event_id(runtime)
    nurse = await clients("nurse.sato")
    accepted = await nurse.execute(ACCEPT, {"id": invited["data"]["inviteToTeam"]["id"]})
    assert "errors" not in accepted, accepted
    sato = await user_pk(runtime, "nurse.sato")
    assert await _changes(runtime, mark) == [(decode_id("Patient", pid), sato, sato, "team")]


async def test_offboarding_is_an_event_on_every_team_left(
    clients: Clients, runtime: Runtime
) -> None:
    manager = await clients("manager.gamagori")
    mark = await last_event_id(runtime)
    done = await manager.execute(OFFBOARD, {"u": await user_id(runtime, "nurse.takahashi")})
    assert "errors" not in done, done
    takahashi = await user_pk(runtime, "nurse.takahashi")
    changes = await _changes(runtime, mark)
    teams = {
        await patient_gid(runtime, key)
        for key in ("pt-nakano-shigeru", "pt-okamoto-fumi", "pt-hattori-kiyo", "pt-goto-isamu")
    }
    assert sorted(p for p, *_ in changes) == sorted(decode_id("Patient", t) for t in teams)
    assert {(s, a) for _, s, a, _ in changes} == {
        (takahashi, await user_pk(runtime, "manager.gamagori"))
    }
    assert done["data"]["offboardProfessional"]["endedMemberships"] == len(changes)
