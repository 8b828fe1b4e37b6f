"""GraphQL for changing a patient's record: create, update, risk profile, consent, archive.

Resolvers decode ids and hand over to teams/actions.py, which decides through renraku.access and
validates; any id the actor may not see answers NOT_FOUND.
"""

from __future__ import annotations

import strawberry

from renraku.accounts.graphql import load_user
from renraku.context import Info
from renraku.ids import decode_id
from renraku.kinds import ArchiveReason, ConsentKind
from renraku.teams import actions, service
from renraku.teams.graphql import ConsentRecord, Patient
from renraku.teams.inputs import CreatePatientInput, RiskProfileInput, UpdatePatientInput


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a patient in your municipality (team managers).")
    async def create_patient(self, info: Info, input: CreatePatientInput) -> Patient:
        row = await actions.check_create_patient(
            info.context.runtime,
            actor=info.context.require_actor(),
            fields=input.to_fields(),
            risk=input.risk_fields(),
        )
        return Patient(row=row)

    @strawberry.mutation(description="Change a patient's record.")
    async def update_patient(
        self, info: Info, id: strawberry.ID, input: UpdatePatientInput
    ) -> Patient:
        row = await actions.check_update_patient(
            info.context.runtime,
            gate=info.context.gate,
            patient_id=decode_id("Patient", id),
            changes=input.changes(),
        )
        return Patient(row=row)

    @strawberry.mutation(
        description="Change attributes of a patient's risk profile; returns the patient, whose "
        "`risk` the caller reads only if allowed to (a manager may update it without reading it)."
    )
    async def update_risk_profile(
        self, info: Info, patient_id: strawberry.ID, input: RiskProfileInput
    ) -> Patient:
        pk = decode_id("Patient", patient_id)
        await actions.check_update_risk(
            info.context.runtime, gate=info.context.gate, patient_id=pk, risk=input.to_fields()
        )
        async with info.context.runtime.db.session() as session:
            row = await service.get_live_patient(session, pk)
        return Patient(row=row)

    @strawberry.mutation(description="Record a consent decision for a patient.")
    async def record_consent(
        self,
        info: Info,
        patient_id: strawberry.ID,
        kind: ConsentKind,
        granted: bool,
        note: str | None = None,
    ) -> ConsentRecord:
        row = await actions.check_record_consent(
            info.context.runtime,
            gate=info.context.gate,
            patient_id=decode_id("Patient", patient_id),
            kind=kind,
            granted=granted,
            note=note,
        )
        return ConsentRecord(
            kind=row.kind,
            granted=row.granted,
            note=row.note,
            recorded_at=row.recorded_at,
            recorded_by=await load_user(info, row.recorded_by),
        )

    @strawberry.mutation(description="Archive a patient: out of every list, kept until purged.")
    async def archive_patient(
        self, info: Info, id: strawberry.ID, reason: ArchiveReason, note: str | None = None
    ) -> Patient:
        row = await actions.check_archive_patient(
            info.context.runtime,
            gate=info.context.gate,
            patient_id=decode_id("Patient", id),
            reason=reason,
            note=note,
        )
        return Patient(row=row)
