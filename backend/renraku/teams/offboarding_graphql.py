"""GraphQL for `offboardProfessional` (teams/offboarding.py decides and does the work)."""

from __future__ import annotations

import strawberry

from renraku.accounts.graphql import User
from renraku.context import Info
from renraku.ids import decode_id, encode_id
from renraku.teams import offboarding


@strawberry.type
class AffectedTeam:
    patient_id: strawberry.ID
    coordinator: User | None = strawberry.field(
        description="The team's coordinator now; null if the offboarded professional was it."
    )


@strawberry.type
class OffboardResult:
    user: User
    teams_affected: list[AffectedTeam]
    ended_memberships: int
    revoked_invitations: int


@strawberry.type
class Mutation:
    # strawberry types the decorator with arguments loosely; the resolver itself is typed.
    @strawberry.mutation(
        description="Take a professional off every care team of your municipality at once."
    )
    async def offboard_professional(
        self, info: Info, user_id: strawberry.ID, reason: str | None = None
    ) -> OffboardResult:
        done = await offboarding.check_offboard_professional(
            info.context.runtime,
            actor=info.context.require_actor(),
            user_id=decode_id("User", user_id),
            reason=reason,
        )
        return OffboardResult(
            user=User(row=done.user),
            teams_affected=[
                AffectedTeam(
                    patient_id=strawberry.ID(encode_id("Patient", t.patient_id)),
                    coordinator=User(row=t.coordinator) if t.coordinator else None,
                )
                for t in done.teams
            ],
            ended_memberships=done.ended_memberships,
            revoked_invitations=done.revoked_invitations,
        )
