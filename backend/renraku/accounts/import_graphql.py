"""GraphQL for importing staff: `importStaff`, for a municipality's team manager."""

from __future__ import annotations

import strawberry

from renraku.accounts import staff_import
from renraku.accounts.staff_csv import RowStatus
from renraku.context import Info

StaffImportStatus = strawberry.enum(RowStatus, name="StaffImportStatus")


@strawberry.type
class StaffImportRow:
    line: int
    status: RowStatus
    username: str
    column: str | None = strawberry.field(description="The CSV column a rejection is about.")
    reason: str
    setup_link: str | None = strawberry.field(
        description="For a new user: the one-time link to set a password. Hand it over privately."
    )


@strawberry.type
class StaffImportReport:
    created: int
    updated: int
    unchanged: int
    rejected: int
    rows: list[StaffImportRow]


@strawberry.type
class Mutation:
    # strawberry types the decorator with arguments loosely; the resolver itself is typed.
    @strawberry.mutation(
        description="Create or update the professionals of the manager's municipality from CSV."
    )
    async def import_staff(self, info: Info, csv: str) -> StaffImportReport:
        actor = info.context.require_actor()
        report = await staff_import.check_import_staff(
            info.context.runtime,
            actor=actor,
            municipality_code=actor.municipality_code or "",
            data=csv,
        )
        return StaffImportReport(
            created=report.count(RowStatus.CREATED),
            updated=report.count(RowStatus.UPDATED),
            unchanged=report.count(RowStatus.UNCHANGED),
            rejected=report.count(RowStatus.REJECTED),
            rows=[
                StaffImportRow(
                    line=row.line,
                    status=row.status,
                    username=row.username,
                    column=row.column,
                    reason=row.reason,
                    setup_link=row.setup_link,
                )
                for row in report.rows
            ],
        )
