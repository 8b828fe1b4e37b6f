"""GraphQL for an incident's priority list: `priorityList(incidentId, first, after)`.

The list is decided in overlay/priority.py; each entry's fields declare what they read of the
person's record (policies/roles.csv), so the gate records every read at the request's grain.
"""

from __future__ import annotations

import json
from enum import Enum

import strawberry

from renraku.access.fields import Requires, with_object
from renraku.access.vocabulary import Obj
from renraku.context import Info
from renraku.ids import decode_id
from renraku.overlay.models import Incident as IncidentRow
from renraku.overlay.priority import Entry, access_priority_list
from renraku.overlay.safety import overdue
from renraku.overlay.safety_graphql import SafetyCheck, unset
from renraku.page_info import PageInfo
from renraku.paging import decode_cursor, encode_cursor, page_size
from renraku.teams.graphql import Location, Patient
from renraku.teams.models import Patient as PatientRow

# The cursor is the entry's rank and its patient's id: a list that changed between two pages
# goes on after the last entry shown, instead of repeating or skipping by position.
_CURSOR_TYPES = (float, float, float, float, int)


@strawberry.enum
class PriorityTier(Enum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    RESOLVED = "resolved"


@with_object
@strawberry.type
class PriorityReason:
    factor: str = strawberry.field(description="A stable key: device.oxygen, living.alone, ...")
    points: int = strawberry.field(description="Vulnerability points it adds (0 for factors).")
    text: str = strawberry.field(description="The reason in English, for logs and as a fallback.")
    source: str = strawberry.field(description="The id of the record it comes from.")
    params: str = strawberry.field(description="Its parameters (hours, days, level) as JSON.")


@strawberry.type(description="The person to reach: a patient (or, to come, a register entry).")
class PriorityPerson:
    row: strawberry.Private[PatientRow]

    @property
    def patient_pk(self) -> int:
        assert self.row.id is not None
        return self.row.id

    @strawberry.field(extensions=[Requires(Obj.PATIENT)])
    def display_name(self) -> str:
        return self.row.display_name

    @strawberry.field(extensions=[Requires(Obj.PATIENT)])
    def kana(self) -> str:
        return self.row.kana

    @strawberry.field(extensions=[Requires(Obj.PATIENT)])
    def address(self) -> str:
        return self.row.address

    @strawberry.field(extensions=[Requires(Obj.PATIENT)])
    def location(self) -> Location:
        return Location(
            latitude=self.row.latitude,
            longitude=self.row.longitude,
            confidence=self.row.location_confidence,
        )

    @strawberry.field(extensions=[Requires(Obj.PATIENT_CONTACTS)])
    def phone(self) -> str:
        return self.row.phone


@strawberry.type
class PriorityEntry:
    entry: strawberry.Private[Entry]
    incident: strawberry.Private[IncidentRow]

    @property
    def incident_pk(self) -> int:
        assert self.incident.id is not None
        return self.incident.id

    @property
    def patient_pk(self) -> int:
        assert self.entry.patient.id is not None
        return self.entry.patient.id

    @strawberry.field(
        description="Always present: whom to contact.", extensions=[Requires(Obj.PATIENT)]
    )
    def person(self) -> PriorityPerson:
        return PriorityPerson(row=self.entry.patient)

    @strawberry.field(
        description="The patient's record; null for a register entry without a care team.",
        extensions=[Requires(Obj.PATIENT)],
    )
    def patient(self) -> Patient | None:
        return Patient(row=self.entry.patient)

    @strawberry.field(extensions=[Requires(Obj.PATIENT_RISK)])
    def tier(self) -> PriorityTier:
        return PriorityTier(self.entry.scored.tier)

    @strawberry.field(
        description="Vulnerability x level/5 x time factor.",
        extensions=[Requires(Obj.PATIENT_RISK)],
    )
    def score(self) -> float:
        return self.entry.scored.score

    @strawberry.field(
        description="Vulnerability points, capped at 100.",
        extensions=[Requires(Obj.PATIENT_RISK)],
    )
    def vulnerability(self) -> int:
        return self.entry.scored.vulnerability

    @strawberry.field(
        description="No visit for longer than the policy's days.",
        extensions=[Requires(Obj.PATIENT_RISK)],
    )
    def stale(self) -> bool:
        return self.entry.scored.stale

    @strawberry.field(
        description="Where the person's safety check stands, and who is to make the call.",
        extensions=[Requires(Obj.SAFETY)],
    )
    async def safety(self, info: Info) -> SafetyCheck:
        found = await info.context.loaders.safety.load((self.incident_pk, self.patient_pk))
        return SafetyCheck(row=found) if found else unset(self.incident_pk, self.patient_pk)

    @strawberry.field(
        description="P1 and nobody has set a status past the configured time.",
        extensions=[Requires(Obj.SAFETY)],
    )
    async def overdue(self, info: Info) -> bool:
        found = await info.context.loaders.safety.load((self.incident_pk, self.patient_pk))
        return overdue(
            found,
            tier=self.entry.scored.tier,
            started=self.incident.starts_at,
            minutes=info.context.runtime.settings.safety_p1_minutes,
        )

    @strawberry.field(
        description="One line per factor, in the order the planner reads them.",
        extensions=[Requires(Obj.PATIENT_RISK)],
    )
    def reasons(self) -> list[PriorityReason]:
        return [
            PriorityReason(
                factor=r.factor,
                points=r.points,
                text=r.text,
                source=r.source,
                params=json.dumps(dict(r.params), ensure_ascii=False, default=str),
            )
            for r in self.entry.scored.reasons
        ]


@strawberry.type
class PriorityEdge:
    cursor: str
    node: PriorityEntry


@strawberry.type
class PriorityConnection:
    edges: list[PriorityEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Everyone on the list, all pages.")
    tier_counts: list[int] = strawberry.field(description="How many in P1, P2, P3, resolved.")


def _key(entry: Entry) -> list[float | int]:
    return [*(float(v) for v in entry.rank), entry.patient.id or 0]


@strawberry.type
class Query:
    @strawberry.field(
        description="An incident in force: everyone inside it to contact, highest priority first."
    )
    async def priority_list(
        self,
        info: Info,
        incident_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> PriorityConnection:
        actor = info.context.require_actor()
        size = page_size(first)
        start = decode_cursor(after, types=_CURSOR_TYPES)
        async with info.context.runtime.db.session() as session:
            incident, ranking = await access_priority_list(
                session, actor=actor, incident_id=decode_id("Incident", incident_id)
            )
            page, more = await ranking.page(session, after=start, size=size)
        await info.context.gate.touched(
            [e.patient.id for e in page if e.patient.id is not None], action="incident.priority"
        )
        edges = [
            PriorityEdge(
                cursor=encode_cursor(_key(e)), node=PriorityEntry(entry=e, incident=incident)
            )
            for e in page
        ]
        return PriorityConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
            total_count=ranking.total,
            tier_counts=ranking.tier_counts,
        )
