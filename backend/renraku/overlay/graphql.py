"""GraphQL for emergencies and aggregate counts: `declareEmergency`, `endEmergency`,
`emergencies`, `patientCounts`. Decisions and validation live in overlay/declarations.py and
overlay/counts.py."""

from __future__ import annotations

import json
from datetime import datetime

import strawberry

from renraku.context import Info
from renraku.ids import decode_id, encode_id
from renraku.overlay import counts, declarations
from renraku.overlay.counts import CountDimension
from renraku.overlay.models import Emergency as EmergencyRow
from renraku.timeutil import utcnow

strawberry.enum(CountDimension)


@strawberry.type
class Emergency:
    row: strawberry.Private[EmergencyRow]
    inside: strawberry.Private[int]

    @strawberry.field
    def id(self) -> strawberry.ID:
        assert self.row.id is not None
        return strawberry.ID(encode_id("Emergency", self.row.id))

    @strawberry.field
    def municipality_code(self) -> str:
        return self.row.municipality_code

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field(
        description="GeoJSON geometry of the area; null means the whole municipality."
    )
    def area(self) -> str | None:
        return json.dumps(self.row.area, ensure_ascii=False) if self.row.area else None

    @strawberry.field
    def starts_at(self) -> datetime:
        return self.row.starts_at

    @strawberry.field
    def ends_at(self) -> datetime:
        return self.row.ends_at

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return self.row.ended_at

    @strawberry.field
    def active(self) -> bool:
        now = utcnow()
        return self.row.ended_at is None and self.row.starts_at <= now < self.row.ends_at

    @strawberry.field(description="How many patients' homes lie inside the area.")
    def patient_count(self) -> int:
        return self.inside


@strawberry.input
class DeclareEmergencyInput:
    area: str | None = strawberry.field(
        default=None,
        description="A GeoJSON Polygon or MultiPolygon ([longitude, latitude]), as text; "
        "omitted means the whole municipality.",
    )
    reason: str
    ends_at: datetime


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
        description="True when small counts are hidden (outside an active emergency)."
    )


async def _with_count(info: Info, row: EmergencyRow) -> Emergency:
    assert row.id is not None
    async with info.context.runtime.db.session() as session:
        found = await declarations.count_inside(session, [row.id])
    return Emergency(row=row, inside=found.get(row.id, 0))


@strawberry.type
class Query:
    @strawberry.field(description="Your municipality's emergencies, newest first.")
    async def emergencies(self, info: Info, active: bool | None = None) -> list[Emergency]:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            rows = await declarations.list_emergencies_for(session, actor=actor, active=active)
            inside = await declarations.count_inside(session, [r.id for r in rows if r.id])
        return [Emergency(row=r, inside=inside.get(r.id or 0, 0)) for r in rows]

    @strawberry.field(description="Your municipality's patients counted by two dimensions.")
    async def patient_counts(
        self,
        info: Info,
        rows: CountDimension,
        columns: CountDimension,
        emergency_id: strawberry.ID | None = None,
    ) -> CountTable:
        actor = info.context.require_actor()
        counts.require_counts(actor)
        emergency = decode_id("Emergency", emergency_id) if emergency_id is not None else None
        async with info.context.runtime.db.session() as session:
            table = await counts.access_counts(
                session, actor=actor, rows=rows, columns=columns, emergency_id=emergency
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
    @strawberry.mutation(description="Declare an emergency in your municipality.")
    async def declare_emergency(self, info: Info, input: DeclareEmergencyInput) -> Emergency:
        row = await declarations.check_declare_emergency(
            info.context.runtime,
            actor=info.context.require_actor(),
            area=input.area,
            reason=input.reason,
            ends_at=input.ends_at,
        )
        return await _with_count(info, row)

    @strawberry.mutation(description="End an active emergency of your municipality now.")
    async def end_emergency(self, info: Info, id: strawberry.ID) -> Emergency:
        actor = info.context.require_actor()
        row = await declarations.check_end_emergency(
            info.context.runtime, actor=actor, emergency_id=decode_id("Emergency", id)
        )
        return await _with_count(info, row)
