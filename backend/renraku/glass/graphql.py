"""GraphQL for break-the-glass: `breakGlass` and the clinician's own `myGlassAccesses`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from renraku.accounts.graphql import User
from renraku.context import Info
from renraku.glass import actions, service
from renraku.glass.models import GlassAccess as GlassAccessRow
from renraku.ids import decode_id, encode_id
from renraku.teams.graphql import Patient
from renraku.timeutil import utcnow


@strawberry.type(
    description="Time-limited, read-only access to a patient, with its reason. `active`: in force "
    "now (not expired, not ended); `patient`: the patient while in force, otherwise null."
)
class GlassAccess:
    row: strawberry.Private[GlassAccessRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        assert self.row.id is not None
        return strawberry.ID(encode_id("GlassAccess", self.row.id))

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field
    def starts_at(self) -> datetime:
        return self.row.starts_at

    @strawberry.field
    def expires_at(self) -> datetime:
        return self.row.expires_at

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return self.row.ended_at

    @strawberry.field
    def active(self) -> bool:
        return self.row.ended_at is None and self.row.expires_at > utcnow()

    @strawberry.field
    def patient_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Patient", self.row.patient_id))

    @strawberry.field
    async def patient(self, info: Info) -> Patient | None:
        # `may`, not `require`: a patient no longer visible is no refused attempt, just null.
        if not await info.context.gate.may(self.row.patient_id, "patient", "read"):
            # An expired access leaves its record, not the patient.
            return None
        row = await info.context.loaders.patients.load(self.row.patient_id)
        return Patient(row=row) if row is not None else None

    @strawberry.field
    async def user(self, info: Info) -> User:
        row = await info.context.loaders.users.load(self.row.user_id)
        assert row is not None  # users are deactivated, never deleted
        return User(row=row)


@strawberry.type
class Query:
    @strawberry.field(description="Your break-the-glass accesses, newest first.")
    async def my_glass_accesses(self, info: Info, active: bool | None = None) -> list[GlassAccess]:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            rows = await service.list_my_glass_accesses(session, actor=actor, active=active)
        return [GlassAccess(row=r) for r in rows]

    @strawberry.field(
        description="Who opened a patient's record by break-the-glass, when and why, newest "
        "first: for those who may read the patient's access history (its coordinators)."
    )
    async def patient_glass_accesses(
        self, info: Info, patient_id: strawberry.ID
    ) -> list[GlassAccess]:
        pid = decode_id("Patient", patient_id)
        await info.context.gate.require(pid, "patient.audit", "read")
        async with info.context.runtime.db.session() as session:
            rows = await service.list_patient_glass_accesses(session, patient_id=pid)
        return [GlassAccess(row=r) for r in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Open a patient whose team you are not on, read-only and for a few hours, "
        "with a stated reason (clinicians only). The team's coordinators are told."
    )
    async def break_glass(self, info: Info, patient_id: strawberry.ID, reason: str) -> GlassAccess:
        actor = info.context.require_actor()
        row = await actions.check_break_glass(
            info.context.runtime,
            actor=actor,
            patient_id=decode_id("Patient", patient_id),
            reason=reason,
        )
        return GlassAccess(row=row)
