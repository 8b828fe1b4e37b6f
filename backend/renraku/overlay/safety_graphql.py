"""GraphQL for the safety-check board: `setSafetyStatus`, `assignSafetyCheck`,
`safetyProgress` (completion per district) and `mySafetyChecks` (a carer's people to check).
Decisions live in overlay/safety.py; each entry of the priority list carries its `safety`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from renraku.access.fields import with_object
from renraku.accounts.graphql import User
from renraku.context import Info
from renraku.ids import decode_id, encode_id
from renraku.overlay import report, safety
from renraku.overlay.models import SafetyCheck as SafetyRow
from renraku.teams.graphql import Patient


@strawberry.enum
class SafetyStatus(Enum):
    UNKNOWN = "unknown"
    CONTACTED = "contacted"
    SAFE = "safe"
    NEEDS_HELP = "needs_help"
    EVACUATED = "evacuated"
    HOSPITALISED = "hospitalised"


@with_object
@strawberry.type
class SafetyCheck:
    row: strawberry.Private[SafetyRow]

    @strawberry.field
    def status(self) -> SafetyStatus:
        return SafetyStatus(self.row.status)

    @strawberry.field(description="Where the person went (evacuated or hospitalised).")
    def place(self) -> str:
        return self.row.place

    @strawberry.field
    def note(self) -> str:
        return self.row.note

    @strawberry.field
    def updated_at(self) -> datetime | None:
        return self.row.updated_at

    @strawberry.field
    async def updated_by(self, info: Info) -> User | None:
        if self.row.updated_by is None:
            return None
        row = await info.context.loaders.users.load(self.row.updated_by)
        return User(row=row) if row else None

    @strawberry.field(description="Who is to make the call.")
    async def assignee(self, info: Info) -> User | None:
        if self.row.assigned_to is None:
            return None
        row = await info.context.loaders.users.load(self.row.assigned_to)
        return User(row=row) if row else None


def unset(incident_id: int, patient_id: int) -> SafetyCheck:
    return SafetyCheck(row=SafetyRow(incident_id=incident_id, patient_id=patient_id))


@strawberry.input
class SetSafetyStatusInput:
    incident_id: strawberry.ID
    patient_id: strawberry.ID
    status: SafetyStatus
    place: str = ""
    note: str = ""
    client_id: str | None = strawberry.field(
        default=None, description="The phone's id for this send: a retry changes nothing."
    )


@strawberry.type
class DistrictProgress:
    district: str = strawberry.field(description="The town of the address; empty when unknown.")
    total: int
    reached: int = strawberry.field(description="Everyone whose status is no longer unknown.")
    safe: int
    needs_help: int
    evacuated: int
    hospitalised: int


@strawberry.type
class StatusCount:
    status: SafetyStatus
    count: int


@strawberry.type
class DistrictCompletion:
    district: str
    total: int
    reached: int


@strawberry.type(description="What an incident leaves behind: counts only, no names.")
class IncidentReport:
    incident_id: strawberry.ID
    drill: bool
    level: int
    starts_at: datetime
    ended_at: datetime | None
    listed: int = strawberry.field(description="People inside the incident.")
    reached: int = strawberry.field(description="People whose status was set.")
    by_status: list[StatusCount]
    median_minutes_to_reach: float | None = strawberry.field(
        description="From the start until each person's first status."
    )
    reached_within_hour: int
    districts: list[DistrictCompletion]


@strawberry.type
class MySafetyCheck:
    incident_id: strawberry.ID
    incident_reason: str
    incident_level: int
    patient: Patient
    check: SafetyCheck
    assigned_to_me: bool


@strawberry.type
class Query:
    @strawberry.field(description="An incident's safety checks counted per district.")
    async def safety_progress(
        self, info: Info, incident_id: strawberry.ID
    ) -> list[DistrictProgress]:
        async with info.context.runtime.db.session() as session:
            found = await safety.access_progress(
                session,
                actor=info.context.require_actor(),
                incident_id=decode_id("Incident", incident_id),
            )
        return [
            DistrictProgress(
                district=d.district,
                total=d.total,
                reached=d.reached,
                safe=d.by_status["safe"],
                needs_help=d.by_status["needs_help"],
                evacuated=d.by_status["evacuated"],
                hospitalised=d.by_status["hospitalised"],
            )
            for d in found
        ]

    @strawberry.field(
        description="An incident's report, for its municipality's manager and planners."
    )
    async def incident_report(self, info: Info, incident_id: strawberry.ID) -> IncidentReport:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            found = await report.access_report(
                session, actor=actor, incident_id=decode_id("Incident", incident_id)
            )
        incident = found.incident
        return IncidentReport(
            incident_id=incident_id,
            drill=incident.drill,
            level=incident.level,
            starts_at=incident.starts_at,
            ended_at=incident.ended_at,
            listed=found.listed,
            reached=found.reached,
            by_status=[
                StatusCount(status=SafetyStatus(s), count=n) for s, n in found.by_status.items()
            ],
            median_minutes_to_reach=found.median_minutes_to_reach,
            reached_within_hour=found.reached_within_hour,
            districts=[
                DistrictCompletion(district=d.district, total=d.total, reached=d.reached)
                for d in found.districts
            ],
        )

    @strawberry.field(
        description="Who may be given a person's safety call: the professionals of the "
        "person's team, then the municipality's planners and managers."
    )
    async def assignable_users(
        self, info: Info, incident_id: strawberry.ID, patient_id: strawberry.ID
    ) -> list[User]:
        async with info.context.runtime.db.session() as session:
            rows = await safety.list_assignable(
                session,
                gate=info.context.gate,
                incident_id=decode_id("Incident", incident_id),
                patient_id=decode_id("Patient", patient_id),
            )
        return [User(row=r) for r in rows]

    @strawberry.field(
        description="Your people inside incidents in force: your teams' and those assigned to you."
    )
    async def my_safety_checks(self, info: Info) -> list[MySafetyCheck]:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            found = await safety.list_my_checks(session, gate=info.context.gate)
        return [
            MySafetyCheck(
                incident_id=strawberry.ID(encode_id("Incident", incident.id or 0)),
                incident_reason=incident.reason,
                incident_level=incident.level,
                patient=Patient(row=patient),
                check=SafetyCheck(row=check) if check else unset(incident.id or 0, patient.id or 0),
                assigned_to_me=check is not None and check.assigned_to == actor.user_id,
            )
            for incident, patient, check in found
        ]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Set a person's safety status in an incident in force.")
    async def set_safety_status(self, info: Info, input: SetSafetyStatusInput) -> SafetyCheck:
        row = await safety.check_set_safety(
            info.context.runtime,
            gate=info.context.gate,
            value=safety.SafetyInput(
                incident_id=decode_id("Incident", input.incident_id),
                patient_id=decode_id("Patient", input.patient_id),
                status=input.status.value,
                place=input.place,
                note=input.note,
                client_id=input.client_id,
            ),
        )
        return SafetyCheck(row=row)

    @strawberry.mutation(description="Give a person's safety call to someone (null: nobody).")
    async def assign_safety_check(
        self,
        info: Info,
        incident_id: strawberry.ID,
        patient_id: strawberry.ID,
        user_id: strawberry.ID | None = None,
    ) -> SafetyCheck:
        row = await safety.check_assign_safety(
            info.context.runtime,
            gate=info.context.gate,
            incident_id=decode_id("Incident", incident_id),
            patient_id=decode_id("Patient", patient_id),
            user_id=decode_id("User", user_id) if user_id is not None else None,
        )
        return SafetyCheck(row=row)
