"""GraphQL for joining and leaving care teams: memberships, and invitations as invitees see them.

Resolvers decode ids and hand over to teams/membership.py and teams/invitations.py, which decide
through renraku.access and validate; any id the actor may not see answers NOT_FOUND.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from renraku.accounts.graphql import User, load_user
from renraku.context import Info
from renraku.errors import BadInput
from renraku.ids import decode_id, encode_id
from renraku.kinds import TeamRole
from renraku.teams import invitations, membership, service
from renraku.teams.graphql import TeamMember
from renraku.teams.membership import Joined
from renraku.teams.models import Invitation as InvitationRow

MIN_SEARCH = 2


@strawberry.type
class Invitation:
    row: strawberry.Private[InvitationRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        assert self.row.id is not None
        return strawberry.ID(encode_id("Invitation", self.row.id))

    @strawberry.field
    def role(self) -> TeamRole:
        assert self.row.role is not None  # team invitations always name a role
        return TeamRole(self.row.role)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def expires_at(self) -> datetime:
        return self.row.expires_at

    @strawberry.field
    async def invitee(self, info: Info) -> User | None:
        return await load_user(info, self.row.user_id)

    @strawberry.field
    async def invited_by(self, info: Info) -> User | None:
        return await load_user(info, self.row.invited_by)


def _member(joined: Joined) -> TeamMember:
    m = joined.membership
    return TeamMember(
        role=TeamRole(m.role), since=m.starts_at, until=m.ends_at, user=User(row=joined.user)
    )


@strawberry.type
class Query:
    @strawberry.field(description="Your open invitations to care teams.")
    async def my_invitations(self, info: Info) -> list[Invitation]:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            rows = await service.list_my_invitations(session, actor=actor)
        return [Invitation(row=r) for r in rows]

    @strawberry.field(
        description="A patient's team's open invitations, for whoever may invite to it."
    )
    async def team_invitations(self, info: Info, patient_id: strawberry.ID) -> list[Invitation]:
        pid = decode_id("Patient", patient_id)
        await info.context.gate.require(pid, "invitation", "create")
        async with info.context.runtime.db.session() as session:
            rows = await service.list_team_invitations(session, patient_id=pid)
        return [Invitation(row=r) for r in rows]

    @strawberry.field(
        description="Accounts that could join a patient's team in `role`, by name, reading or "
        "username (at least two characters), for whoever may invite to it; at most 20."
    )
    async def joinable_users(
        self, info: Info, patient_id: strawberry.ID, role: TeamRole, search: str
    ) -> list[User]:
        pid = decode_id("Patient", patient_id)
        await info.context.gate.require(pid, "invitation", "create")
        if len(search.strip()) < MIN_SEARCH:
            raise BadInput(f"Type at least {MIN_SEARCH} characters.", field="search")
        async with info.context.runtime.db.session() as session:
            patient = await service.get_live_patient(session, pid)
            rows = await service.search_joinable_users(
                session, patient=patient, kinds=membership.kinds_for(role), search=search
            )
        return [User(row=r) for r in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Put a user on a care team (or change their role).")
    async def add_team_member(
        self,
        info: Info,
        patient_id: strawberry.ID,
        user_id: strawberry.ID,
        role: TeamRole,
        until: datetime | None = None,
    ) -> TeamMember:
        joined = await membership.check_add_member(
            info.context.runtime,
            gate=info.context.gate,
            patient_id=decode_id("Patient", patient_id),
            user_id=decode_id("User", user_id),
            role=role,
            until=until,
        )
        return _member(joined)

    @strawberry.mutation(description="Take a user off a care team, at once.")
    async def end_team_membership(
        self, info: Info, patient_id: strawberry.ID, user_id: strawberry.ID, reason: str
    ) -> TeamMember:
        ended = await membership.check_end_membership(
            info.context.runtime,
            gate=info.context.gate,
            patient_id=decode_id("Patient", patient_id),
            user_id=decode_id("User", user_id),
            reason=reason,
        )
        return _member(ended)

    @strawberry.mutation(description="Invite a user to a care team.")
    async def invite_to_team(
        self, info: Info, patient_id: strawberry.ID, user_id: strawberry.ID, role: TeamRole
    ) -> Invitation:
        row = await invitations.check_invite(
            info.context.runtime,
            gate=info.context.gate,
            patient_id=decode_id("Patient", patient_id),
            user_id=decode_id("User", user_id),
            role=role,
        )
        return Invitation(row=row)

    @strawberry.mutation(description="Accept an invitation to a care team.")
    async def accept_invitation(self, info: Info, id: strawberry.ID) -> TeamMember:
        joined = await invitations.check_accept_invitation(
            info.context.runtime,
            actor=info.context.require_actor(),
            invitation_id=decode_id("Invitation", id),
        )
        return _member(joined)

    @strawberry.mutation(description="Decline an invitation to a care team.")
    async def decline_invitation(self, info: Info, id: strawberry.ID) -> Invitation:
        row = await invitations.check_decline_invitation(
            info.context.runtime,
            actor=info.context.require_actor(),
            invitation_id=decode_id("Invitation", id),
        )
        return Invitation(row=row)
