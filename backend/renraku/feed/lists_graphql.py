"""GraphQL reads of the notebook: one post, my feed, search, unread counts, overdue instructions;
and the per-request batch behind `Patient.unreadCount`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import strawberry

from renraku.access.notebook import timeline_scope, timeline_scope_now
from renraku.context import Info
from renraku.feed import lists, receipts, service, urgent
from renraku.feed.graphql import Post, PostConnection, connection, live_patient
from renraku.feed.receipts import Unread
from renraku.ids import decode_id
from renraku.loaders import load_now_or_later

if TYPE_CHECKING:
    from renraku.teams.graphql import Patient


def unread_now_or_later(
    info: Info, patient_id: int, then: Callable[[Unread], int]
) -> int | Awaitable[int]:
    """`then` of the viewer's unread counts on the patient: at once when their roles and counts
    are loaded (the live feed reads them with each batch), else a coroutine (see
    load_now_or_later) that decides and loads as `unread_of` does."""
    gate = info.context.gate
    scope = timeline_scope_now(gate, patient_id)
    if scope is None:

        async def later() -> int:
            return then(await unread_of(info, patient_id))

        return later()
    key = (gate.actor.user_id, patient_id, scope)
    return load_now_or_later(info.context.loaders.unread, key, then)


async def unread_of(info: Info, patient_id: int) -> Unread:
    """Patient.unreadCount and urgentUnreadCount: FORBIDDEN like the timeline, for those who
    may see the patient but not its notebook. Batched: a page of patients costs one query."""
    gate = info.context.gate
    scope = await timeline_scope(gate, patient_id)
    return await info.context.loaders.unread.load((gate.actor.user_id, patient_id, scope))


@strawberry.type
class PatientUnread:
    patient_id: strawberry.Private[int]
    unread: int
    urgent_unread: int

    @strawberry.field
    async def patient(
        self, info: Info
    ) -> Annotated[Patient, strawberry.lazy("renraku.teams.graphql")] | None:
        return live_patient(await info.context.loaders.patients.load(self.patient_id))


@strawberry.type(description="Unread posts over your care-team patients.")
class UnreadSummary:
    total: int
    urgent: int
    patients: list[PatientUnread] = strawberry.field(
        description="The patients with unread posts, by id."
    )


@strawberry.type
class Query:
    @strawberry.field(description="One post, if the signed-in user may read it.")
    async def post(self, info: Info, id: strawberry.ID) -> Post | None:
        info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            row, _ = await service.access_post(
                session, gate=info.context.gate, post_id=decode_id("Post", id)
            )
        return Post(row=row)

    @strawberry.field(description="Posts of all your care-team patients, newest first.")
    async def my_feed(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        urgent_only: bool = False,
    ) -> PostConnection:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            page = await lists.my_feed_page(
                session, actor=actor, first=first, after=after, urgent_only=urgent_only
            )
        await info.context.gate.touched([p.patient_id for p, _ in page.items], action="feed.list")
        return connection(page.items, page.has_next_page)

    @strawberry.field(
        description="Posts holding `query` (1-100 characters), within the patients whose "
        "notebook you read, or within one of them; newest first."
    )
    async def search_posts(
        self,
        info: Info,
        query: str,
        patient_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> PostConnection:
        info.context.require_actor()
        pid = decode_id("Patient", patient_id) if patient_id is not None else None
        async with info.context.runtime.db.session() as session:
            page = await lists.search_page(
                session,
                gate=info.context.gate,
                text=query,
                patient_id=pid,
                first=first,
                after=after,
            )
        await info.context.gate.touched([p.patient_id for p, _ in page.items], action="feed.search")
        return connection(page.items, page.has_next_page)

    @strawberry.field(description="Your instructions still awaiting acknowledgement, overdue.")
    async def my_overdue_instructions(self, info: Info) -> list[Post]:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            rows = await urgent.list_overdue_instructions(
                session, actor=actor, cutoff=urgent.overdue_cutoff(info.context.runtime)
            )
        await info.context.gate.touched([p.patient_id for p in rows], action="feed.overdue")
        return [Post(row=r) for r in rows]

    @strawberry.field(description="Your unread posts, in total and per care-team patient.")
    async def unread_counts(self, info: Info) -> UnreadSummary:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            readable = await lists.care_team_patients(session, actor=actor)
            counts = await receipts.unread_counts(
                session, user_id=actor.user_id, full=readable.full, family=readable.family
            )
        listed = sorted(pid for pid, c in counts.items() if c.unread)
        await info.context.gate.touched(listed, action="feed.unread")
        return UnreadSummary(
            total=sum(c.unread for c in counts.values()),
            urgent=sum(c.urgent for c in counts.values()),
            patients=[
                PatientUnread(
                    patient_id=pid, unread=counts[pid].unread, urgent_unread=counts[pid].urgent
                )
                for pid in listed
            ],
        )
