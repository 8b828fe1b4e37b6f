"""GraphQL for patients and care teams: `patients`, `patient`, Patient, CareTeam."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

import strawberry

from renraku.access.fields import CheckedBy, PerViewer, Requires, with_object
from renraku.access.vocabulary import Obj
from renraku.accounts.graphql import User
from renraku.audit import graphql as audit_graphql
from renraku.audit.graphql import AccessConnection
from renraku.context import Info
from renraku.feed import graphql as feed_graphql
from renraku.feed import lists_graphql
from renraku.feed.graphql import PostConnection
from renraku.feed.receipts import Unread
from renraku.ids import decode_id, encode_id
from renraku.kinds import CareLevel, Living, Mobility, TeamRole
from renraku.page_info import PageInfo
from renraku.teams import service
from renraku.teams.models import Patient as PatientRow
from renraku.teams.models import RiskProfile as RiskRow

strawberry.enum(TeamRole)
strawberry.enum(CareLevel)
strawberry.enum(Mobility)
strawberry.enum(Living)


@with_object
@strawberry.type
class Location:
    latitude: float
    longitude: float
    confidence: str


@with_object
@strawberry.type
class Contact:
    name: str
    relation: str
    phone: str
    is_key_person: bool


@with_object
@strawberry.type
class Device:
    kind: str
    battery_hours: float | None


@with_object
@strawberry.type
class RiskProfile:
    row: strawberry.Private[RiskRow]

    @strawberry.field
    def care_level(self) -> CareLevel:
        return CareLevel(self.row.care_level)

    @strawberry.field
    def mobility(self) -> Mobility:
        return Mobility(self.row.mobility)

    @strawberry.field
    def living(self) -> Living:
        return Living(self.row.living)

    @strawberry.field
    def dementia(self) -> bool:
        return self.row.dementia

    @strawberry.field
    def sensory_impairment(self) -> bool:
        return self.row.sensory_impairment

    @strawberry.field
    def devices(self) -> list[Device]:
        return [
            Device(kind=d["kind"], battery_hours=d.get("battery_hours")) for d in self.row.devices
        ]

    @strawberry.field
    def floor(self) -> int:
        return self.row.floor

    @strawberry.field
    def landslide_zone(self) -> str:
        return self.row.landslide_zone

    @strawberry.field
    def flood_depth_m(self) -> float:
        return self.row.flood_depth_m

    @strawberry.field
    def tsunami_zone(self) -> bool:
        return self.row.tsunami_zone

    @strawberry.field
    def air_conditioning(self) -> bool:
        return self.row.air_conditioning

    @strawberry.field
    def supporter(self) -> str:
        return self.row.supporter


@with_object
@strawberry.type
class TeamMember:
    role: TeamRole
    since: datetime
    until: datetime | None
    user: User


@with_object
@strawberry.type
class CareTeam:
    patient_id: strawberry.Private[int]

    @property
    def patient_pk(self) -> int:
        return self.patient_id

    @strawberry.field(extensions=[Requires(Obj.TEAM)])
    async def members(self, info: Info) -> list[TeamMember]:
        async with info.context.runtime.db.session() as session:
            rows = await service.list_team(session, self.patient_id)
        return [
            TeamMember(role=TeamRole(m.role), since=m.starts_at, until=m.ends_at, user=User(row=u))
            for m, u in rows
        ]


@with_object
@strawberry.type
class ConsentState:
    kind: str
    granted: bool
    recorded_at: datetime


@with_object
@strawberry.type
class ConsentRecord:
    kind: str
    granted: bool
    note: str
    recorded_at: datetime
    recorded_by: User | None


def _unread(counts: Unread) -> int:
    return counts.unread


def _urgent(counts: Unread) -> int:
    return counts.urgent


@with_object
@strawberry.type
class Patient:
    row: strawberry.Private[PatientRow]

    @property
    def pk(self) -> int:
        assert self.row.id is not None
        return self.row.id

    @property
    def patient_pk(self) -> int:
        return self.pk

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Patient", self.pk))

    @strawberry.field
    def display_name(self) -> str:
        return self.row.display_name

    @strawberry.field
    def kana(self) -> str:
        return self.row.kana

    @strawberry.field
    def municipality_code(self) -> str:
        return self.row.municipality_code

    @strawberry.field(extensions=[Requires(Obj.PATIENT)])
    async def birth_date(self) -> date | None:
        return self.row.birth_date

    @strawberry.field
    def sex(self) -> str:
        return self.row.sex

    @strawberry.field
    def address(self) -> str:
        return self.row.address

    @strawberry.field
    def location(self) -> Location:
        return Location(
            latitude=self.row.latitude,
            longitude=self.row.longitude,
            confidence=self.row.location_confidence,
        )

    @strawberry.field(extensions=[Requires(Obj.PATIENT_CONTACTS)])
    async def phone(self) -> str | None:
        return self.row.phone

    @strawberry.field(extensions=[Requires(Obj.PATIENT_CONTACTS)])
    async def contacts(self, info: Info) -> list[Contact] | None:
        async with info.context.runtime.db.session() as session:
            rows = await service.list_contacts(session, self.pk)
        return [
            Contact(name=c.name, relation=c.relation, phone=c.phone, is_key_person=c.is_key_person)
            for c in rows
        ]

    @strawberry.field(extensions=[Requires(Obj.PATIENT_RISK)])
    async def risk(self, info: Info) -> RiskProfile | None:
        async with info.context.runtime.db.session() as session:
            row = await service.get_risk(session, self.pk)
        return RiskProfile(row=row) if row else None

    @strawberry.field(extensions=[Requires(Obj.CONSENT)])
    async def consents(self, info: Info) -> list[ConsentState] | None:
        async with info.context.runtime.db.session() as session:
            latest = await service.current_consents(session, self.pk)
        return [
            ConsentState(kind=c.kind, granted=c.granted, recorded_at=c.recorded_at)
            for c in latest.values()
        ]

    @strawberry.field(
        description="Every consent decision, newest first, with who recorded it.",
        extensions=[Requires(Obj.CONSENT)],
    )
    async def consent_history(self, info: Info) -> list[ConsentRecord] | None:
        async with info.context.runtime.db.session() as session:
            rows = await service.list_consent_history(session, self.pk)
        return [
            ConsentRecord(
                kind=c.kind,
                granted=c.granted,
                note=c.note,
                recorded_at=c.recorded_at,
                recorded_by=User(row=u) if u else None,
            )
            for c, u in rows
        ]

    @strawberry.field
    def last_visit_at(self) -> datetime | None:
        return self.row.last_visit_at

    @strawberry.field(
        description="Your roles on the patient's record.",
        extensions=[CheckedBy("access.gate.Gate.roles", asks=None)],
    )
    def my_roles(self, info: Info) -> list[str]:
        gate = info.context.gate
        roles = gate.roles_now(self.pk)
        if roles is not None:
            return sorted(roles)

        async def later() -> list[str]:
            return sorted(await gate.roles(self.pk))

        # A coroutine, which graphql-core awaits (see load_now_or_later).
        return cast("list[str]", later())

    @strawberry.field(
        description="The care team: null with FORBIDDEN for those who may see the patient but "
        "not the team (planners).",
        extensions=[Requires(Obj.TEAM)],
    )
    async def care_team(self) -> CareTeam | None:
        return CareTeam(patient_id=self.pk)

    @strawberry.field(
        description="The notebook, newest first: null with FORBIDDEN for those who may see the "
        "patient but not the notebook (team managers, planners).",
        extensions=[CheckedBy("access.notebook.timeline_scope", asks=())],
    )
    async def timeline(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> PostConnection | None:
        return await feed_graphql.timeline(info, patient_id=self.pk, first=first, after=after)

    @strawberry.field(
        description="Posts you have not read yet: null with FORBIDDEN, like the timeline.",
        extensions=[PerViewer(), CheckedBy("access.notebook.timeline_scope", asks=())],
    )
    def unread_count(self, info: Info) -> int | None:
        # Possibly a coroutine, which graphql-core awaits (see load_now_or_later).
        return cast("int | None", lists_graphql.unread_now_or_later(info, self.pk, _unread))

    @strawberry.field(
        description="Urgent (至急) posts you have not read yet.",
        extensions=[PerViewer(), CheckedBy("access.notebook.timeline_scope", asks=())],
    )
    def urgent_unread_count(self, info: Info) -> int | None:
        return cast("int | None", lists_graphql.unread_now_or_later(info, self.pk, _urgent))

    @strawberry.field(
        description="Who read or changed this record, newest first (coordinators).",
        extensions=[Requires(Obj.PATIENT_AUDIT)],
    )
    async def access_history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> AccessConnection | None:
        return await audit_graphql.access_history(
            info, patient_id=self.pk, first=first, after=after
        )


@strawberry.type
class PatientEdge:
    cursor: str
    node: Patient


@strawberry.type
class PatientConnection:
    edges: list[PatientEdge]
    page_info: PageInfo


@strawberry.type
class Query:
    @strawberry.field(description="The patients the signed-in user may see.")
    async def patients(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
    ) -> PatientConnection:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            page = await service.list_patients(
                session, actor=actor, first=first, after=after, search=search
            )
        await info.context.gate.touched(
            [p.id for p, _ in page.items if p.id is not None], action="patients.list"
        )
        edges = [PatientEdge(cursor=c, node=Patient(row=p)) for p, c in page.items]
        end = edges[-1].cursor if edges else None
        return PatientConnection(
            edges=edges, page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=end)
        )

    @strawberry.field(description="One patient, if the signed-in user may see it.")
    async def patient(self, info: Info, id: strawberry.ID) -> Patient | None:
        info.context.require_actor()
        patient_id = decode_id("Patient", id)
        async with info.context.runtime.db.session() as session:
            row = await service.access_patient(
                session, gate=info.context.gate, patient_id=patient_id
            )
        return Patient(row=row)
