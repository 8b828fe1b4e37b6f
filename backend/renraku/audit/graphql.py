"""GraphQL for the audit log: `Patient.accessHistory` and `accessReport`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from renraku.access.fields import with_object
from renraku.accounts.models import User as UserRow
from renraku.audit import history
from renraku.context import Info
from renraku.ids import encode_id
from renraku.kinds import Profession, UserKind


@with_object
@strawberry.type(description="Who acted: only what a reader of the log needs to know of them.")
class AccessActor:
    row: strawberry.Private[UserRow]

    @strawberry.field
    def display_name(self) -> str:
        return self.row.display_name

    @strawberry.field
    def kind(self) -> UserKind:
        return UserKind(self.row.kind)

    @strawberry.field
    def profession(self) -> Profession | None:
        return Profession(self.row.profession) if self.row.profession else None


def _actor(row: UserRow | None) -> AccessActor | None:
    return AccessActor(row=row) if row is not None else None


@with_object
@strawberry.type(description="Why the actor could see the patient.")
class AccessBasis:
    kind: str = strawberry.field(
        description="coordinator, member, family, glass, emergency, consent, manager or none."
    )
    reason: str | None = strawberry.field(description="The stated reason of a glass access.")


@with_object
@strawberry.type
class AccessEntry:
    at: datetime
    actor: AccessActor | None
    action: str
    decision: str
    basis: AccessBasis | None


@with_object
@strawberry.type
class AccessPageInfo:
    has_next_page: bool
    end_cursor: str | None


@with_object
@strawberry.type
class AccessEdge:
    cursor: str
    node: AccessEntry


@with_object
@strawberry.type
class AccessConnection:
    edges: list[AccessEdge]
    page_info: AccessPageInfo


async def access_history(
    info: Info, *, patient_id: int, first: int | None, after: str | None
) -> AccessConnection:
    """The resolver behind `Patient.accessHistory` (teams/graphql.py)."""
    async with info.context.runtime.db.session() as session:
        page = await history.access_history(
            session, gate=info.context.gate, patient_id=patient_id, first=first, after=after
        )
    edges = [
        AccessEdge(
            cursor=cursor,
            node=AccessEntry(
                at=e.record.at,
                actor=_actor(e.actor),
                action=e.record.action,
                decision=e.record.decision,
                basis=AccessBasis(kind=e.basis.kind, reason=e.basis.reason) if e.basis else None,
            ),
        )
        for e, cursor in page.items
    ]
    end = edges[-1].cursor if edges else None
    return AccessConnection(
        edges=edges, page_info=AccessPageInfo(has_next_page=page.has_next_page, end_cursor=end)
    )


@strawberry.type
class AccessCount:
    kind: str = strawberry.field(description="read or write.")
    decision: str = strawberry.field(description="allow or deny.")
    actor_kind: str
    basis: str | None = strawberry.field(description="For reads: the basis of access.")
    records: int
    patients: int = strawberry.field(description="Patients touched, summed over the records.")


@strawberry.type
class GlassOpening:
    at: datetime
    actor: AccessActor | None
    patient_id: strawberry.ID
    reason: str


@strawberry.type
class AccessReport:
    municipality_code: str
    since: datetime
    until: datetime
    counts: list[AccessCount]
    glass_openings: list[GlassOpening]


@strawberry.type
class Query:
    @strawberry.field(
        description="Reads and writes of your municipality's patients, and every break-the-glass "
        "opening, between `since` and `until` (default now). Municipality managers only."
    )
    async def access_report(
        self, info: Info, since: datetime, until: datetime | None = None
    ) -> AccessReport:
        info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            report = await history.access_report(
                session, gate=info.context.gate, since=since, until=until
            )
        return AccessReport(
            municipality_code=report.municipality_code,
            since=report.since,
            until=report.until,
            counts=[
                AccessCount(
                    kind=c.kind,
                    decision=c.decision,
                    actor_kind=c.actor_kind,
                    basis=c.basis,
                    records=c.records,
                    patients=c.patients,
                )
                for c in report.counts
            ],
            glass_openings=[
                GlassOpening(
                    at=g.at,
                    actor=_actor(g.actor),
                    patient_id=strawberry.ID(encode_id("Patient", g.patient_id)),
                    reason=g.reason,
                )
                for g in report.glass_openings
            ],
        )
