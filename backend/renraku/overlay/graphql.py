"""GraphQL for incidents and aggregate counts: `declareIncident`, `endIncident`,
`incidents`, `patientCounts`. Decisions and validation live in overlay/declarations.py and
overlay/counts.py."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum

import strawberry

from renraku.context import Info
from renraku.geo import boundaries
from renraku.ids import decode_id, encode_id
from renraku.overlay import counts, declarations
from renraku.overlay.areas import to_geojson
from renraku.overlay.counts import CountDimension
from renraku.overlay.incidents import TRIGGER_LEVEL
from renraku.overlay.models import ALERT, DECLARED, is_open
from renraku.overlay.models import Incident as IncidentRow

strawberry.enum(CountDimension)


@strawberry.enum
class IncidentOrigin(Enum):
    DECLARED = DECLARED
    ALERT = ALERT


@strawberry.type
class Incident:
    row: strawberry.Private[IncidentRow]
    inside: strawberry.Private[int]

    @strawberry.field
    def id(self) -> strawberry.ID:
        assert self.row.id is not None
        return strawberry.ID(encode_id("Incident", self.row.id))

    @strawberry.field
    def municipality_code(self) -> str:
        return self.row.municipality_code

    @strawberry.field(
        description="The declaration's reason, or the headline of the alert that started it."
    )
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field(description="What started it: DECLARED (by hand) or ALERT.")
    def origin(self) -> IncidentOrigin:
        return IncidentOrigin(self.row.origin)

    @strawberry.field(description="True when a planner or manager declared it (alerts may join).")
    def declared(self) -> bool:
        return self.row.declared

    @strawberry.field(description="The warning level, 1 to 5 (警戒レベル); 3 is the trigger.")
    def level(self) -> int:
        return self.row.level

    @strawberry.field(
        description="Opened by an untrusted source's alert: names stay hidden until confirmed."
    )
    def pending(self) -> bool:
        return self.row.pending

    @strawberry.field(description="A drill: works fully, kept out of real incidents' reports.")
    def drill(self) -> bool:
        return self.row.drill

    @strawberry.field(
        description="GeoJSON geometry of the area; null means the whole municipality."
    )
    def area(self) -> str | None:
        return json.dumps(self.row.area, ensure_ascii=False) if self.row.area else None

    @strawberry.field(description="GeoJSON geometry of the municipality's boundary (open data).")
    def municipality_outline(self) -> str | None:
        outline = boundaries().get(self.row.municipality_code)
        return json.dumps(to_geojson(outline)) if outline is not None else None

    @strawberry.field
    def starts_at(self) -> datetime:
        return self.row.starts_at

    @strawberry.field
    def ends_at(self) -> datetime:
        return self.row.ends_at

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return self.row.ended_at

    @strawberry.field(
        description="Open (not ended, not past its end); a pending one unlocks nothing."
    )
    def active(self) -> bool:
        return is_open(self.row)

    @strawberry.field(description="How many patients' homes lie inside the area.")
    def patient_count(self) -> int:
        return self.inside


@strawberry.input
class DeclareIncidentInput:
    area: str | None = strawberry.field(
        default=None,
        description="A GeoJSON Polygon or MultiPolygon ([longitude, latitude]), as text; "
        "omitted means the whole municipality.",
    )
    reason: str
    ends_at: datetime
    level: int = strawberry.field(default=TRIGGER_LEVEL, description="1 to 5; 3 unless given.")
    drill: bool = strawberry.field(
        default=False, description="A drill: works fully, labelled, kept out of real reports."
    )


@strawberry.type
class CountTable:
    rows: list[str]
    columns: list[str]
    cells: list[list[int | None]] = strawberry.field(
        description="cells[row][column]; null where a small count is suppressed."
    )
    row_totals: list[int | None]
    column_totals: list[int | None]
    total: int | None
    suppressed: bool = strawberry.field(
        description="True when small counts are hidden (outside an active incident)."
    )


async def _with_count(info: Info, row: IncidentRow) -> Incident:
    assert row.id is not None
    async with info.context.runtime.db.session() as session:
        found = await declarations.count_inside(session, [row.id])
    return Incident(row=row, inside=found.get(row.id, 0))


@strawberry.type
class Query:
    @strawberry.field(description="Your municipality's incidents, newest first.")
    async def incidents(self, info: Info, active: bool | None = None) -> list[Incident]:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            rows = await declarations.list_incidents_for(session, actor=actor, active=active)
            inside = await declarations.count_inside(session, [r.id for r in rows if r.id])
        return [Incident(row=r, inside=inside.get(r.id or 0, 0)) for r in rows]

    @strawberry.field(description="Your municipality's patients counted by two dimensions.")
    async def patient_counts(
        self,
        info: Info,
        rows: CountDimension,
        columns: CountDimension,
        incident_id: strawberry.ID | None = None,
    ) -> CountTable:
        actor = info.context.require_actor()
        counts.require_counts(actor)
        incident = decode_id("Incident", incident_id) if incident_id is not None else None
        async with info.context.runtime.db.session() as session:
            table = await counts.access_counts(
                session, actor=actor, rows=rows, columns=columns, incident_id=incident
            )
        return CountTable(
            rows=list(table.rows),
            columns=list(table.columns),
            cells=[list(r) for r in table.cells],
            row_totals=list(table.row_totals),
            column_totals=list(table.column_totals),
            total=table.total,
            suppressed=table.suppressed,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Declare an incident in your municipality.")
    async def declare_incident(self, info: Info, input: DeclareIncidentInput) -> Incident:
        row = await declarations.check_declare_incident(
            info.context.runtime,
            actor=info.context.require_actor(),
            area=input.area,
            reason=input.reason,
            ends_at=input.ends_at,
            level=input.level,
            drill=input.drill,
        )
        return await _with_count(info, row)

    @strawberry.mutation(description="End an active incident of your municipality now.")
    async def end_incident(self, info: Info, id: strawberry.ID) -> Incident:
        actor = info.context.require_actor()
        row = await declarations.check_end_incident(
            info.context.runtime, actor=actor, incident_id=decode_id("Incident", id)
        )
        return await _with_count(info, row)

    @strawberry.mutation(
        description="Confirm a pending incident (opened by an untrusted source's alert)."
    )
    async def confirm_incident(self, info: Info, id: strawberry.ID) -> Incident:
        actor = info.context.require_actor()
        row = await declarations.check_confirm_incident(
            info.context.runtime, actor=actor, incident_id=decode_id("Incident", id)
        )
        return await _with_count(info, row)
